// Projector failover between real processes: two processes with the projector role on one
// database, one active (it holds the projection's advisory lock) and one standing by. During a
// burst of writes the active one is killed with SIGKILL; the standby takes the lock and applies
// the events from the checkpoint within 5 s, and the read model ends equal to a verify (the
// replay `segments projections verify` runs). The killed process, started again, stands by.
import { sql } from 'slonik';
import { z } from 'zod';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgresEventStore';
import { freePort } from '../../src/platform/embeddedPostgres';
import { verifyReadModel } from '../../src/projections/rebuild/verifyReadModel';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { auditAgainstEvents, membershipsFromEvents, membershipsInReadModel, waitUntilProjected } from '../support/eventLogCheck';
import { startServiceProcess, waitUntilReady, type ServiceProcess } from '../support/serviceProcess';

const SLUGS = ['FAILOVER_A', 'FAILOVER_B', 'FAILOVER_C', 'FAILOVER_D'];
const CLIENTS = 8;
/** Answered writes before the kill. */
const KILL_AFTER = 150;
/** Writes go on this long after the standby has taken over. */
const WRITE_AFTER_TAKEOVER_MS = 2_000;
const TAKEOVER_LIMIT_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Projector {
  process: ServiceProcess;
  health: string;
}

/** A gauge of the projector's GET /metrics, e.g. segments_projection_active{projection="read_model"}. */
async function gauge(projector: Projector, series: string): Promise<number | undefined> {
  const response = await fetch(`${projector.health}/metrics`, { signal: AbortSignal.timeout(2_000) });
  const line = (await response.text()).split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const active = (projector: Projector) => gauge(projector, 'segments_projection_active{projection="read_model"}').catch(() => undefined);

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(25);
  }
}

describe('two projector processes on one database', () => {
  let db: TestDatabase;
  const processes: ServiceProcess[] = [];
  const startProjector = async (): Promise<Projector> => {
    const healthPort = await freePort();
    const started = await startServiceProcess({ DATABASE_URL: db.url, ROLES: 'projector', HEALTH_PORT: String(healthPort) });
    processes.push(started);
    return { process: started, health: `http://127.0.0.1:${healthPort}` };
  };
  const appliedEvents = () =>
    db.pool.maybeOneFirst(sql.type(z.object({ applied: z.coerce.number() }))`
      SELECT events_applied AS applied FROM projection_checkpoints WHERE projection = 'read_model'`);

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    for (const process of processes) if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGKILL');
    await Promise.all(processes.map((process) => process.exited));
    await db.drop();
  }, 30_000);

  it('the standby takes over within 5 s of a kill -9 of the active one during a write burst, and the read model equals a verify', async () => {
    // The first one is active before the second starts, so which one to kill is known.
    const first = await startProjector();
    await waitUntilReady({ ...first.process, url: first.health }, 60_000);
    await waitUntil('the first projector active', async () => (await active(first)) === 1, 30_000);
    const api = await startServiceProcess({ DATABASE_URL: db.url, ROLES: 'api', READ_VIEW: 'database' });
    processes.push(api);
    const second = await startProjector();
    // Hang guards: on a loaded machine a start alone has taken over 30 s.
    await Promise.all([waitUntilReady(api, 60_000), waitUntilReady({ ...second.process, url: second.health }, 60_000)]);
    const standby = await fetch(`${second.health}/health/ready`).then((response) => response.json() as Promise<{ checks: Array<{ name: string; detail?: string }> }>);
    expect(standby.checks.find((check) => check.name === 'projection read_model')?.detail).toBe('standby');
    expect(await active(second)).toBe(0);
    for (const slug of SLUGS) {
      expect((await fetch(`${api.url}/segments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ slug }) })).status).toBe(201);
    }

    let answered = 0;
    const statuses = new Map<number, number>();
    let writing = true;
    let killedAt = 0;
    const timings = { takeoverMs: -1, appliedMs: -1 };
    let failover: Promise<void> | undefined;
    const failOver = async () => {
      killedAt = Date.now();
      first.process.child.kill('SIGKILL');
      await first.process.exited;
      // The standby says it holds the lock: it is catching up or live.
      await waitUntil('the standby active', async () => (await active(second)) === 1, 30_000);
      timings.takeoverMs = Date.now() - killedAt;
      // And the read model moves again: the standby commits batches of the burst.
      const atTakeover = (await appliedEvents()) ?? 0;
      await waitUntil('the read model advancing', async () => ((await appliedEvents()) ?? 0) > atTakeover, 30_000);
      timings.appliedMs = Date.now() - killedAt;
      await sleep(WRITE_AFTER_TAKEOVER_MS);
      writing = false;
    };

    async function client(index: number) {
      for (let i = 0; writing; i++) {
        const userId = 1 + ((index * 7919 + i * 31) % 400);
        const add = [SLUGS[(index + i) % SLUGS.length]!];
        const remove = i % 3 === 0 ? [SLUGS[(index + i + 1) % SLUGS.length]!] : [];
        const response = await fetch(`${api.url}/users/${userId}/segments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ add, remove }),
          signal: AbortSignal.timeout(20_000),
        });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        answered += 1;
        if (answered === KILL_AFTER) {
          failover = failOver();
          failover.catch(() => (writing = false)); // awaited after the burst, which reports its failure
        }
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, (_, index) => client(index)));
    // A failed takeover says what the standby logged.
    await failover?.catch((error: Error) => {
      throw new Error(`${error.message}; the standby's output:\n${second.process.output().slice(-3_000)}`);
    });

    // The API process never depended on the projector: every write answered 200.
    expect(Object.fromEntries(statuses)).toEqual({ 200: answered });
    expect(answered).toBeGreaterThan(KILL_AFTER);
    console.log(`projector failover: standby active ${timings.takeoverMs} ms after the kill, read model advancing after ${timings.appliedMs} ms; ${answered} writes`);
    expect(timings.takeoverMs).toBeGreaterThanOrEqual(0);
    expect(timings.appliedMs).toBeLessThan(TAKEOVER_LIMIT_MS);

    // The read model equals the log, and a verify (a replay into scratch tables, compared table by table) finds nothing.
    await waitUntilProjected(db.pool, 30_000);
    expect(await membershipsInReadModel(db.pool)).toEqual(await membershipsFromEvents(db.pool));
    const { events: changes, audit } = await auditAgainstEvents(db.pool);
    expect(audit).toEqual(changes);
    const store = new PostgresEventStore(db.pool, { connectionString: db.url });
    try {
      const outcome = await verifyReadModel({ pool: db.pool, store });
      if (!outcome.verified) throw new Error(`verify did not run: ${outcome.reason}`);
      expect(outcome.report.differences).toEqual([]);
      expect(outcome.report.tables.find((table) => table.table === 'memberships')?.liveRows).toBeGreaterThan(0);
    } finally {
      await store.close();
    }

    // The killed process, started again, stands by while the other stays active.
    const restarted = await startProjector();
    await waitUntilReady({ ...restarted.process, url: restarted.health }, 60_000);
    expect(await active(restarted)).toBe(0);
    expect(await active(second)).toBe(1);

    for (const survivor of [api, second.process, restarted.process]) expect(await survivor.stop()).toBe(0);
  }, 240_000);
});
