// The history report benchmark, `npm run bench:report`: time and peak memory of a month of
// 1,000,000 membership changes going from the event store to a CSV in storage.
//   1. starts PostgreSQL (embedded in a fresh temp folder, or a fresh database on DATABASE_URL);
//   2. seeds the changes straight into the events table (INSERT … SELECT generate_series, in the
//      shape the commands append), their moments shuffled against the append order;
//   3. for each storage back end (local disk; S3 through s3rver on loopback), runs the report in
//      a fresh child process, the way POST /reports/history runs it (createHistoryReports), and
//      takes that process's wall time and peak RSS (getrusage ru_maxrss);
//   4. checks the stored CSV (rows, order) and prints a Markdown table on stdout.
// Progress goes to stderr. Settings: BENCH_REPORT_CHANGES (1000000), BENCH_REPORT_S3 (1; 0 skips
// the S3 run), DATABASE_URL.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Client } from 'pg';
import { applySchema, closePool, createDatabasePool } from '../src/platform/database';
import { startEmbeddedPostgres } from '../src/platform/embeddedPostgres';
import { systemClock } from '../src/platform/clock';
import { createHistoryReports } from '../src/reports/historyReport';
import { LocalReportStorage } from '../src/reports/localReportStorage';
import { createEventStore } from '../src/eventstore/createEventStore';
import { membershipChangeSource } from '../src/reports/membershipChangeLog';
import { parsePeriod } from '../src/reports/period';
import type { ReportStorage } from '../src/reports/reportStorage';
import { S3ReportStorage } from '../src/reports/s3ReportStorage';
import { seedMembershipChanges } from '../tests/support/seedMembershipChanges';

const PERIOD = '2023-08';
const S3_CREDENTIALS = { accessKey: 'S3RVER', secretKey: 'S3RVER' }; // s3rver's built-in account

interface WorkerTask {
  databaseUrl: string;
  target: 'local' | 's3';
  directory: string;
  s3Endpoint?: string;
}

interface WorkerResult {
  url: string;
  rows: number;
  ms: number;
  baselineRssMiB: number;
  peakRssMiB: number;
}

const progress = (message: string) => process.stderr.write(`[bench:report] ${message}\n`);
const mib = (bytes: number) => bytes / 1024 / 1024;

// ---------------------------------------------------------------- the child: one report

async function runWorker(task: WorkerTask): Promise<void> {
  const pool = await createDatabasePool(task.databaseUrl, { maximumPoolSize: 2 });
  const storage: ReportStorage =
    task.target === 'local'
      ? new LocalReportStorage(task.directory, 'http://127.0.0.1:8080')
      : new S3ReportStorage({ endpoint: task.s3Endpoint!, ...S3_CREDENTIALS, bucket: 'bench-reports', region: 'us-east-1', pathStyle: true });
  const reports = createHistoryReports({ source: membershipChangeSource(createEventStore({ kind: 'postgres' }, { pool, databaseUrl: task.databaseUrl }), pool), storage, clock: systemClock, urlExpirySeconds: 3600 });
  const baselineRssMiB = mib(process.memoryUsage().rss);
  const started = performance.now();
  const report = await reports.create({ period: parsePeriod(PERIOD)! });
  const ms = performance.now() - started;
  await closePool(pool);
  const result: WorkerResult = { url: report.url, rows: report.rows, ms, baselineRssMiB, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result));
}

function spawnWorker(task: WorkerTask): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', __filename],
      { env: { ...process.env, BENCH_REPORT_WORKER: JSON.stringify(task) }, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`report worker failed: ${stderr || error.message}`));
        else resolve(JSON.parse(stdout) as WorkerResult);
      },
    );
  });
}

// ---------------------------------------------------------------- the parent

/** Rows of a stored CSV and whether their moments never go back, read as a stream. */
async function checkCsv(lines: AsyncIterable<string>): Promise<{ rows: number; ordered: boolean; header: string }> {
  let header = '';
  let rows = 0;
  let previous = '';
  let ordered = true;
  for await (const line of lines) {
    if (header === '') {
      header = line;
      continue;
    }
    if (line === '') continue;
    rows += 1;
    const at = line.slice(line.lastIndexOf(';') + 1);
    if (at < previous) ordered = false;
    previous = at;
  }
  return { rows, ordered, header };
}

