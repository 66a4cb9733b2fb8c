// Readiness: whether this process can serve, part by part (GET /health/ready).
import { sql, type DatabasePool } from 'slonik';
import type { EventStore } from '../eventstore/eventStore';
import { isConnectionError } from '../platform/pgErrors';
import type { ReadView } from '../projections/memoryView/readView';
import type { ProjectionRunner } from '../projections/runner';

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
  logger: ReadinessLogger;
}): () => Promise<ReadinessCheck[]> {
  const { pool, store, runner, readView, logger } = deps;
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
    if (readView) {
      // Not ready while it loads, and until it has reached the read model's position at start.
      const status = readView.status();
      const ok = status.ready && status.state !== 'failing';
      checks.push({ name: 'read view', ok, detail: ok ? `${status.memberships} memberships` : status.state === 'following' ? 'catching up' : status.state });
    }
    return checks;
  };
}
