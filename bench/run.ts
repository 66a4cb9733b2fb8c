// `npm run bench`: the service at scale beside its baselines, all measured in one run.
//   1. PostgreSQL (embedded in a temporary folder, or a fresh database on DATABASE_URL), the service
//      as `npm start` runs it and the baselines (bench/baselines.ts), each in its own process;
//   2. segments over HTTP, then users' memberships appended straight to the event store, first
//      --growth-from users, then the rest up to --users; the service's projector builds the read model;
//   3. load phases (autocannon in a worker thread) on the baselines and on the service, with probes:
//      projection lag, read-after-write, a long user stream, a bulk change under single writes;
//      and API-only processes beside the service, to compare the read views (bench/readViews.ts);
//   4. bench/results/<timestamp>.json and latest.json, a Markdown table on stdout, and with
//      --write-docs the same table in docs/benchmarks.md.
// Flags: `npm run bench -- --help`. Progress goes to stderr; Ctrl-C stops everything in order.
import path from 'node:path';
import { bulkUnderWrites } from './bulk';
import { Dataset } from './dataset';
import { Cleanups, startEnvironment, TOKEN } from './environment';
import { LoadGenerator, type LoadTarget, type PhaseResult } from './load';
import { codeVersion, machineInfo } from './machine';
import { renderMarkdown } from './markdown';
import { parseOptions, UsageError, USAGE, type BenchOptions } from './options';
import { compareStreamLengths, readAfterWrite, sampleProjectionLag, type UserRange } from './probes';
import { compareReadViews } from './readViews';
import { ratiosOf, writeIntoDocs, writeResults, type BenchResults } from './results';
import { createSegments, PERCENTAGE_SEGMENTS } from './seed';

const DOCS_FILE = path.resolve(__dirname, '../docs/benchmarks.md');

const count = (value: number) => value.toLocaleString('en-US');