async function main(): Promise<void> {
  const changes = Number(process.env.BENCH_REPORT_CHANGES ?? 1_000_000);
  const withS3 = process.env.BENCH_REPORT_S3 !== '0';
  const cleanups: Array<() => Promise<unknown>> = [];
  const temp = await fs.mkdtemp(path.join(os.tmpdir(), 'segments-bench-report-'));
  cleanups.push(() => fs.rm(temp, { recursive: true, force: true }));
  try {
    progress(`machine: ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    let databaseUrl: string;
    if (process.env.DATABASE_URL) {
      const name = `segments_bench_report_${Date.now()}`;
      const admin = new Client({ connectionString: process.env.DATABASE_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      cleanups.unshift(async () => {
        const client = new Client({ connectionString: process.env.DATABASE_URL });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await client.end();
      });
      const url = new URL(process.env.DATABASE_URL);
      url.pathname = `/${name}`;
      databaseUrl = url.toString();
    } else {
      const embedded = await startEmbeddedPostgres({ dataDir: path.join(temp, 'postgres') });
      cleanups.unshift(() => embedded.stop());
      databaseUrl = embedded.url;
      progress(`embedded PostgreSQL on port ${embedded.port}`);
    }
    await applySchema(databaseUrl);

    const pool = await createDatabasePool(databaseUrl, { maximumPoolSize: 2 });
    const seedStarted = performance.now();
    await seedMembershipChanges(pool, { period: parsePeriod(PERIOD)!, count: changes });
    const analyze = new Client({ connectionString: databaseUrl });
    await analyze.connect();
    await analyze.query('VACUUM ANALYZE events');
    const size = (await analyze.query("SELECT pg_size_pretty(pg_total_relation_size('events')) AS size")).rows[0]?.size as string;
    await analyze.end();
    await closePool(pool);
    progress(`seeded ${changes.toLocaleString('en')} changes in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s (events table ${size})`);

    const results: Array<{ target: string; result: WorkerResult; check: Awaited<ReturnType<typeof checkCsv>>; bytes: number }> = [];

    progress('report to local disk…');
    const local = await spawnWorker({ databaseUrl, target: 'local', directory: path.join(temp, 'reports') });
    const localFile = path.join(temp, 'reports', `${path.basename(new URL(local.url).pathname)}`);
    results.push({
      target: 'local disk',
      result: local,
      check: await checkCsv(createInterface({ input: createReadStream(localFile), crlfDelay: Infinity })),
      bytes: (await fs.stat(localFile)).size,
    });

    if (withS3) {
      const { default: S3rver } = await import('s3rver');
      const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: path.join(temp, 's3') });
      const { port } = await s3.run();
      cleanups.unshift(() => s3.close());
      progress(`report to S3 (s3rver on port ${port})…`);
      const remote = await spawnWorker({ databaseUrl, target: 's3', directory: temp, s3Endpoint: `http://127.0.0.1:${port}` });
      const response = await fetch(remote.url);
      const bytes = Number(response.headers.get('content-length'));
      const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
      results.push({ target: 'S3 (s3rver, loopback)', result: remote, check: await checkCsv(createInterface({ input: body, crlfDelay: Infinity })), bytes });
    }

    process.stdout.write(`\n${changes.toLocaleString('en')} changes in ${PERIOD}, report of the whole month:\n\n`);
    process.stdout.write('| storage | rows | CSV size | time | rows/s | peak RSS | RSS before the report | rows checked, in time order |\n');
    process.stdout.write('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n');
    for (const { target, result, check, bytes } of results) {
      const ok = check.header === 'user_id;segment;operation;at' && check.rows === changes && result.rows === changes && check.ordered;
      process.stdout.write(
        `| ${target} | ${result.rows.toLocaleString('en')} | ${mib(bytes).toFixed(1)} MiB | ${(result.ms / 1000).toFixed(1)} s | ` +
          `${Math.round(result.rows / (result.ms / 1000)).toLocaleString('en')} | ${result.peakRssMiB.toFixed(0)} MiB | ${result.baselineRssMiB.toFixed(0)} MiB | ${ok ? 'yes' : `NO (${JSON.stringify(check)})`} |\n`,
      );
      if (!ok) process.exitCode = 1;
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => progress(`cleanup failed: ${String(error)}`));
  }
}

if (process.env.BENCH_REPORT_WORKER) {
  runWorker(JSON.parse(process.env.BENCH_REPORT_WORKER) as WorkerTask).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
} else {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
