// Where each projection stands (GET /projections): its checkpoint, this process's runner, its lag.
import type { DatabasePool } from 'slonik';
import type { EventStore } from '../eventstore/eventStore';
import { formatPosition, START_POSITION } from '../eventstore/position';
import { readCheckpoints } from '../projections/checkpoints';
import type { ProjectionRunner } from '../projections/runner';

export interface ProjectionStatusView {
  projection: string;
  state: string;
  position: string | null;
  eventsApplied: number;
  lagEvents: number | null;
  lastAppliedAt: string | null;
  lastError: string | null;
}

/** Lag is counted up to this many events; more reads as this number. */
const LAG_COUNT_LIMIT = 1_000_000;

export function createProjectionStatus(deps: {
  pool: DatabasePool;
  store: EventStore;
  runner: ProjectionRunner | undefined;
}): () => Promise<ProjectionStatusView[]> {
  const { pool, store, runner } = deps;
  return async () => {
    const checkpoints = await readCheckpoints(pool);
    const local = runner?.status();
    const names = new Set([...checkpoints.map((c) => c.projection), ...(local ? [local.projection] : [])]);
    return Promise.all(
      [...names].sort().map(async (name) => {
        const checkpoint = checkpoints.find((c) => c.projection === name);
        const here = local?.projection === name ? local : undefined;
        // Null (unknown) for a store that cannot count without reading every event.
        const lag = store.countEventsAfter
          ? await store.countEventsAfter(checkpoint?.position ?? START_POSITION, LAG_COUNT_LIMIT).catch(() => null)
          : null;
        return {
          projection: name,
          state: here?.state ?? 'remote',
          position: checkpoint ? formatPosition(checkpoint.position) : null,
          eventsApplied: checkpoint?.eventsApplied ?? 0,
          lagEvents: lag,
          lastAppliedAt: checkpoint?.updatedAt.toISOString() ?? null,
          lastError: here?.lastError ?? null,
        };
      }),
    );
  };
}
