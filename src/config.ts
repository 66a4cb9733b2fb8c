// One zod schema over the environment: parsed once at start-up, a bad value names its variable.
import path from 'node:path';
import { validate as isCronExpression } from 'node-cron';
import { z } from 'zod';
import { apiTokens, roles, type ApiToken, type Role } from './accessConfig';
import { checkLimitVariables, httpLimitsOf, LIMIT_VARIABLES, type HttpLimits } from './limitsConfig';
import { emptyAsUndefined } from './emptyAsUndefined';
import { PROJECTOR_SESSION_TIMEOUT_MS } from './projections/runner';

export type { ApiToken, Role, Scope } from './accessConfig';

/** Every 5 seconds (node-cron, seconds first). */
export const DEFAULT_TTL_SWEEP_SCHEDULE = '*/5 * * * * *';
/** How long a report link works unless REPORT_URL_EXPIRY_SECONDS says otherwise: 24 hours. */
export const DEFAULT_REPORT_URL_EXPIRY_SECONDS = 86_400;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

const postgresUrl = z
  .string()
  .url()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must start with postgres:// or postgresql://');

const environmentSchema = z
  .object({
    PORT: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65535).default(8080)),
    HOST: z.preprocess(emptyAsUndefined, z.string().min(1).default('127.0.0.1')),
    HEALTH_PORT: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65535).optional()),
    PROJECTION_STALL_SECONDS: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(86_400).default(60)),
    PROJECTOR_SESSION_TIMEOUT_SECONDS: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(2).max(3_600).default(PROJECTOR_SESSION_TIMEOUT_MS / 1_000)),
    DATABASE_URL: z.preprocess(emptyAsUndefined, postgresUrl.optional()),
    READ_DATABASE_URL: z.preprocess(emptyAsUndefined, postgresUrl.optional()),
    DATA_DIR: z.preprocess(emptyAsUndefined, z.string().min(1).default('./.data')),
    EVENT_STORE: z.preprocess(emptyAsUndefined, z.enum(['postgres', 'eventstoredb']).default('postgres')),
    EVENTSTORE_CONNECTION_STRING: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^esdb(\+discover)?:\/\/[^/?#\s]+(\/?\?\S*)?$/, 'expected esdb://host:port[,host:port…][?options], e.g. esdb://127.0.0.1:2113?tls=false')
        .optional(),
    ),
    // Prepended to every stream name in EventStoreDB, so that several deployments (or test runs)
    // can share one server without seeing each other's streams.
    EVENTSTORE_STREAM_PREFIX: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, "_", "-" and "." (not starting with "$"), at most 64')
        .optional(),
    ),
    PUBLIC_URL: z.preprocess(emptyAsUndefined, z.string().url().optional()),
    ROLES: roles,
    API_TOKENS: apiTokens,
    LOG_LEVEL: z.preprocess(
      emptyAsUndefined,
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    ),
    EMBEDDED_POSTGRES_PORT: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65535).default(0)),
    BODY_LIMIT_BYTES: z.preprocess(emptyAsUndefined, z.coerce.number().int().positive().default(4 * 1024 * 1024)),
    ...LIMIT_VARIABLES,
    DATABASE_POOL_SIZE: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(200).default(10)),
    READ_VIEW: z.preprocess(emptyAsUndefined, z.enum(['memory', 'database']).default('memory')),
    S3_ENDPOINT: z.preprocess(
      emptyAsUndefined,
      z.string().url().refine((value) => /^https?:\/\//.test(value), 'must be an http:// or https:// URL').optional(),
    ),
    S3_ACCESS_KEY: z.preprocess(emptyAsUndefined, z.string().optional()),
    S3_SECRET_KEY: z.preprocess(emptyAsUndefined, z.string().optional()),
    S3_BUCKET: z.preprocess(
      emptyAsUndefined,
      z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name: 3–63 lowercase letters, digits, "." and "-"').optional(),
    ),
    S3_REGION: z.preprocess(emptyAsUndefined, z.string().default('us-east-1')),
    S3_PATH_STYLE: z.preprocess(emptyAsUndefined, z.enum(['true', 'false']).default('true')),
    // S3 presigned URLs live at most 7 days.
    REPORT_URL_EXPIRY_SECONDS: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(60).max(604_800).default(DEFAULT_REPORT_URL_EXPIRY_SECONDS)),
    TTL_SWEEP_SCHEDULE: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .default(DEFAULT_TTL_SWEEP_SCHEDULE)
        .refine(
          (value) => isCronExpression(value),
          (value) => ({ message: `expected a node-cron expression such as "*/5 * * * * *" (seconds first); got "${value}"` }),
        ),
    ),
  })
  .superRefine((env, ctx) => {
    checkLimitVariables(env, ctx);
    if (env.EVENT_STORE === 'eventstoredb' && !env.EVENTSTORE_CONNECTION_STRING) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['EVENTSTORE_CONNECTION_STRING'],
        message: 'is required when EVENT_STORE=eventstoredb',
      });
    }
    const s3Names = ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'S3_BUCKET'] as const;
    const s3Set = s3Names.filter((name) => env[name] !== undefined);
    if (s3Set.length > 0 && s3Set.length < s3Names.length) {
      for (const name of s3Names.filter((candidate) => env[candidate] === undefined)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [name],
          message: `is required when ${s3Set.join(', ')} ${s3Set.length === 1 ? 'is' : 'are'} set (object storage for reports)`,
        });
      }
    }
    if (env.API_TOKENS.length === 0 && !LOOPBACK_HOSTS.has(env.HOST)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['API_TOKENS'],
        message: `is required when HOST (${env.HOST}) is not a loopback address: without tokens the service serves loopback only`,
      });
    }
  });

