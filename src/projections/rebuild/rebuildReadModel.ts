// Rebuilds the read model from the first event into fresh tables beside the live ones, then swaps
// them in at once. Reads go on against the live tables and writes go on appending all the while.
// The copies follow the live projector's checkpoint; for the swap the projector pauses between
// two batches, the copies take the events up to its checkpoint, and the tables change places.
// The projector then goes on from its checkpoint into the new tables, which hold exactly what the
// old ones held at that position. One rebuild at a time.
//
//   building     every event up to the live checkpoint, into unlogged copies with keys only
//   indexing     the copies become logged and get their indexes, foreign keys, grants, statistics
//   catching_up  the events the live projector applied meanwhile
//   swapping     projector paused: the last events, then the tables change places
import type { Pool } from 'pg';
import type { DatabasePool, DatabasePoolConnection, DatabaseTransactionConnection } from 'slonik';
import type { EventStore, Position } from '../../eventstore/eventStore';
import { START_POSITION } from '../../eventstore/position';
import { withTryAdvisoryLock } from '../../platform/database';
import { readCheckpoint } from '../checkpoints';
import { createReadModelProjection, READ_MODEL_PROJECTION } from '../readModel/readModelProjection';
import type { ProjectedEvent, Projection } from '../projection';
import { DELETION_OUTBOX, INDEXES_NEEDED_BY_EVENTS, REBUILT_TABLES } from '../readModel/readModelTables';
import type { AuditRow } from '../readModel/readModelRules';
import { AuditCopy } from './auditCopy';
import { deriveMemberships } from './deriveMemberships';
import { pauseProjector, resumeProjector } from './projectorPause';
import { createProgressRow, rebuildLockName, rebuildSchemaPrefix, writeProgress, type RebuildState } from './rebuildProgress';
import { globalOrderOf } from './globalOrder';
import { replay } from './replay';
import * as scratchTables from './scratchTables';

export const REBUILD_BATCH_SIZE = 25_000;

export interface RebuildReport {
  state: RebuildState;
  eventsDone: number;
  eventsTotal: number | null;
}

export interface RebuildOptions {
  signal?: AbortSignal;
  batchSize?: number;
  /** Once the rebuild holds its lock and GET /projections shows it. */
  onStarted?(): void;
  onProgress?(report: RebuildReport): void;
}

export interface RebuildSummary {
  /** The position the new tables were swapped in at: the live projector's checkpoint then. */
  position: Position | undefined;
  events: number;
  seconds: number;
  /** How long the live projector waited for the last events and the swap. */
  pausedMs: number;
}

export type RebuildOutcome = { rebuilt: true; summary: RebuildSummary } | { rebuilt: false; reason: 'running' };

/** One batch into the copies, in the caller's transaction, with the indexes its statements need. */
export async function applyToCopies(
  tx: DatabaseTransactionConnection,
  plan: scratchTables.ScratchTables,
  projection: Projection,
  events: readonly ProjectedEvent[],
  { indexes = true } = {},
): Promise<void> {
  await scratchTables.useScratchTables(tx, plan);
  if (indexes) await scratchTables.ensureIndexes(tx, plan, new Set(events.flatMap((event) => INDEXES_NEEDED_BY_EVENTS[event.type] ?? [])));
  await projection.applyBatch(tx, events);
}

export interface RebuildDeps {
  pool: DatabasePool;
  store: EventStore;
  /** node-postgres connections for COPY (slonik has none): the audit rows go that way when given. */
  copyPool?: Pick<Pool, 'connect'>;
}

export async function rebuildReadModel(deps: RebuildDeps, options: RebuildOptions = {}): Promise<RebuildOutcome> {
  const round = await withTryAdvisoryLock(deps.pool, rebuildLockName(READ_MODEL_PROJECTION), (connection) =>
    rebuildHoldingLock(connection, deps, options),
  );
  return round.locked ? { rebuilt: true, summary: round.value } : { rebuilt: false, reason: 'running' };
}

