// The read views side by side (issue 12): API-only processes of the service (ROLES=api) started on
// the seeded database, one answering reads from its in-memory view (READ_VIEW=memory), one from the
// read model's tables (READ_VIEW=database). For each: the time from spawning it to ready, its
// resident memory when idle, and its read route under load, alone; then a second memory-mode process,
// and how soon a write through one is visible through the other while the service takes writes.
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { Cleanups, Environment } from './environment';
import { TOKEN } from './environment';
import { megabytes, number } from './format';
import type { LoadTarget, PhaseResult } from './load';
import type { UserRange } from './probes';
import { startApiProcess, type ChildServer } from './processes';
import { residentMemoryOf, type ResidentMemory } from './residentMemory';
import { ServiceClient } from './serviceClient';
import { ratio, round } from './stats';
import { sampleVisibility, type VisibilityProbe } from './visibility';

export type ReadView = 'memory' | 'database';

export interface ApiProcessFigures {
  name: string;
  readView: ReadView;
  /** From spawning the process to the first 200 of GET /health/ready (every 50 ms). */
  startToReadyMs: number;
  /** startupMs of its 'segments service ready' line; null at LOG_LEVEL=warn, which leaves it out. */
  loggedStartupMs: number | null;
  /** After `rssSettleSeconds` idle once ready, before any load. */
  idle: ResidentMemory | null;
  /** Right after that, once a full garbage collection has run (bench/fullCollection.ts). */
  afterCollection: ResidentMemory | null;
  /** After the phase that loaded it. */
  afterLoad: ResidentMemory | null;
  outputLines: number;
}

export interface TargetCheck {
  target: string;
  measured: string;
  /** null when the figure is missing. */
  met: boolean | null;
}

export interface ReadViewResults {
  /** `SELECT count(*) FROM memberships` when the idle resident memory was read. */
  memberships: number;
  rssSettleSeconds: number;
  /** The first memory-mode process, the database-mode one, the second memory-mode one. */
  processes: ApiProcessFigures[];
  /** readMemory, readDatabase, visibilityWrites. */
  phases: PhaseResult[];
  /** (idle RSS in memory mode − idle RSS in database mode) ÷ memberships, of the first two processes. */
  bytesPerMembership: number | null;
  /** The same after a full collection in both: what the view keeps, without garbage not yet collected. */
  bytesPerMembershipAfterCollection: number | null;
  ratios: {
    memoryReadToPing: number | null;
    memoryReadToBaselineRead: number | null;
    databaseReadToPing: number | null;
    databaseReadToBaselineRead: number | null;
    memoryReadToDatabaseRead: number | null;
    memoryReadP99ToDatabaseReadP99: number | null;
  };
  visibility: VisibilityProbe;
  targets: TargetCheck[];
}

type Measure = <T = undefined>(
  spec: { id: string; label: string; what: string; target: LoadTarget },
  during?: (signal: AbortSignal) => Promise<T>,
) => Promise<{ phase: PhaseResult; side: T | undefined }>;

