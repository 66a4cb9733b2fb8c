// Where each projection stands (GET /projections): its checkpoint, this process's runner, its lag
// in events and in time, and its latest rebuild.
import type { DatabasePool } from 'slonik';
import type { EventStore, Position } from '../eventstore/eventStore';
import { formatPosition, START_POSITION } from '../eventstore/position';
import { readCheckpoints } from '../projections/checkpoints';
import { globalOrderOf } from '../projections/rebuild/globalOrder';
import { readLatestRebuild } from '../projections/rebuild/rebuildProgress';
import type { ProjectionRunner } from '../projections/runner';
import { rebuildViewOf, type RebuildView } from './rebuildView';

export interface ProjectionStatusView {
  projection: string;
  state: string;
  position: string | null;
  eventsApplied: number;
  lagEvents: number | null;
  /** How long the oldest event not applied yet has waited; 0 when there is none. */
  lagMs: number | null;
  lastAppliedAt: string | null;
  lastError: string | null;
  /** The latest rebuild, running or ended; null when there was none. */
  rebuild: RebuildView | null;
}

/** Lag is counted up to this many events; more reads as this number. */
const LAG_COUNT_LIMIT = 1_000_000;

export function createProjectionStatus(deps: {
  pool: DatabasePool;
  store: EventStore;
  runner: ProjectionRunner | undefined;
}): () => Promise<ProjectionStatusView[]> {
  const { pool, store, runner } = deps;
  // Null (unknown) for a store that cannot count without reading every event, or that does not answer.
  const lagEventsAfter = async (position: Position) =>
    store.countEventsAfter ? store.countEventsAfter(position, LAG_COUNT_LIMIT).catch(() => null) : null;
  // Wall-clock time against the store's recording time: the lag an operator feels. Read as a
  // rebuild reads, without readAll's probe for held-back events, which can scan the whole table.
  const firstAfter = globalOrderOf(store);
  const lagMsAfter = async (position: Position) => {
    const [oldest] = await firstAfter(position, 1).catch(() => [null]);
    if (oldest === undefined) return 0;
    return oldest === null ? null : Math.max(0, Date.now() - oldest.recordedAt.getTime());
  };
  return async () => {
    const checkpoints = await readCheckpoints(pool);
    const local = runner?.status();
    const names = new Set([...checkpoints.map((c) => c.projection), ...(local ? [local.projection] : [])]);
    return Promise.all(
      [...names].sort().map(async (name) => {
        const checkpoint = checkpoints.find((c) => c.projection === name);
        const here = local?.projection === name ? local : undefined;
        const applied = checkpoint?.position ?? START_POSITION;
        const [lagEvents, lagMs, rebuild] = await Promise.all([lagEventsAfter(applied), lagMsAfter(applied), readLatestRebuild(pool, name)]);
        return {
          projection: name,
          state: here?.state ?? 'remote',
          position: checkpoint ? formatPosition(checkpoint.position) : null,
          eventsApplied: checkpoint?.eventsApplied ?? 0,
          lagEvents,
          lagMs,
          lastAppliedAt: checkpoint?.updatedAt.toISOString() ?? null,
          lastError: here?.lastError ?? null,
          rebuild: rebuild ? rebuildViewOf(rebuild) : null,
        };
      }),
    );
  };
}
