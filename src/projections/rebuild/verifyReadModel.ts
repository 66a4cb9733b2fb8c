// Verify: replays the events into scratch copies up to exactly the live read model's position and
// compares the two, table by table. The live projector pauses only while the copies take the last
// events and a snapshot is taken; the comparison reads that snapshot while the projector goes on.
// One verify at a time; the copies are dropped at the end.
import { sql, type DatabasePool, type DatabasePoolConnection, type DatabaseTransactionConnection } from 'slonik';
import { z } from 'zod';
import type { EventStore, Position } from '../../eventstore/eventStore';
import type { ProjectedEvent } from '../projection';
import { START_POSITION } from '../../eventstore/position';
import { withTryAdvisoryLock } from '../../platform/database';
import { readCheckpoint } from '../checkpoints';
import { createReadModelProjection, READ_MODEL_PROJECTION } from '../readModel/readModelProjection';
import { DELETION_OUTBOX, REBUILT_TABLES } from '../readModel/readModelTables';
import { compareTable, type Difference, type TableComparison } from './compareTables';
import { pauseProjector, resumeProjector } from './projectorPause';
import { applyToCopies, REBUILD_BATCH_SIZE } from './rebuildReadModel';
import { rebuildLockName } from './rebuildProgress';
import { globalOrderOf } from './globalOrder';
import { replay } from './replay';
import * as scratchTables from './scratchTables';

export type { Difference, TableComparison } from './compareTables';

export interface VerifyOptions {
  signal?: AbortSignal;
  batchSize?: number;
  /** Differences listed per table (all are counted); 100 unless told. */
  differencesPerTable?: number;
  onProgress?(eventsDone: number, eventsTotal: number | null): void;
}

export interface VerifyReport {
  /** The live read model's position, which the copies were built up to. */
  position: Position | undefined;
  events: number;
  tables: Array<Omit<TableComparison, 'differences'>>;
  differences: Difference[];
}

export type VerifyOutcome = { verified: true; report: VerifyReport } | { verified: false; reason: 'verify running' | 'rebuild running' };

export async function verifyReadModel(deps: { pool: DatabasePool; store: EventStore }, options: VerifyOptions = {}): Promise<VerifyOutcome> {
  const round = await withTryAdvisoryLock(deps.pool, `projection-verify:${READ_MODEL_PROJECTION}`, async (connection): Promise<VerifyOutcome> => {
    // A swap while the comparison runs would change the tables under its snapshot: no rebuild meanwhile.
    const rebuildLock = sql.fragment`hashtextextended(${rebuildLockName(READ_MODEL_PROJECTION)}, 0)`;
    const free = await connection.oneFirst(sql.type(z.object({ free: z.boolean() }))`SELECT pg_try_advisory_lock_shared(${rebuildLock}) AS free`);
    if (!free) return { verified: false, reason: 'rebuild running' };
    try {
      return { verified: true, report: await verifyHoldingLock(connection, deps.store, options) };
    } finally {
      await connection.query(sql.unsafe`SELECT pg_advisory_unlock_shared(${rebuildLock})`).catch(() => undefined);
    }
  });
  return round.locked ? round.value : { verified: false, reason: 'verify running' };
}

async function verifyHoldingLock(connection: DatabasePoolConnection, store: EventStore, options: VerifyOptions): Promise<VerifyReport> {
  const name = READ_MODEL_PROJECTION;
  const batchSize = options.batchSize ?? REBUILD_BATCH_SIZE;
  const { signal } = options;
  // What a verify that was killed left behind.
  await scratchTables.dropSchemasStartingWith(connection, `${name}_verify_`);
  const plan = await scratchTables.planScratchTables(connection, {
    scratch: `${name}_verify_${Date.now()}`,
    tables: REBUILT_TABLES.map((table) => table.name),
  });
  const projection = createReadModelProjection();
  const read = globalOrderOf(store);
  const total = (await store.countEventsAfter?.(START_POSITION, Number.MAX_SAFE_INTEGER)) ?? null;
  let events = 0;
  const apply = (batch: readonly ProjectedEvent[]) =>
    connection.transaction(async (tx) => {
      await applyToCopies(tx, plan, projection, batch);
      events += batch.length;
      options.onProgress?.(events, total === null ? null : Math.max(total, events));
    });
  const liveCheckpoint = async () => (await readCheckpoint(connection, name))?.position ?? START_POSITION;
  try {
    await scratchTables.createScratchTables(connection, plan);
    // The outbox is the sweep's to-do list, not state a replay can reproduce: filled, never compared.
    await scratchTables.createThrowawayTable(connection, plan, DELETION_OUTBOX);
    let position = await replay({ read, from: undefined, batchSize, until: liveCheckpoint, apply, signal });
    await scratchTables.completeScratchTables(connection, plan, { logged: false, indexes: false });
    await pauseProjector(connection, name);
    let paused = true;
    try {
      const live = await liveCheckpoint();
      position = await replay({ read, from: position, batchSize, until: async () => live, apply, signal });
      return await connection.transaction(async (tx) => {
        await tx.query(sql.unsafe`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`);
        // The snapshot is taken as this statement starts, while the projector still waits.
        await resumeProjector(tx, name);
        paused = false;
        return { position, events, ...(await compareAll(tx, plan, options.differencesPerTable ?? 100)) };
      });
    } finally {
      if (paused) await resumeProjector(connection, name).catch(() => undefined);
    }
  } finally {
    await connection.query(sql.unsafe`DROP SCHEMA IF EXISTS ${sql.identifier([plan.scratch])} CASCADE`).catch(() => undefined);
  }
}

async function compareAll(tx: DatabaseTransactionConnection, plan: scratchTables.ScratchTables, limit: number): Promise<Pick<VerifyReport, 'tables' | 'differences'>> {
  const tables: VerifyReport['tables'] = [];
  const differences: Difference[] = [];
  for (const table of REBUILT_TABLES) {
    const { differences: listed, ...counts } = await compareTable(tx, { live: plan.live, rebuilt: plan.scratch }, table, limit);
    tables.push(counts);
    differences.push(...listed);
  }
  return { tables, differences };
}
