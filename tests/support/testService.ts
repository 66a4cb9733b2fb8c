// The whole service (all roles) on a fresh test database, driven through fastify's inject.
import os from 'node:os';
import path from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Pool } from 'pg';
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import type { Role } from '../../src/config';
import type { Clock } from '../../src/platform/clock';
import { createService, type Service, type ServiceOptions } from '../../src/service';
import type { EventStore } from '../../src/eventstore/eventStore';
import { comparePositions } from '../../src/eventstore/position';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgresEventStore';
import { readCheckpoint } from '../../src/projections/checkpoints';
import { createReadPool } from '../../src/platform/database';
import { LocalReportStorage } from '../../src/reports/localReportStorage';
import { READ_MODEL_PROJECTION } from '../../src/projections/readModel/readModelProjection';
import { createTestDatabase, type TestDatabase } from './database';
import { waitUntilProjected } from './eventLogCheck';
import {
  RecordingEventStore,
  createEventStoreDbForTests,
  eventStoreDbConnectionString,
  newStreamPrefix,
  serviceEventStore,
} from './eventStores';
import { dumpState } from './stateDump';

export interface TestService {
  service: Service;
  db: TestDatabase;
  /** The service's node-postgres pool for the hot read. */
  readPool: Pool;
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** Another client of the store the service uses, as a second service instance would have. */
  createEventStore(): EventStore;
  /** Waits until the read model has applied every event appended so far. */
  /** Waits until the read model has applied every appended event (15 s unless told otherwise). */
  settle(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Every row and column of every table in the test database, each table's rows in a fixed order:
   * a failed request must leave them all as they were, in place as well as in number.
   */
  snapshot(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

const testReportStorage = () => new LocalReportStorage(path.join(os.tmpdir(), 'segments-reports'), 'http://127.0.0.1:8080');

/** The parts a service is built from besides its roles, as server.ts builds them, for tests that build one themselves. */
export function serviceParts(pool: DatabasePool, databaseUrl: string): Pick<ServiceOptions, 'pool' | 'readPool' | 'store' | 'reportStorage'> {
  return {
    pool,
    readPool: createReadPool(databaseUrl),
    store: new PostgresEventStore(pool, { connectionString: databaseUrl }),
    reportStorage: testReportStorage(),
  };
}

export async function startTestService(
  options: { roles?: Role[]; clock?: Clock } & Partial<
    Pick<
      ServiceOptions,
      'apiTokens' | 'bodyLimitBytes' | 'batchSize' | 'ttlSweepSchedule' | 'reportStorage' | 'reportUrlExpirySeconds' | 'readView' | 'rateLimit' | 'requestTimeoutMs'
    >
  > = {},
): Promise<TestService> {
  const db = await createTestDatabase({ poolSize: 20 });
  // EVENT_STORE=eventstoredb runs the same tests on EventStoreDB, in a stream prefix of their own.
  const streamPrefix = newStreamPrefix();
  const storeClient = (): EventStore =>
    serviceEventStore === 'eventstoredb'
      ? createEventStoreDbForTests(eventStoreDbConnectionString!, { streamPrefix })
      : new PostgresEventStore(db.pool, { connectionString: db.url });
  // With EventStoreDB, settle() and snapshot() learn of appends from the clients themselves.
  const recording = serviceEventStore === 'eventstoredb' ? new RecordingEventStore(storeClient()) : undefined;
  const createEventStore = (): EventStore => (recording ? new RecordingEventStore(storeClient(), recording) : storeClient());
  const readPool = createReadPool(db.url);
  const service = await createService({
    pool: db.pool,
    readPool,
    store: recording ?? storeClient(),
    roles: new Set(options.roles ?? ['api', 'projector', 'timer']),
    clock: options.clock,
    apiTokens: options.apiTokens,
    bodyLimitBytes: options.bodyLimitBytes,
    batchSize: options.batchSize,
    // Local reports under the system's temp folder, linked as a service on the default port would link them.
    reportStorage: options.reportStorage ?? testReportStorage(),
    reportUrlExpirySeconds: options.reportUrlExpirySeconds,
    ttlSweepSchedule: options.ttlSweepSchedule,
    readView: options.readView,
    rateLimit: options.rateLimit,
    requestTimeoutMs: options.requestTimeoutMs,
  });
  service.start();
  await service.app.ready();

  const settleOnRecording = async (store: RecordingEventStore, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const checkpoint = await readCheckpoint(db.pool, READ_MODEL_PROJECTION);
      const applied =
        !store.lastPosition || (checkpoint !== undefined && comparePositions(checkpoint.position, store.lastPosition) >= 0);
      const outbox = await db.pool.oneFirst(sql.type(z.object({ pending: z.boolean() }))`
        SELECT EXISTS (SELECT 1 FROM segment_deletion_removals) AS pending`);
      if (applied && !outbox) return;
      if (Date.now() > deadline) throw new Error(`the projection did not catch up within ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  // The in-memory view follows the event feed on its own: settled when it has what the tables have.
  const settleView = async (timeoutMs: number) => {
    const checkpoint = await readCheckpoint(db.pool, READ_MODEL_PROJECTION);
    if (!service.readView || !checkpoint) return;
    if (!(await service.readView.waitFor(checkpoint.position, timeoutMs))) {
      throw new Error(`the read view did not catch up within ${timeoutMs / 1000} s`);
    }
  };

  const settle = async ({ timeoutMs = 15_000 }: { timeoutMs?: number } = {}) => {
    await settleTables(timeoutMs);
    await settleView(timeoutMs);
  };

  const settleTables = async (timeoutMs: number) => {
    if (recording) return settleOnRecording(recording, timeoutMs);
    await waitUntilProjected(db.pool, timeoutMs);
  };

  return {
    service,
    db,
    readPool,
    createEventStore,
    request: (injectOptions) => service.app.inject(injectOptions),
    settle,
    async snapshot() {
      await settle();
      return { ...(await dumpState(db.pool)), ...(recording ? { eventStoreDbEvents: recording.appendedEvents } : {}) };
    },
    async close() {
      await service.stop();
      await readPool.end();
      await db.drop();
    },
  };
}
