// Wires the parts of the service for one process: event store, commands, projections, HTTP app.
// Used by server.ts (with config) and by tests (with a test database and a test clock).
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { buildApp } from './api/app';
import type { AppDeps, ProjectionStatusView, ReadinessCheck } from './api/deps';
import { createSegmentCommands } from './commands/segmentCommands';
import { createUserCommands } from './commands/userCommands';
import { DEFAULT_REPORT_URL_EXPIRY_SECONDS, type ApiToken, type Role } from './config';
import type { EventStore, Position } from './eventstore/eventStore';
import { comparePositions, formatPosition } from './eventstore/position';
import { createEventStore } from './eventstore/createEventStore';
import { PostgresEventStore } from './eventstore/postgres/postgresEventStore';
import { systemClock, type Clock } from './infra/clock';
import { readCheckpoint, readCheckpoints } from './projections/checkpoints';
import { createReadModelProjection, READ_MODEL_PROJECTION } from './projections/readModel/readModelProjection';
import { ProjectionRunner } from './projections/runner';
import { createSegmentDeletionSweep } from './projections/segmentDeletionSweep';
import { isConnectionError } from './infra/pgErrors';
import { PercentageSegmentCache } from './queries/percentageSegments';
import { createResponseView } from './queries/segments';
import { createHistoryReports } from './reports/historyReport';
import { membershipChangeSource } from './reports/membershipChangeLog';
import { LocalReportStorage } from './reports/localReportStorage';
import type { ReportStorage } from './reports/reportStorage';
import { createMembershipExpiryTimer, type MembershipExpiryTimer } from './timers/membershipExpiryTimer';

export interface ServiceOptions {
  pool: DatabasePool;
  databaseUrl: string;
  roles: ReadonlySet<Role>;
  clock?: Clock;
  store?: EventStore;
  logger?: Logger;
  apiTokens?: readonly ApiToken[];
  bodyLimitBytes?: number;
  publicUrl?: string;
  /** Events per projection batch. */
  batchSize?: number;
  /** Where history reports go; local disk under the system's temp folder when absent. */
  reportStorage?: ReportStorage;
  /** How long report links work; 24 h when absent. */
  reportUrlExpirySeconds?: number;
  /** node-cron expression of the membership expiry timer (the `timer` role); every 5 s by default. */
  ttlSweepSchedule?: string;
}

export interface Service {
  app: FastifyInstance;
  store: EventStore;
  runner: ProjectionRunner | undefined;
  /** The membership expiry timer, in a process with the `timer` role. */
  timer: MembershipExpiryTimer | undefined;
  /** Starts the projector and timers of this process's roles. */
  start(): void;
  stop(): Promise<void>;
}

const lagRow = z.object({ lag: z.number() });

export async function createService(options: ServiceOptions): Promise<Service> {
  const { pool, roles } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ level: 'silent' });
  const store = options.store ?? createEventStore({ kind: 'postgres' }, { pool, databaseUrl: options.databaseUrl }, logger);
  const segmentCommands = createSegmentCommands({ store, clock });
  const percentageSegments = new PercentageSegmentCache(pool);
  const userCommands = createUserCommands({
    store,
    clock,
    responseView: createResponseView(pool, percentageSegments),
  });


  let runner: ProjectionRunner | undefined;
  let sweep: ReturnType<typeof createSegmentDeletionSweep> | undefined;
  if (roles.has('projector')) {
    sweep = createSegmentDeletionSweep({ pool, userCommands, logger });
    const wakeSweep = sweep.wake;
    runner = new ProjectionRunner({
      pool,
      store,
      projection: createReadModelProjection(),
      logger,
      batchSize: options.batchSize,
      onBatchCommitted: () => wakeSweep(),
    });
  }

  const timer = roles.has('timer')
    ? createMembershipExpiryTimer({ pool, userCommands, logger, clock, schedule: options.ttlSweepSchedule })
    : undefined;

  async function waitForReadModel(position: Position, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const applied = (reached: Position | null | undefined) => reached != null && comparePositions(reached, position) >= 0;
    for (;;) {
      // This process's projector, when it is the active one, knows first and alone: it sets its
      // position right after committing the checkpoint. Otherwise (standby, failing, no projector
      // here) the checkpoint row written by the active instance is the truth.
      const local = runner?.status();
      if (applied(local?.position)) return true;
      const activeHere = local?.state === 'live' || local?.state === 'catching_up';
      if (!activeHere && applied((await readCheckpoint(pool, READ_MODEL_PROJECTION))?.position)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async function readiness(): Promise<ReadinessCheck[]> {
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
    return checks;
  }

  async function projections(): Promise<ProjectionStatusView[]> {
    const checkpoints = await readCheckpoints(pool);
    const names = new Set([...checkpoints.map((c) => c.projection), ...(runner ? [runner.status().projection] : [])]);
    return Promise.all(
      [...names].sort().map(async (name) => {
        const checkpoint = checkpoints.find((c) => c.projection === name);
        const local = runner?.status().projection === name ? runner.status() : undefined;
        const from = checkpoint?.position ?? { commit: 0n, prepare: 0n };
        // Counted in the events table, so only for the PostgreSQL store; null (unknown) otherwise.
        const lag = !(store instanceof PostgresEventStore) ? null : await pool.oneFirst(sql.type(lagRow)`
          SELECT count(*)::int8 AS lag FROM (
            SELECT 1 FROM events
            WHERE (transaction_id, global_position) > (${from.commit.toString()}::xid8, ${from.prepare.toString()}::int8)
            LIMIT 1000000) pending`).catch(() => null);
        return {
          projection: name,
          state: local?.state ?? 'remote',
          position: checkpoint ? formatPosition(checkpoint.position) : null,
          eventsApplied: checkpoint?.eventsApplied ?? 0,
          lagEvents: lag,
          lastAppliedAt: checkpoint?.updatedAt.toISOString() ?? null,
          lastError: local?.lastError ?? null,
        };
      }),
    );
  }

  const reportStorage =
    options.reportStorage ??
    new LocalReportStorage(path.join(os.tmpdir(), 'segments-reports'), options.publicUrl ?? 'http://127.0.0.1:8080');
  const historyReports = createHistoryReports({
    // The PostgreSQL store's events are in this pool's database and are read there directly.
    source: membershipChangeSource(store, pool),
    storage: reportStorage,
    clock,
    urlExpirySeconds: options.reportUrlExpirySeconds ?? DEFAULT_REPORT_URL_EXPIRY_SECONDS,
  });
  const deps: AppDeps = {
    readModel: pool,
    segmentCommands,
    userCommands,
    clock,
    percentageSegments,
    waitForReadModel,
    readiness,
    projections,
    overdueExpiries: () =>
      pool.oneFirst(sql.type(z.object({ overdue: z.number() }))`
        SELECT count(*)::int8 AS overdue FROM memberships WHERE expires_at <= ${clock.now().toISOString()}::timestamptz`),
    historyReports,
    localReports: reportStorage instanceof LocalReportStorage ? reportStorage : undefined,
  };
  const app = await buildApp(deps, {
    logger,
    apiTokens: options.apiTokens,
    bodyLimitBytes: options.bodyLimitBytes,
    publicUrl: options.publicUrl,
  });

  return {
    app,
    store,
    runner,
    timer,
    start() {
      runner?.start();
      sweep?.start();
      timer?.start();
    },
    async stop() {
      await app.close();
      await timer?.stop();
      await sweep?.stop();
      await runner?.stop();
      await store.close();
    },
  };
}
