// The global order for a replay, a batch at a time. With the store's `events` table (PostgreSQL):
// one statement per batch, in the store's own order and behind the horizon of running
// transactions (see the PostgreSQL adapter), but without the probe for held-back events that
// readAll adds for subscribers: while a reader is far behind, that probe's plan can scan the
// whole table on every call; and without the metadata, which no projection reads (ProjectedEvent).
// Any other store: the port's readAll.
import { sql } from 'slonik';
import type { EventStore, Position } from '../../eventstore/eventStore';
import { START_POSITION } from '../../eventstore/position';
import type { ProjectedEvent } from '../projection';

export type ReadGlobalOrder = (from: Position | undefined, limit: number) => Promise<ProjectedEvent[]>;

interface EventRow {
  event_id: string;
  stream_id: string;
  stream_position: number;
  commit_position: string;
  global_position: number;
  type: string;
  data: unknown;
  created_at: Date;
}

export function globalOrderOf(store: EventStore): ReadGlobalOrder {
  const table = store.eventsTable;
  if (!table) return (from, limit) => store.readAll({ from, limit });
  return async (from = START_POSITION, limit) => {
    // Untyped on purpose: a schema check per row would cost more than the rest of the read.
    const rows = (await table.pool.any(sql.unsafe`
      WITH horizon AS MATERIALIZED (SELECT events_horizon() AS xmin)
      SELECT event_id::text, stream_id, stream_position, transaction_id::text AS commit_position, global_position,
             type, data, created_at
      FROM events
      WHERE (transaction_id, global_position) > (${from.commit.toString()}::xid8, ${from.prepare.toString()}::int8)
        AND transaction_id < (SELECT xmin FROM horizon)
      ORDER BY transaction_id, global_position
      LIMIT ${limit}`)) as unknown as readonly EventRow[];
    return rows.map((row) => ({
      id: row.event_id,
      stream: row.stream_id,
      revision: row.stream_position,
      position: { commit: BigInt(row.commit_position), prepare: BigInt(row.global_position) },
      type: row.type,
      data: row.data,
      recordedAt: row.created_at,
    }));
  };
}