const startedAt = Date.now();
function progress(message: string): void {
  process.stderr.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(1).padStart(7)}s] ${message}\n`);
}

let interrupted = false;
/** Why the run stops early when it is not Ctrl-C: a server that went away. */
let failure: string | undefined;
const onStop: Array<() => void> = [];

function fail(reason: string): void {
  if (failure || interrupted) return;
  failure = reason;
  progress(`stopping: ${reason}`);
  for (const stop of onStop) stop();
}

async function main(options: BenchOptions): Promise<BenchResults> {
  const cleanups = new Cleanups(progress);
  try {
    return await measure(options, cleanups);
  } finally {
    await cleanups.runAll();
    progress('shut down');
  }
}

async function measure(options: BenchOptions, cleanups: Cleanups): Promise<BenchResults> {
  const machine = machineInfo();
  progress(`machine: ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB, node ${machine.node}, load ${machine.loadAverageAtStart.join(' ')}`);
  progress(
    `settings: ${options.users} users (growth from ${options.growthFrom}), ${options.connections} connections, ` +
      `${options.durationSeconds} s per phase after ${options.warmupSeconds} s warm-up`,
  );
  const env = await startEnvironment({ serviceEnv: options.serviceEnv, cleanups, progress, onUnexpectedExit: fail });
  const { db, service, baselines, client } = env;
  const load = new LoadGenerator(env.cpu, progress);
  onStop.push(() => load.stop());
  const aborted = () => interrupted || failure !== undefined;
  const settle = (label: string) => client.waitForReadModel(label, progress, { timeoutSeconds: 3_600, aborted });

  progress(`segments: creating 20 manual and ${PERCENTAGE_SEGMENTS.length} percentage segments over HTTP`);
  const segments = await createSegments(client, env.store);
  const manualSlugs = segments.manual.map((segment) => segment.slug);
  await settle('segments');
  const dataset = new Dataset(env, segments.manual, { seed: options.seed, batchUsers: options.seedBatch, progress, aborted, settle });

  const phases: PhaseResult[] = [];
  /** One measured phase, after the read model has caught up; `during` runs beside its measured part. */
  const measurePhase = async <T = undefined>(
    spec: { id: string; label: string; what: string; target: LoadTarget; durationSeconds?: number },
    during?: (signal: AbortSignal) => Promise<T>,
  ) => {
    await settle(`before ${spec.label}`);
    const { warmupSeconds, connections } = options;
    return load.measure({ ...spec, durationSeconds: spec.durationSeconds ?? options.durationSeconds, warmupSeconds, connections }, during);
  };
  /** A phase of the main table. */
  const phase = async <T = undefined>(
    id: string,
    label: string,
    what: string,
    target: LoadTarget,
    durationSeconds = options.durationSeconds,
    during?: (signal: AbortSignal) => Promise<T>,
  ): Promise<T | undefined> => {
    const measured = await measurePhase({ id, label, what, target, durationSeconds }, during);
    phases.push(measured.phase);
    return measured.side;
  };
  const serviceRead = (users: number): LoadTarget => ({ url: service.url, kind: 'serviceRead', users, token: TOKEN });
  const serviceWrite = (users: number): LoadTarget => ({ url: service.url, kind: 'serviceWrite', users, slugs: manualSlugs, token: TOKEN });
  const mix = (users: number): LoadTarget => ({ ...serviceWrite(users), kind: 'serviceMix' });
  /** The same short read and write phases at both sizes, for the growth ratios. */
  const growthPhases = async (size: 'Small' | 'Full', users: number) => {
    const seconds = Math.max(1, Math.round(options.durationSeconds / 2));
    const what = 'the same phase at both sizes, for the growth ratio';
    await phase(`serviceRead${size}`, `c. GET /users/{id}/segments at ${count(users)} users`, what, serviceRead(users), seconds);
    await phase(`serviceWrite${size}`, `e. POST /users/{id}/segments at ${count(users)} users`, what, serviceWrite(users), seconds);
  };

  // -- the smaller size first, then the full one
  await dataset.seed(1, options.growthFrom);
  // Otherwise the first phases would also measure the service's start, and the growth ratio with them.
  if (options.warmupSeconds > 0) {
    await load.warmUp('service warm-up', mix(options.growthFrom), options.connections, Math.max(5, options.durationSeconds));
  }
  await growthPhases('Small', options.growthFrom);
  const longUser = options.users + 1;
  await dataset.seed(options.growthFrom + 1, options.users, { userId: longUser, segment: segments.manual[0]!, events: options.longStream });
  await growthPhases('Full', options.users);

  // -- side by side at full size; the probes write to the last seeded users, which the load leaves alone
  const reserved = Math.max(1, Math.min(1_000, Math.floor(options.users / 100)));
  const loadUsers = options.users - reserved;
  const probeUsers: UserRange = { from: loadUsers + 1, to: options.users };
  const baseline = (kind: LoadTarget['kind']): LoadTarget => ({ url: baselines.url, kind, users: loadUsers });
  await phase('ping', 'a. bare fastify GET /ping', 'baselines process: a fixed JSON body, no database', baseline('ping'));
  await phase('baselineRead', 'b. baseline GET /read/{id}', "baselines process: one named prepared pg select of the user's rows in memberships, pg Pool of 10", baseline('baselineRead'));
  await phase('serviceRead', 'c. service GET /users/{id}/segments', 'the service read route', serviceRead(loadUsers));
  await phase('baselineWrite', 'd. baseline POST /write/{id}', 'baselines process: one transaction reading the stream end and inserting one event, pg Pool of 10', baseline('baselineWrite'));
  const projectionLag = await phase(
    'serviceWrite',
    'e. service POST /users/{id}/segments',
    'the service write route, add 2 manual slugs and remove 1; a lag probe writes beside it',
    serviceWrite(loadUsers),
    options.durationSeconds,
    (signal) => sampleProjectionLag(client, db.url, { users: probeUsers, slugs: manualSlugs, intervalMs: 50, pollMs: 2, signal }),
  );
  const readAfterWriteProbe = await phase(
    'serviceMix',
    'f. service 95 % reads / 5 % writes',
    'the read and write routes mixed; a read-after-write probe runs beside it',
    mix(loadUsers),
    options.durationSeconds,
    (signal) => readAfterWrite(client, { users: probeUsers, slugs: manualSlugs, signal }),
  );

  // Before the long stream and the bulk, which leave the database with more rows than seeded.
  const byId = (id: string) => phases.find((measured) => measured.id === id);
  const readViews = await compareReadViews({
    env,
    cleanups,
    progress,
    settle,
    measure: measurePhase,
    baselines: { ping: byId('ping'), baselineRead: byId('baselineRead') },
    loadUsers,
    probeUsers,
    manualSlugs,
    rssSettleSeconds: options.rssSettleSeconds,
    visibilityPairs: options.visibilityPairs,
    warmupSeconds: options.warmupSeconds,
  });

  await settle('before the long-stream writes');
  progress(`long stream: ${options.sequentialWrites} sequential writes to user ${longUser} (${options.longStream} events) and as many to fresh users`);
  const streamLength = await compareStreamLengths(client, {
    longUser,
    longStreamEvents: options.longStream,
    freshUsersFrom: longUser + 1,
    slug: segments.manual[0]!.slug,
    writes: options.sequentialWrites,
  });
  progress(
    `long stream: median ${streamLength.long.p50} ms against ${streamLength.fresh.p50} ms fresh (×${streamLength.medianRatio}), ` +
      `p99 ${streamLength.long.p99} against ${streamLength.fresh.p99} ms`,
  );

  await settle('before the bulk change');
  const bulkSlug = manualSlugs.at(-1)!;
  const bulk = await bulkUnderWrites(client, {
    slug: bulkSlug,
    users: options.bulkUsers,
    writers: options.bulkWriters,
    writeSlugs: manualSlugs.filter((slug) => slug !== bulkSlug),
    progress,
  });

  const { resultsDir: _resultsDir, writeDocs: _writeDocs, ...settings } = options;
  return {
    date: new Date(startedAt).toISOString(),
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    machine,
    code: codeVersion(),
    postgres: { version: db.version, kind: db.kind },
    settings: { ...settings, loadGenerator: 'autocannon 9 in a worker thread of the harness process', probeUsers },
    data: {
      users: options.users,
      manualSegments: segments.manual.length,
      percentageSegments: segments.percentage.map((segment, index) => ({ slug: segment.slug, percent: PERCENTAGE_SEGMENTS[index]! })),
      memberships: dataset.memberships,
      membershipsWithExpiry: dataset.membershipsWithExpiry,
      longStream: { userId: longUser, events: options.longStream },
    },
    seeding: dataset.steps,
    phases,
    projectionLag: projectionLag!,
    readAfterWrite: readAfterWriteProbe!,
    streamLength,
    bulk,
    readViews,
    ratios: ratiosOf(phases),
    outputLines: { service: service.outputLines(), baselines: baselines.outputLines() },
  };
}

async function cli(): Promise<number> {
  let options: BenchOptions | null;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  process.on('SIGINT', () => interrupt('SIGINT'));
  process.on('SIGTERM', () => interrupt('SIGTERM'));

  const results = await main(options);
  const file = await writeResults(options.resultsDir, results);
  progress(`results: ${path.relative(process.cwd(), file)} and latest.json`);
  const markdown = renderMarkdown(results);
  process.stdout.write(`${markdown}\n`);
  if (options.writeDocs) {
    await writeIntoDocs(DOCS_FILE, markdown);
    progress(`docs: the table is in ${path.relative(process.cwd(), DOCS_FILE)}`);
  }
  if (results.readAfterWrite.mismatches > 0) {
    progress(`FAILED: ${results.readAfterWrite.mismatches} reads did not show their write`);
    return 1;
  }
  return 0;
}

let interruptedAt = 0;
function interrupt(signal: string): void {
  // Ctrl-C reaches this process twice: from the terminal, and relayed by tsx's parent process.
  if (interrupted && Date.now() - interruptedAt > 1_000) {
    progress(`${signal} again: exiting now`);
    process.exit(130);
  }
  if (interrupted) return;
  interrupted = true;
  interruptedAt = Date.now();
  progress(`${signal}: stopping the load, the service, the baselines and PostgreSQL`);
  for (const stop of onStop) stop();
}

cli().then(
  (code) => exitSoon(interrupted ? 130 : code),
  (error: unknown) => {
    if (interrupted) progress(`interrupted${error instanceof Error && error.message !== 'interrupted' ? ` (${error.message})` : ''}`);
    else if (failure) progress(`failed: ${failure}`);
    else progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    exitSoon(interrupted ? 130 : 1);
  },
);

/** Exits once everything is closed; a handle left open is reported, not waited for. */
function exitSoon(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    progress('still running 5 s after shutdown: something kept a handle open; exiting');
    process.exit(code);
  }, 5_000).unref();
}