export type Environment = z.infer<typeof environmentSchema>;

/** Every environment variable the service reads (for checks of deployment files). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(environmentSchema.innerType().shape);

export interface Config extends HttpLimits {
  port: number;
  host: string;
  /** Where a process without the `api` role serves /health/* and /metrics; PORT when unset. */
  healthPort: number | undefined;
  /** Readiness of a process that does not run the projector fails after the projection stalls this long. */
  projectionStallSeconds: number;
  /** The server ends the active projector's session after this long without a word from it. */
  projectorSessionTimeoutSeconds: number;
  databaseUrl: string | undefined;
  readDatabaseUrl: string | undefined;
  dataDir: string;
  eventStore: 'postgres' | 'eventstoredb';
  eventStoreConnectionString: string | undefined;
  eventStoreStreamPrefix: string;
  publicUrl: string;
  roles: Set<Role>;
  apiTokens: ApiToken[];
  logLevel: Environment['LOG_LEVEL'];
  embeddedPostgresPort: number;
  bodyLimitBytes: number;
  databasePoolSize: number;
  /** Where `api` processes answer GET /users/{id}/segments from: their in-memory view, or the read model's tables. */
  readView: 'memory' | 'database';
  /** Object storage for reports; undefined keeps them on local disk (DATA_DIR/reports). */
  s3: { endpoint: string; accessKey: string; secretKey: string; bucket: string; region: string; pathStyle: boolean } | undefined;
  reportUrlExpirySeconds: number;
  /** node-cron expression of the membership expiry timer (the `timer` role). */
  ttlSweepSchedule: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  const hostForUrl = e.HOST.includes(':') ? `[${e.HOST}]` : e.HOST;
  return {
    port: e.PORT,
    host: e.HOST,
    healthPort: e.HEALTH_PORT,
    projectionStallSeconds: e.PROJECTION_STALL_SECONDS,
    projectorSessionTimeoutSeconds: e.PROJECTOR_SESSION_TIMEOUT_SECONDS,
    databaseUrl: e.DATABASE_URL,
    readDatabaseUrl: e.READ_DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR),
    eventStore: e.EVENT_STORE,
    eventStoreConnectionString: e.EVENTSTORE_CONNECTION_STRING,
    eventStoreStreamPrefix: e.EVENTSTORE_STREAM_PREFIX ?? '',
    publicUrl: (e.PUBLIC_URL ?? `http://${hostForUrl}:${e.PORT}`).replace(/\/$/, ''),
    roles: e.ROLES,
    apiTokens: e.API_TOKENS,
    logLevel: e.LOG_LEVEL,
    embeddedPostgresPort: e.EMBEDDED_POSTGRES_PORT,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    ...httpLimitsOf(e),
    databasePoolSize: e.DATABASE_POOL_SIZE,
    readView: e.READ_VIEW,
    s3:
      e.S3_ENDPOINT && e.S3_ACCESS_KEY && e.S3_SECRET_KEY && e.S3_BUCKET
        ? {
            endpoint: e.S3_ENDPOINT,
            accessKey: e.S3_ACCESS_KEY,
            secretKey: e.S3_SECRET_KEY,
            bucket: e.S3_BUCKET,
            region: e.S3_REGION,
            pathStyle: e.S3_PATH_STYLE === 'true',
          }
        : undefined,
    reportUrlExpirySeconds: e.REPORT_URL_EXPIRY_SECONDS,
    ttlSweepSchedule: e.TTL_SWEEP_SCHEDULE,
  };
}
