// The TTL timer: on each tick it finds memberships that are due in the read model and appends their
// expiry (MembershipRemoved, reason `expired`, effective at the expiry moment) to each user's stream.
// Reads never wait for it: they filter on expires_at. The timer only makes the streams, and so
// history, say what already happened.
import cron, { type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import type { UserCommands } from '../commands/userCommands';
import type { ExpireMemberships } from '../domain/decideUser';
import type { CommandMetadata } from '../events/metadata';
import { DEFAULT_TTL_SWEEP_SCHEDULE } from '../config';
import type { Clock } from '../platform/clock';
import { withTryAdvisoryLock } from '../platform/database';
import { isUnavailable } from '../platform/pgErrors';

export interface TimerLogger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface ExpiryDeps {
  pool: DatabasePool;
  userCommands: UserCommands;
  logger: TimerLogger;
  /** Due memberships read and appended per round. */
  batchSize?: number;
}

export interface ExpiryResult {
  /** Due memberships found in the read model. */
  due: number;
  /** Expiry events appended (fewer than `due` when memberships were removed or renewed meanwhile). */
  expired: number;
  /** Users whose expiry could not be appended this tick; the next tick tries again. */
  failedUsers: number;
}

export type TickResult = ExpiryResult | { skipped: 'busy' | 'locked' };

const dueRow = z.object({ user_id: z.number(), segment_id: z.string(), expires_at: z.date() });
const METADATA: CommandMetadata = { actor: 'ttl-timer', source: 'timer' };

/**
 * Expires every membership due at `now`. Safe to run in several processes at once: each user's
 * expiry is decided from the user's stream and appended with its expected revision, so a second
 * runner finds the membership already gone and appends nothing.
 */
export async function expireDueMemberships(deps: ExpiryDeps, now: Date): Promise<ExpiryResult> {
  const { pool, userCommands, logger } = deps;
  const batchSize = deps.batchSize ?? 1_000;
  const result: ExpiryResult = { due: 0, expired: 0, failedUsers: 0 };
  // Walk the due rows once, in expiry order: rows whose removal is appended stay in the read model
  // until the projector applies it, so re-reading from the start would find them again.
  let after: z.infer<typeof dueRow> | undefined;
  for (;;) {
    const rows = await pool.any(sql.type(dueRow)`
      SELECT user_id, segment_id::text, expires_at FROM memberships
      WHERE expires_at <= ${now.toISOString()}::timestamptz
        ${after ? sql.fragment`AND (expires_at, user_id, segment_id) > (${after.expires_at.toISOString()}::timestamptz, ${after.user_id}, ${after.segment_id}::uuid)` : sql.fragment``}
      ORDER BY expires_at, user_id, segment_id
      LIMIT ${batchSize}`);
    if (rows.length === 0) return result;
    after = rows[rows.length - 1];
    result.due += rows.length;

    const byUser = new Map<number, Array<{ segmentId: string; expiresAt: string }>>();
    for (const row of rows) {
      const due = byUser.get(row.user_id) ?? [];
      due.push({ segmentId: row.segment_id, expiresAt: row.expires_at.toISOString() });
      byUser.set(row.user_id, due);
    }
    const commands: ExpireMemberships[] = [...byUser].map(([userId, due]) => ({ type: 'ExpireMemberships', data: { userId, due } }));
    try {
      // Usually the whole batch commits in one transaction.
      const { decisions } = await userCommands.applyToUsers(commands, METADATA);
      result.expired += decisions.flat().length;
    } catch (error) {
      // Without a database no user can succeed: end the tick rather than fail each user in turn.
      if (isUnavailable(error)) throw error;
      // One user the batch cannot get past must not hold the others back: retry them one by one.
      logger.warn({ err: error, users: commands.length }, 'membership expiry batch failed; expiring its users one by one');
      for (const command of commands) {
        try {
          const { decisions } = await userCommands.applyToUsers([command], METADATA);
          result.expired += decisions.flat().length;
        } catch (userError) {
          if (isUnavailable(userError)) throw userError;
          result.failedUsers++;
          logger.error({ err: userError, userId: command.data.userId }, 'membership expiry failed for this user; the next tick retries');
        }
      }
    }
    if (rows.length < batchSize) return result;
  }
}

export interface MembershipExpiryTimer {
  /** What each scheduled tick does: one pass over the due memberships, unless busy or another instance holds the lock. */
  tick(): Promise<TickResult>;
  start(): void;
  stop(): Promise<void>;
}

/** What the timer records for GET /metrics: how each tick ended. */
export interface TimerMetrics {
  tickEnded(outcome: TickResult | 'failed'): void;
}

export function createMembershipExpiryTimer(
  deps: ExpiryDeps & { clock: Clock; schedule?: string; metrics?: TimerMetrics },
): MembershipExpiryTimer {
  const { pool, logger, clock, metrics } = deps;
  const schedule = deps.schedule ?? DEFAULT_TTL_SWEEP_SCHEDULE;
  let task: ScheduledTask | undefined;
  let running: Promise<TickResult> | undefined;
  // node-cron's own notices (a tick missed while the event loop was busy, one skipped for overlap)
  // go to the service's log instead of the console. A missed tick loses nothing: the next one
  // finds every membership that is due by then.
  const cronLogger: CronLogger = {
    info: (message) => logger.info({ timer: 'membership-expiry' }, message),
    // A tick skipped because the previous one still runs is the design (no overlapping ticks), so
    // it is not worth a warning each second while a large expiry is recorded.
    warn: (message) =>
      String(message).includes('overlap')
        ? logger.debug({ timer: 'membership-expiry' }, message)
        : logger.warn({ timer: 'membership-expiry' }, message),
    error: (message, err) => logger.error({ timer: 'membership-expiry', err: err ?? message }, String(message)),
    debug: () => undefined,
  };

  async function exclusiveTick(): Promise<TickResult> {
    // One instance sweeps at a time; the others skip this tick. Correctness does not rest on the
    // lock (the appends' expected revisions do), it only saves the other instances the work.
    const round = await withTryAdvisoryLock(pool, 'membership-expiry-timer', async () => {
      const result = await expireDueMemberships(deps, clock.now());
      if (result.due > 0) logger.info({ ...result }, 'expired due memberships');
      return result;
    });
    return round.locked ? round.value : { skipped: 'locked' as const };
  }

  function tick(): Promise<TickResult> {
    // A tick that outlasts the interval is not joined by the next one.
    if (running) {
      metrics?.tickEnded({ skipped: 'busy' });
      return Promise.resolve({ skipped: 'busy' });
    }
    running = exclusiveTick()
      .then(
        (result) => {
          metrics?.tickEnded(result);
          return result;
        },
        (error: unknown) => {
          metrics?.tickEnded('failed');
          throw error;
        },
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    tick,
    start() {
      if (task) return;
      task = cron.schedule(
        schedule,
        async () => {
          try {
            await tick();
          } catch (error) {
            logger.error({ err: error }, 'membership expiry tick failed; the next tick retries');
          }
        },
        { name: 'membership-expiry', noOverlap: true, logger: cronLogger },
      );
    },
    async stop() {
      await task?.destroy();
      task = undefined;
      await running?.catch(() => undefined);
    },
  };
}
