// Rebuilds started over HTTP (POST /projections/{name}/rebuild). A rebuild runs in the background
// of the process that was asked; the answer comes once it holds its lock, and GET /projections on
// any process shows its progress from then on. Stopping the process stops the rebuild, whose
// copies are dropped; the live tables are never touched before the swap.
import type { Pool } from 'pg';
import type { DatabasePool } from 'slonik';
import type { EventStore } from '../eventstore/eventStore';
import { readLatestRebuild } from '../projections/rebuild/rebuildProgress';
import { rebuildReadModel } from '../projections/rebuild/rebuildReadModel';
import { READ_MODEL_PROJECTION } from '../projections/readModel/readModelProjection';
import { rebuildViewOf, type RebuildView } from './rebuildView';

/** The projections a rebuild knows how to build. */
export const REBUILDABLE_PROJECTIONS: readonly string[] = [READ_MODEL_PROJECTION];

export type RebuildStart =
  | { outcome: 'started'; rebuild: RebuildView | null }
  | { outcome: 'running'; rebuild: RebuildView | null }
  | { outcome: 'unknown'; known: readonly string[] };

export interface ProjectionRebuilds {
  start(projection: string): Promise<RebuildStart>;
  /** Stops a rebuild this process runs and waits until its copies are gone. */
  stop(): Promise<void>;
}

export interface RebuildLogger {
  info(object: object, message: string): void;
  error(object: object, message: string): void;
}

export function createProjectionRebuilds(deps: {
  pool: DatabasePool;
  store: EventStore;
  /** node-postgres connections a rebuild copies its audit rows through. */
  copyPool?: Pick<Pool, 'connect'>;
  logger: RebuildLogger;
}): ProjectionRebuilds {
  const { pool, store, copyPool, logger } = deps;
  const controller = new AbortController();
  const inFlight = new Set<Promise<void>>();

  const latest = async (projection: string) => {
    const progress = await readLatestRebuild(pool, projection);
    return progress ? rebuildViewOf(progress) : null;
  };

  return {
    async start(projection) {
      if (!REBUILDABLE_PROJECTIONS.includes(projection)) return { outcome: 'unknown', known: REBUILDABLE_PROJECTIONS };
      if (controller.signal.aborted) return { outcome: 'running', rebuild: await latest(projection) };
      const started = await new Promise<boolean>((resolve, reject) => {
        let holdsLock = false;
        const rebuild = rebuildReadModel(
          { pool, store, copyPool },
          {
            signal: controller.signal,
            onStarted: () => {
              holdsLock = true;
              logger.info({ projection }, 'projection rebuild started');
              resolve(true);
            },
          },
        ).then(
          (outcome) => {
            if (!outcome.rebuilt) return resolve(false);
            const { summary } = outcome;
            logger.info({ projection, events: summary.events, seconds: summary.seconds, pausedMs: summary.pausedMs }, 'projection rebuilt and swapped in');
          },
          (error: unknown) => {
            if (!holdsLock) return reject(error);
            if (controller.signal.aborted) logger.info({ projection }, 'projection rebuild stopped with the process');
            else logger.error({ err: error, projection }, 'projection rebuild failed; the live tables are unchanged');
          },
        );
        inFlight.add(rebuild);
        void rebuild.finally(() => inFlight.delete(rebuild));
      });
      return { outcome: started ? 'started' : 'running', rebuild: await latest(projection) };
    },
    async stop() {
      controller.abort();
      await Promise.all(inFlight);
    },
  };
}
