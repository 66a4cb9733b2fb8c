// Works off the outbox the read model fills when a segment is deleted: each member's removal is
// appended to that member's stream with reason `segment_deleted`, at the moment of deletion, and
// the projector takes the row out of the outbox when it applies that removal.
// Members who joined in a race with the deletion arrive here too, so nobody stays in a deleted segment.
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { withTryAdvisoryLock } from '../platform/database';
import type { UserCommand } from '../domain/decideUser';
import type { UserCommands } from '../commands/userCommands';
import type { RunnerLogger } from '../projections/runner';

const outboxRow = z.object({ user_id: z.number(), segment_id: z.string(), slug: z.string(), deleted_at: z.date() });

export interface SegmentDeletionSweep {
  /** Ask for a sweep soon (after a batch that may have filled the outbox). */
  wake(): void;
  /**
   * Appends the removal of every member in the outbox; returns how many it appended. The rows leave
   * the outbox as the projector applies those removals.
   */
  sweepNow(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createSegmentDeletionSweep(deps: {
  pool: DatabasePool;
  userCommands: UserCommands;
  logger: RunnerLogger;
  batchSize?: number;
  intervalMs?: number;
}): SegmentDeletionSweep {
  const { pool, userCommands, logger } = deps;
  const batchSize = deps.batchSize ?? 1_000;
  const intervalMs = deps.intervalMs ?? 1_000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = true;

  async function sweepBatch(): Promise<number> {
    const rows = await pool.any(sql.type(outboxRow)`
      SELECT user_id, segment_id::text, slug, deleted_at FROM segment_deletion_removals
      ORDER BY deleted_at, user_id LIMIT ${batchSize}`);
    if (rows.length === 0) return 0;
    // One command per user per append: a user in two deleted segments is handled in the next batch.
    const perUser = new Map<number, z.infer<typeof outboxRow>>();
    for (const row of rows) if (!perUser.has(row.user_id)) perUser.set(row.user_id, row);
    const chosen = [...perUser.values()];
    const commands: UserCommand[] = chosen.map((row) => ({
      type: 'RemoveDeletedSegmentMember',
      data: { userId: row.user_id, segmentId: row.segment_id, slug: row.slug, deletedAt: row.deleted_at.toISOString() },
    }));
    const { decisions } = await userCommands.applyToUsers(commands, { actor: 'segment-deletion', source: 'projector' });
    // A row whose removal went to a stream leaves the outbox when the projector applies that removal
    // (readModelProjection.ts), so history shows it all along. A row that needed none goes now,
    // unless its removal is in a stream and not yet in the audit (the audit still ends in an add).
    const idle = chosen.filter((_, index) => decisions[index]!.length === 0);
    if (idle.length > 0) {
      await pool.query(sql.unsafe`
        DELETE FROM segment_deletion_removals r
        USING ${sql.unnest(idle.map((row) => [row.user_id, row.segment_id]), ['int8', 'uuid'])} AS d(user_id, segment_id)
        WHERE r.user_id = d.user_id AND r.segment_id = d.segment_id
          AND NOT EXISTS (
            SELECT 1 FROM (
              SELECT a.operation FROM membership_audit a
              WHERE a.user_id = r.user_id AND a.segment_id = r.segment_id
              ORDER BY a.at DESC, a.global_position DESC LIMIT 1
            ) last WHERE last.operation = 'added')`);
    }
    // Rows appended for stay until projected: another round now would find only those.
    return chosen.length - idle.length;
  }

  async function sweepAll(): Promise<number> {
    // One sweeper at a time across instances; the appends are idempotent anyway.
    const round = await withTryAdvisoryLock(pool, 'segment-deletion-sweep', async () => {
      let total = 0;
      for (let handled = await sweepBatch(); handled > 0; handled = await sweepBatch()) total += handled;
      return total;
    });
    return round.locked ? round.value : 0;
  }

  function sweepNow(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = sweepAll()
      .catch((error: unknown) => {
        logger.error({ err: error }, 'segment deletion sweep failed; it is retried');
        return 0;
      })
      .finally(() => {
        running = undefined;
        if (again && !stopped) {
          again = false;
          void sweepNow();
        }
      });
    return running;
  }

  return {
    wake: () => {
      if (!stopped) void sweepNow();
    },
    sweepNow,
    start() {
      stopped = false;
      timer = setInterval(() => void sweepNow(), intervalMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