async function rebuildHoldingLock(connection: DatabasePoolConnection, deps: RebuildDeps, options: RebuildOptions): Promise<RebuildSummary> {
  const { store, copyPool } = deps;
  const name = READ_MODEL_PROJECTION;
  const startedAt = Date.now();
  const { signal } = options;
  // Earlier rebuilds' schemas: the last one's progress row, or what a crashed one left.
  await scratchTables.dropSchemasStartingWith(connection, rebuildSchemaPrefix(name));
  await scratchTables.dropSchemasStartingWith(connection, `${name}_replaced_`);
  const plan = await scratchTables.planScratchTables(connection, {
    scratch: `${rebuildSchemaPrefix(name)}${startedAt}`,
    tables: REBUILT_TABLES.map((table) => table.name),
  });
  const count = (after: Position) => store.countEventsAfter?.(after, Number.MAX_SAFE_INTEGER) ?? Promise.resolve(null);
  const done = { position: undefined as Position | undefined, events: 0, total: await count(START_POSITION), countedAt: Date.now() };
  await scratchTables.createScratchTables(connection, plan);
  // The outbox is the deletion sweep's to-do list, kept by the live projector: never swapped.
  await scratchTables.createThrowawayTable(connection, plan, DELETION_OUTBOX);
  await createProgressRow(connection, plan.scratch, name, done.total);
  options.onStarted?.();

  const audit = copyPool && new AuditCopy(copyPool, `"${plan.scratch}"."membership_audit"`);
  const appendAudit = audit && ((rows: readonly AuditRow[]) => audit.append(rows));
  // The bulk replay leaves the memberships to one derivation at its end; what follows applies them as the live projector does.
  const bulk = createReadModelProjection({ appendAudit, membershipsDerivedLater: true });
  const projection = createReadModelProjection({ appendAudit });
  const read = globalOrderOf(store);
  const report = async (state: RebuildState, db: DatabasePoolConnection | DatabaseTransactionConnection = connection) => {
    await writeProgress(db, plan.scratch, { state, position: done.position, eventsDone: done.events, eventsTotal: done.total });
    options.onProgress?.({ state, eventsDone: done.events, eventsTotal: done.total });
  };
  const apply = (state: RebuildState) => async (events: readonly ProjectedEvent[], last: Position) => {
    // Appends go on: once past the count, count what is left (at most every 2 s).
    if (done.total !== null && done.events + events.length >= done.total && Date.now() - done.countedAt > 2_000) {
      done.total = done.events + ((await count(done.position ?? START_POSITION)) ?? 0);
      done.countedAt = Date.now();
    }
    await connection.transaction(async (tx) => {
      if (state === 'building') await applyToCopies(tx, plan, bulk, events, { indexes: false });
      else await applyToCopies(tx, plan, projection, events);
      done.events += events.length;
      done.position = last;
      await report(state, tx);
    });
    // The audit rows of the batch before may still be on their way; those of older ones may not.
    await audit?.drained(1);
  };
  const batchSize = options.batchSize ?? REBUILD_BATCH_SIZE;
  const liveCheckpoint = async () => (await readCheckpoint(connection, name))?.position ?? START_POSITION;
  const follow = (state: RebuildState, until: () => Promise<Position>) =>
    replay({ read, from: done.position, batchSize, until, apply: apply(state), signal });

  let pausedMs = 0;
  let swapped = false;
  try {
    await follow('building', liveCheckpoint);
    await audit?.drained();
    await report('indexing');
    await connection.transaction((tx) => deriveMemberships(tx, plan));
    await scratchTables.completeScratchTables(connection, plan, { logged: true, indexes: true });
    signal?.throwIfAborted();
    await follow('catching_up', liveCheckpoint);
    await report('swapping');
    await pauseProjector(connection, name);
    const pausedAt = Date.now();
    try {
      const live = await liveCheckpoint();
      await follow('swapping', async () => live);
      await audit?.drained();
      done.total = done.events;
      await connection.transaction(async (tx) => {
        // Locking the checkpoint first waits for a reader that has read it and not yet the tables
        // (an API process loading its in-memory view): it finishes on the old tables, consistent.
        await scratchTables.swapIntoLive(tx, plan, { replaced: `${name}_replaced_${startedAt}`, alsoLocked: ['projection_checkpoints'] });
        await report('finished', tx);
      });
      swapped = true;
    } finally {
      await resumeProjector(connection, name);
      pausedMs = Date.now() - pausedAt;
    }
  } catch (error) {
    await audit?.close();
    if (swapped) throw error;
    // The live tables are untouched; the copies go, the progress row says why.
    const message = signal?.aborted ? 'stopped before it finished' : error instanceof Error ? error.message : String(error);
    await writeProgress(connection, plan.scratch, { state: 'failed', error: message }).catch(() => undefined);
    await scratchTables.dropScratchTables(connection, plan, [DELETION_OUTBOX]).catch(() => undefined);
    throw error;
  }
  await audit?.close();
  // The replaced tables and the outbox copy; should this fail, the next rebuild drops them.
  await scratchTables.dropSchemasStartingWith(connection, `${name}_replaced_`);
  await scratchTables.dropScratchTables(connection, plan, [DELETION_OUTBOX]);
  return { position: done.position, events: done.events, seconds: (Date.now() - startedAt) / 1000, pausedMs };
}
