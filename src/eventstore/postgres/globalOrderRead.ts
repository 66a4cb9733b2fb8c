// One read of the global order behind the horizon of running transactions (docs/architecture.md,
// "Global order without skipped events"), and when to look past other databases' transactions.
import type { Pool } from 'pg';
import type { Position, RecordedEvent } from '../eventStore';
import { START_POSITION } from '../position';
import { toRecorded, type RecordedPgRow } from './eventRows';
import { READ_ALL } from './readStatements';

export interface GlobalOrderRead {
  events: RecordedEvent[];
  /** Committed events wait behind a transaction still running (behind the horizon this read used). */
  heldBack: boolean;
  /** The server-wide horizon (the snapshot's xmin), and whether it alone held committed events back. */
  serverHorizon: string;
  serverHorizonHeldBack: boolean;
}

interface ReadAllRow extends RecordedPgRow {
  held_back: boolean;
  server_held_back: boolean;
  server_horizon: string;
}

/**
 * Up to `limit` events after `from`, of transactions older than every running one that could
 * write to this database; with `lookPastOtherDatabases` false, older than every running one on
 * the server (the same events while no transaction of another database is the oldest; cheaper).
 */
export async function readGlobalOrder(
  statements: Pool,
  options: { from?: Position; limit: number; lookPastOtherDatabases: boolean },
): Promise<GlobalOrderRead> {
  const from = options.from ?? START_POSITION;
  const { rows } = await statements.query<ReadAllRow>({
    ...READ_ALL,
    values: [from.commit.toString(), from.prepare.toString(), options.limit, options.lookPastOtherDatabases],
  });
  const first = rows[0];
  return {
    events: rows.filter((row) => row.event_id !== null).map(toRecorded),
    heldBack: first?.held_back ?? false,
    serverHorizon: first?.server_horizon ?? '',
    serverHorizonHeldBack: first?.server_held_back ?? false,
  };
}

/** How long the server-wide horizon must hold events back, unmoved, before reads look past other databases. */
export const STUCK_HORIZON_MS = 100;

/**
 * Reading pg_stat_activity to place running transactions costs about 0.2 ms a read, and under a
 * write load the oldest running transaction is nearly always one of ours, which it cannot look
 * past anyway. So a reader looks past other databases only once the server-wide horizon has held
 * committed events back without moving for STUCK_HORIZON_MS: a long transaction somewhere.
 */
export class StuckHorizon {
  private horizon: string | undefined;
  private since = 0;

  /** Notes a read; answers whether the next one should look past other databases' transactions. */
  lookPastOtherDatabases(read: GlobalOrderRead, now: number = Date.now()): boolean {
    if (!read.serverHorizonHeldBack) {
      this.horizon = undefined;
      return false;
    }
    if (read.serverHorizon !== this.horizon) {
      this.horizon = read.serverHorizon;
      this.since = now;
    }
    return now - this.since >= STUCK_HORIZON_MS;
  }
}
