// Wires the parts of the service for one process: event store, commands, projections, background
// processes, HTTP app. Used by server.ts (with config) and by tests (with a test database and clock).
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from './api/app';
import { createSegmentCommands } from './commands/segmentCommands';
import { createUserCommands } from './commands/userCommands';
import { createUserSnapshots } from './commands/userSnapshots';
import { DEFAULT_REPORT_URL_EXPIRY_SECONDS } from './config';
import { withAppendCounts } from './eventstore/countedAppends';
import type { EventStore } from './eventstore/eventStore';
import { createProjectionRebuilds } from './operations/projectionRebuilds';
import { createProjectionStatus } from './operations/projectionStatus';
import { createReadiness } from './operations/readiness';
import { createReplicaLagWatch } from './operations/replicaLag';
import { systemClock } from './platform/clock';
import { createServiceMetrics } from './platform/serviceMetrics';
import { createMembershipExpiryTimer, type MembershipExpiryTimer } from './processes/membershipExpiryTimer';
import { createSegmentDeletionSweep } from './processes/segmentDeletionSweep';
import { createReadView, type ReadView } from './projections/memoryView/readView';
import { createReadModelProjection, READ_MODEL_PROJECTION } from './projections/readModel/readModelProjection';
import { createReadModelWaiter } from './projections/readModelPosition';
import { ProjectionRunner } from './projections/runner';
import { overdueExpiries } from './queries/overdueExpiries';
import { PercentageSegmentCache } from './queries/percentageSegments';
import { createSegmentsAfterWrite } from './queries/segmentsAfterWrite';
import { createUserSegmentsNow } from './queries/userSegments';
import { createHistoryReports } from './reports/historyReport';
import { LocalReportStorage } from './reports/localReportStorage';
import { membershipChangeSource } from './reports/membershipChangeLog';
import type { ServiceOptions } from './serviceOptions';

export type { ServiceOptions } from './serviceOptions';

export interface Service {
  app: FastifyInstance;
  store: EventStore;
  runner: ProjectionRunner | undefined;
  /** The in-memory view that answers a user's segments, in an `api` process with READ_VIEW=memory. */
  readView: ReadView | undefined;
  /** The membership expiry timer, in a process with the `timer` role. */
  timer: MembershipExpiryTimer | undefined;
  /** Starts the projector and timers of this process's roles. */
  start(): void;
  stop(): Promise<void>;
}

export async function createService(options: ServiceOptions): Promise<Service> {
  const { pool, readPool, roles, reportStorage } = options;
  const metrics = createServiceMetrics({ write: pool, read: readPool });
  const store = withAppendCounts(options.store, metrics.appends);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ level: 'silent' });
  const userCommands = createUserCommands({ store, snapshots: createUserSnapshots(pool, readPool), clock });
  const percentageSegments = new PercentageSegmentCache(pool);
  const urlExpirySeconds = options.reportUrlExpirySeconds ?? DEFAULT_REPORT_URL_EXPIRY_SECONDS;
  // Where the read routes read the read model: the replica when there is one, else the primary.
  // Commands, the event store, the projector and the answers of writes always use the primary.
  const { replica } = options;
  const reads = replica ? { ...replica, percentageSegments: new PercentageSegmentCache(replica.pool) } : { pool, readPool, percentageSegments };

  const sweep = roles.has('projector') ? createSegmentDeletionSweep({ pool, userCommands, logger }) : undefined;
  // The projector wakes the deletion sweep after each batch: the batch may have filled its outbox.
  const onBatchCommitted = () => sweep?.wake();
  const projection = createReadModelProjection();
  const runner =
    sweep && new ProjectionRunner({ pool, store, projection, logger, batchSize: options.batchSize, onBatchCommitted, sessionTimeoutMs: options.projectorSessionTimeoutMs });
  const readView = roles.has('api') && options.readView !== 'database' ? createReadView({ pool, readPool: reads.readPool, store, logger }) : undefined;
  const waitForReadModel = createReadModelWaiter(reads.pool, READ_MODEL_PROJECTION, runner);
  const timer = roles.has('timer')
    ? createMembershipExpiryTimer({ pool, userCommands, logger, clock, schedule: options.ttlSweepSchedule, metrics: metrics.timer })
    : undefined;
  const replicaLag = replica && {
    lag: createReplicaLagWatch({ primary: pool, replica: replica.pool, projection: READ_MODEL_PROJECTION, clock }),
    limitMs: replica.lagLimitMs,
  };
  const projectionRebuilds = createProjectionRebuilds({ pool, store, copyPool: readPool, logger });

  const app = await buildApp(
    {
      readModel: reads.pool,
      segmentCommands: createSegmentCommands({ store, clock }),
      userCommands,
      clock,
      userSegmentsNow: createUserSegmentsNow({ ...reads, readView, waitForTables: waitForReadModel }),
      segmentsAfterWrite: createSegmentsAfterWrite({ readPool, percentageSegments, readView, logger }),
      waitForReadModel,
      readiness: createReadiness({ pool, store, runner, readView, logger, clock, projectionStallMs: options.projectionStallMs, replica: replicaLag }),
      projections: createProjectionStatus({ pool, store, runner }),
      projectionRebuilds,
      overdueExpiries: () => overdueExpiries(pool, clock.now()),
      historyReports: createHistoryReports({ source: membershipChangeSource(store, pool), storage: reportStorage, clock, urlExpirySeconds, metrics: metrics.reports }),
      localReports: reportStorage instanceof LocalReportStorage ? reportStorage : undefined,
      metricsRegistry: metrics.registry,
    },
    { logger, apiTokens: options.apiTokens, bodyLimitBytes: options.bodyLimitBytes, publicUrl: options.publicUrl, rateLimit: options.rateLimit, requestTimeoutMs: options.requestTimeoutMs },
  );

  return {
    app,
    store,
    runner,
    readView,
    timer,
    start: () => [readView, runner, sweep, timer].forEach((part) => part?.start()),
    async stop() {
      await Promise.all([app.close(), projectionRebuilds.stop()]);
      await readView?.stop();
      await timer?.stop();
      await sweep?.stop();
      await runner?.stop();
      await store.close();
    },
  };
}
