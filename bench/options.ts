// The harness's settings: command-line flags, then BENCH_* environment variables, then defaults.
import path from 'node:path';
import { parseArgs } from 'node:util';

export interface BenchOptions {
  users: number;
  /** The smaller size the read and write phases are also measured at, for the cost growth. */
  growthFrom: number;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Events in the stream of the one user whose writes are compared with a fresh user's. */
  longStream: number;
  /** Sequential writes to the long-stream user, and as many to fresh users. */
  sequentialWrites: number;
  /** Users in the bulk change (capped at the seeded user count). */
  bulkUsers: number;
  /** Connections writing to single users while the bulk change runs. */
  bulkWriters: number;
  /** Write/read pairs at a time in the visibility probe (between two memory-mode API processes). */
  visibilityPairs: number;
  /** Idle seconds after the API-only processes are ready before their resident memory is read. */
  rssSettleSeconds: number;
  /** User streams per appendMany while seeding. */
  seedBatch: number;
  seed: number;
  resultsDir: string;
  writeDocs: boolean;
  /** Extra environment for the service process and the API-only ones (KEY=VALUE), to measure a setting. */
  serviceEnv: Record<string, string>;
}

interface IntSetting {
  flag: string;
  env: string;
  fallback: number;
  min: number;
  max: number;
}

const INT_SETTINGS = {
  users: { flag: 'users', env: 'BENCH_USERS', fallback: 1_000_000, min: 20, max: 100_000_000 },
  growthFrom: { flag: 'growth-from', env: 'BENCH_GROWTH_FROM', fallback: 10_000, min: 10, max: 100_000_000 },
  connections: { flag: 'connections', env: 'BENCH_CONNECTIONS', fallback: 32, min: 1, max: 10_000 },
  durationSeconds: { flag: 'duration', env: 'BENCH_DURATION', fallback: 10, min: 1, max: 3_600 },
  warmupSeconds: { flag: 'warmup', env: 'BENCH_WARMUP', fallback: 2, min: 0, max: 600 },
  longStream: { flag: 'long-stream', env: 'BENCH_LONG_STREAM', fallback: 10_000, min: 2, max: 1_000_000 },
  sequentialWrites: { flag: 'sequential-writes', env: 'BENCH_SEQUENTIAL_WRITES', fallback: 200, min: 2, max: 100_000 },
  bulkUsers: { flag: 'bulk', env: 'BENCH_BULK', fallback: 100_000, min: 1, max: 100_000 },
  bulkWriters: { flag: 'bulk-writers', env: 'BENCH_BULK_WRITERS', fallback: 8, min: 0, max: 1_000 },
  visibilityPairs: { flag: 'visibility-pairs', env: 'BENCH_VISIBILITY_PAIRS', fallback: 4, min: 1, max: 64 },
  rssSettleSeconds: { flag: 'rss-settle', env: 'BENCH_RSS_SETTLE', fallback: 5, min: 0, max: 600 },
  seedBatch: { flag: 'seed-batch', env: 'BENCH_SEED_BATCH', fallback: 2_000, min: 1, max: 50_000 },
  seed: { flag: 'seed', env: 'BENCH_SEED', fallback: 20_240_601, min: 0, max: 2 ** 31 - 1 },
} satisfies Record<string, IntSetting>;

export const USAGE = `npm run bench -- [flags]

  --users N              users to seed (default 1000000)
  --growth-from N        also measure reads and writes at this many users (default 10000, at most half of --users)
  --connections N        load connections per phase (default 32)
  --duration S           seconds measured per phase (default 10)
  --warmup S             seconds of warm-up before each phase, not counted (default 2)
  --long-stream N        events in the long user stream (default 10000)
  --sequential-writes N  writes to the long-stream user, and to fresh users (default 200)
  --bulk N               users in the bulk change (default 100000, capped at --users)
  --bulk-writers N       connections writing to single users during the bulk change (default 8)
  --visibility-pairs N   write/read pairs at a time in the visibility probe between two memory-mode
                         API processes (default 4)
  --rss-settle S         idle seconds between the API-only processes being ready and reading their
                         resident memory (default 5)
  --seed-batch N         user streams per append while seeding (default 2000)
  --seed N               seed of the membership draw
  --results-dir PATH     where the JSON results go (default bench/results)
  --service-env K=V      extra environment for the service process and the API-only processes beside
                         it, whose ROLES and READ_VIEW the harness sets (repeatable)
  --write-docs           write the table into docs/benchmarks.md

Each numeric flag also reads BENCH_<NAME> (BENCH_USERS, BENCH_DURATION, …). With DATABASE_URL set,
the run creates a fresh database on that server and drops it afterwards; otherwise it starts an
embedded PostgreSQL in a temporary folder.`;

export class UsageError extends Error {}

function intSetting(setting: IntSetting, flagValue: string | undefined): number {
  const [source, raw] =
    flagValue !== undefined ? [`--${setting.flag}`, flagValue] : [setting.env, process.env[setting.env]?.trim() || undefined];
  if (raw === undefined) return setting.fallback;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isInteger(value) || value < setting.min || value > setting.max) {
    throw new UsageError(`${source} must be an integer from ${setting.min} to ${setting.max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** The settings of this run, or a UsageError naming the bad flag; null when --help was asked for. */
export function parseOptions(argv: readonly string[]): BenchOptions | null {
  const stringFlags = Object.fromEntries(Object.values(INT_SETTINGS).map(({ flag }) => [flag, { type: 'string' as const }]));
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ...stringFlags,
        'results-dir': { type: 'string' },
        'service-env': { type: 'string', multiple: true },
        'write-docs': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  if (values.help) return null;

  const flag = (name: string) => (values as Record<string, unknown>)[name] as string | undefined;
  const ints = Object.fromEntries(
    Object.entries(INT_SETTINGS).map(([key, setting]) => [key, intSetting(setting, flag(setting.flag))]),
  ) as Record<keyof typeof INT_SETTINGS, number>;

  const serviceEnv: Record<string, string> = {};
  for (const entry of values['service-env'] ?? []) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(entry);
    if (!match) throw new UsageError(`--service-env expects KEY=VALUE, got ${JSON.stringify(entry)}`);
    serviceEnv[match[1]!] = match[2]!;
  }

  return {
    ...ints,
    // The growth comparison needs a smaller data set than the full one.
    growthFrom: Math.min(ints.growthFrom, Math.floor(ints.users / 2)),
    bulkUsers: Math.min(ints.bulkUsers, ints.users),
    resultsDir: path.resolve(values['results-dir'] ?? path.join(__dirname, 'results')),
    writeDocs: values['write-docs'] ?? false,
    serviceEnv,
  };
}