export async function compareReadViews(context: {
  env: Environment;
  cleanups: Cleanups;
  progress: (message: string) => void;
  /** Waits until the read model has no pending event. */
  settle: (label: string) => Promise<unknown>;
  /** A measured load phase, after the read model has caught up. */
  measure: Measure;
  /** Phases a and b of this run, the baselines of the ratios. */
  baselines: { ping: PhaseResult | undefined; baselineRead: PhaseResult | undefined };
  loadUsers: number;
  probeUsers: UserRange;
  manualSlugs: readonly string[];
  rssSettleSeconds: number;
  visibilityPairs: number;
  warmupSeconds: number;
}): Promise<ReadViewResults> {
  const { env, progress, measure, loadUsers } = context;
  const figures = new Map<ChildServer, ApiProcessFigures>();
  const unwatch = new Map<ChildServer, () => void>();
  const start = async (name: string, readView: ReadView) => {
    progress(`read views: starting ${name} (ROLES=api, READ_VIEW=${readView})`);
    const server = await startApiProcess(name, readView, env.serviceSettings);
    context.cleanups.add(`stop ${name}`, () => server.stop());
    unwatch.set(server, env.cpu.watch(server.pid));
    const { startToReadyMs } = server;
    figures.set(server, { name, readView, startToReadyMs, loggedStartupMs: null, idle: null, afterCollection: null, afterLoad: null, outputLines: 0 });
    return server;
  };
  const stop = async (server: ChildServer) => {
    unwatch.get(server)?.();
    const entry = figures.get(server)!;
    entry.loggedStartupMs = server.loggedStartupMs();
    await server.stop();
    entry.outputLines = server.outputLines();
  };
  const settleThenReadMemory = async (servers: ChildServer[]) => {
    progress(`read views: ${context.rssSettleSeconds} s idle, then the resident memory of ${servers.map((server) => server.name).join(' and ')}`);
    await sleep(context.rssSettleSeconds * 1000);
    for (const server of servers) {
      const idle = residentMemoryOf(server.pid);
      figures.get(server)!.idle = idle;
      await server.collectGarbage();
      const afterCollection = residentMemoryOf(server.pid);
      figures.get(server)!.afterCollection = afterCollection;
      progress(
        `read views: ${server.name} resident ${megabytes(idle?.rssBytes)} idle (peak ${megabytes(idle?.peakRssBytes)}), ` +
          `${megabytes(afterCollection?.rssBytes)} after a full collection`,
      );
    }
  };
  const read = (server: ChildServer): LoadTarget => ({ url: server.url, kind: 'serviceRead', users: loadUsers, token: TOKEN });
  const readPhase = async (id: string, label: string, server: ChildServer, readView: ReadView) => {
    const { phase } = await measure({
      id,
      label,
      what: `an API-only process of the service (ROLES=api, READ_VIEW=${readView}) on the same database, alone under load`,
      target: read(server),
    });
    figures.get(server)!.afterLoad = residentMemoryOf(server.pid);
    return phase;
  };

  // On a quiet machine and a caught-up read model, the memory-mode process first: its start is one of the figures.
  await context.settle('before the read views');
  const memory = await start('api-memory', 'memory');
  const database = await start('api-database', 'database');
  await settleThenReadMemory([memory, database]);
  const memberships = await countMemberships(env.db.url);
  const readMemory = await readPhase('readMemory', 'g. GET /users/{id}/segments, API-only process, READ_VIEW=memory', memory, 'memory');
  const readDatabase = await readPhase('readDatabase', 'h. GET /users/{id}/segments, API-only process, READ_VIEW=database', database, 'database');
  await stop(database);

  await context.settle('before the second memory-mode process');
  const second = await start('api-memory-2', 'memory');
  await settleThenReadMemory([second]);
  const pair = [new ServiceClient(memory.url, TOKEN), new ServiceClient(second.url, TOKEN)] as const;
  const probe = { users: context.probeUsers, slugs: context.manualSlugs, pairs: context.visibilityPairs };
  if (context.warmupSeconds > 0) {
    // The pairs' routes in both processes run compiled before the first sample.
    await sampleVisibility(pair, { ...probe, signal: AbortSignal.timeout(context.warmupSeconds * 1000) });
  }
  const { phase: visibilityWrites, side: visibility } = await measure(
    {
      id: 'visibilityWrites',
      label: 'i. service POST /users/{id}/segments, visibility probe beside it',
      what: "the service write route as in e; beside it, writes through one memory-mode API process read through the other with the write's X-Position",
      target: { url: env.service.url, kind: 'serviceWrite', users: loadUsers, slugs: context.manualSlugs, token: TOKEN },
    },
    (signal) => sampleVisibility(pair, { ...probe, signal }),
  );
  figures.get(memory)!.afterLoad = residentMemoryOf(memory.pid);
  figures.get(second)!.afterLoad = residentMemoryOf(second.pid);
  progress(
    `read views: write to visible in the other process p50 ${visibility!.samples.p50} / p99 ${visibility!.samples.p99} / ` +
      `max ${visibility!.samples.max} ms (${visibility!.samples.count} samples, ${visibility!.mismatches} mismatches, ` +
      `${visibility!.failedReads} failed reads, ${visibility!.failedWrites} failed writes)`,
  );
  await stop(memory);
  await stop(second);

  const perMembership = (inMemory: ResidentMemory | null, inDatabase: ResidentMemory | null) =>
    inMemory && inDatabase && memberships > 0 ? round((inMemory.rssBytes - inDatabase.rssBytes) / memberships, 1) : null;
  const bytesPerMembership = perMembership(figures.get(memory)!.idle, figures.get(database)!.idle);
  const bytesPerMembershipAfterCollection = perMembership(figures.get(memory)!.afterCollection, figures.get(database)!.afterCollection);
  const { ping, baselineRead } = context.baselines;
  const results: Omit<ReadViewResults, 'targets'> = {
    memberships,
    rssSettleSeconds: context.rssSettleSeconds,
    processes: [memory, database, second].map((server) => figures.get(server)!),
    phases: [readMemory, readDatabase, visibilityWrites],
    bytesPerMembership,
    bytesPerMembershipAfterCollection,
    ratios: {
      memoryReadToPing: ratio(readMemory.requestsPerSecond, ping?.requestsPerSecond),
      memoryReadToBaselineRead: ratio(readMemory.requestsPerSecond, baselineRead?.requestsPerSecond),
      databaseReadToPing: ratio(readDatabase.requestsPerSecond, ping?.requestsPerSecond),
      databaseReadToBaselineRead: ratio(readDatabase.requestsPerSecond, baselineRead?.requestsPerSecond),
      memoryReadToDatabaseRead: ratio(readMemory.requestsPerSecond, readDatabase.requestsPerSecond),
      memoryReadP99ToDatabaseReadP99: ratio(readMemory.latencyMs.p99, readDatabase.latencyMs.p99),
    },
    visibility: visibility!,
  };
  return { ...results, targets: issue12Targets(results) };
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);

