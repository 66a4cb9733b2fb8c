// Readiness: whether this process can serve, part by part (GET /health/ready).
import { sql, type DatabasePool } from 'slonik';
import type { EventStore } from '../eventstore/eventStore';
import { isConnectionError } from '../platform/pgErrors';
import type { ReadView } from '../projections/memoryView/readView';
import type { ProjectionRunner } from '../projections/runner';
import { READ_MODEL_PROJECTION } from '../projections/readModel/readModelProjection';
import { systemClock, type Clock } from '../platform/clock';
import { createProjectionStallWatch } from './projectionStall';
import { replicaReadiness, type ReplicaLag } from './replicaLag';

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface ReadinessLogger {
  warn(object: object, message: string): void;
}

export function createReadiness(deps: {
  pool: DatabasePool;
  store: EventStore;
  runner: ProjectionRunner | undefined;
  readView?: ReadView;
  /** In a process that does not apply the projection itself: fail once it has stalled this long (ms). */
  projectionStallMs?: number;
  /** The streaming replica this process reads from, and how far behind it may be before the process is not ready. */
  replica?: { lag: ReplicaLag; limitMs: number };
  clock?: Clock;
  logger: ReadinessLogger;
}): () => Promise<ReadinessCheck[]> {
  const { pool, store, runner, readView, logger, clock = systemClock } = deps;
  const stall = deps.projectionStallMs === undefined
    ? undefined
    : { watch: createProjectionStallWatch({ pool, store, projection: READ_MODEL_PROJECTION, clock }), afterMs: deps.projectionStallMs };
  return async () => {
    const checks: ReadinessCheck[] = [];
    const probe = async (name: string, work: () => Promise<unknown>) => {
      try {
        await work();
        checks.push({ name, ok: true });
      } catch (error) {
        logger.warn({ err: error, check: name }, 'readiness check failed');
        // The reason goes to the log; the answer names the part without internal addresses.
        checks.push({ name, ok: false, detail: isConnectionError(error) ? 'does not answer' : 'failing' });
      }
    };
    await probe('database', () => pool.query(sql.unsafe`SELECT 1`));
    await probe('event store', () => store.ping());
    if (runner) {
      const status = runner.status();
      checks.push({
        name: `projection ${status.projection}`,
        ok: status.state !== 'failing' && status.state !== 'stopped',
        // The error itself is in the log and in GET /projections (admin only).
        detail: status.state === 'failing' ? 'failing' : status.state,
      });
    }
    const activeHere = runner?.status().state === 'live' || runner?.status().state === 'catching_up';
    if (stall && !activeHere) {
      const stalledForMs = await stall.watch.stalledForMs().catch(() => 0); // the database probe reports errors
      const ok = stalledForMs < stall.afterMs;
      checks.push({
        name: 'projection progress',
        ok,
        detail: ok ? undefined : `events pending and the read model not advancing for ${Math.round(stalledForMs / 1000)} s: is a projector running?`,
      });
    }
    if (deps.replica) checks.push(await replicaReadiness(deps.replica.lag, deps.replica.limitMs, logger));
    if (readView) {
      // Not ready while it loads, and until it has reached the read model's position at start.
      const status = readView.status();
      const ok = status.ready && status.state !== 'failing';
      checks.push({ name: 'read view', ok, detail: ok ? `${status.memberships} memberships` : status.state === 'following' ? 'catching up' : status.state });
    }
    return checks;
  };
}
