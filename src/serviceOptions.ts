// What one process of the service is built from (src/service.ts): server.ts fills it from the
// configuration, tests with a test database and clock.
import type { Logger } from 'pino';
import type { DatabasePool } from 'slonik';
import type { RateLimit } from './api/limits';
import type { ApiToken, Role } from './config';
import type { EventStore } from './eventstore/eventStore';
import type { Clock } from './platform/clock';
import type { ReadPool } from './queries/userSegments';
import type { ReportStorage } from './reports/reportStorage';

export interface ServiceOptions {
  pool: DatabasePool;
  /** node-postgres pool for the hot read of a user's segments (platform/database.ts, createReadPool). */
  readPool: ReadPool;
  store: EventStore;
  /**
   * A streaming replica the read routes of an `api`-only process read from (READ_DATABASE_URL,
   * docs/deployment.md): its pools, and how far behind it may fall before readiness fails.
   */
  replica?: { pool: DatabasePool; readPool: ReadPool; lagLimitMs: number };
  roles: ReadonlySet<Role>;
  /** Where `api` answers a user's segments now: its in-memory view (the default) or the read model's tables. */
  readView?: 'memory' | 'database';
  /** Where history reports go (src/reports/createReportStorage.ts builds it from config). */
  reportStorage: ReportStorage;
  clock?: Clock;
  logger?: Logger;
  apiTokens?: readonly ApiToken[];
  bodyLimitBytes?: number;
  publicUrl?: string;
  /** Requests per second per token (per client address without tokens); unlimited when absent. */
  rateLimit?: RateLimit;
  /** The time a request may take to arrive in full (ms); 30 s when absent. */
  requestTimeoutMs?: number;
  /** Events per projection batch. */
  batchSize?: number;
  /** The server ends the active projector's session after this long (ms) without a word from it; 10 s when absent. */
  projectorSessionTimeoutMs?: number;
  /** How long report links work; 24 h when absent. */
  reportUrlExpirySeconds?: number;
  /** node-cron expression of the membership expiry timer (the `timer` role); every 5 s by default. */
  ttlSweepSchedule?: string;
  /**
   * Readiness fails in a process that does not apply the projection itself once events have been
   * pending this long (ms) with the read model not advancing; unwatched when absent.
   */
  projectionStallMs?: number;
}