async function countMemberships(databaseUrl: string): Promise<number> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ count: string }>('SELECT count(*) AS count FROM memberships');
    return Number(rows[0]?.count ?? 0);
  } finally {
    await client.end();
  }
}

/** Issue 12's targets against this run's figures. */
function issue12Targets(results: Omit<ReadViewResults, 'targets'>): TargetCheck[] {
  const [memory, , second] = results.processes;
  const [readMemory, readDatabase] = results.phases;
  const readTarget = (view: ReadView, phase: PhaseResult | undefined, toPing: number | null): TargetCheck => ({
    target: `GET /users/{id}/segments, READ_VIEW=${view}: ≥ 0.5× bare fastify (a) req/s, p99 ≤ 5 ms`,
    measured: toPing === null || !phase ? 'n/a' : `${toPing.toFixed(3)}×, p99 ${phase.latencyMs.p99} ms`,
    met: toPing === null || !phase ? null : toPing >= 0.5 && phase.latencyMs.p99 <= 5,
  });
  const rss = memory?.idle?.rssBytes;
  const { visibility: v, bytesPerMembership, bytesPerMembershipAfterCollection: afterCollection } = results;
  return [
    readTarget('memory', readMemory, results.ratios.memoryReadToPing),
    readTarget('database', readDatabase, results.ratios.databaseReadToPing),
    {
      target: 'resident memory of a memory-mode API process, idle, ≤ 500 MB',
      measured: rss === undefined ? 'n/a' : `${megabytes(rss)} (second process: ${megabytes(second?.idle?.rssBytes)})`,
      met: rss === undefined ? null : rss <= 500e6,
    },
    {
      target: '(memory-mode − database-mode resident memory, after a full collection) ÷ memberships: ≤ ~85 bytes',
      measured:
        afterCollection === null ? 'n/a' : `${number(afterCollection, 1)} bytes (before the collection: ${bytesPerMembership === null ? 'n/a' : number(bytesPerMembership, 1)})`,
      met: afterCollection === null ? null : afterCollection <= 85,
    },
    {
      target: 'a memory-mode API process on the seeded data, spawned to ready: ≤ 10 s',
      measured: memory ? `${seconds(memory.startToReadyMs)} s (second process: ${second ? seconds(second.startToReadyMs) : 'n/a'} s)` : 'n/a',
      met: memory ? memory.startToReadyMs <= 10_000 : null,
    },
    {
      target: 'a write visible through another API process under the write load: p99 ≤ 100 ms',
      measured:
        `p99 ${v.samples.p99} ms over ${v.samples.count} samples` +
        (v.mismatches + v.failedReads > 0 ? `; ${v.mismatches} mismatches, ${v.failedReads} reads not answered 200` : ''),
      met: v.samples.count === 0 ? null : v.samples.p99 <= 100 && v.mismatches === 0 && v.failedReads === 0,
    },
  ];
}
