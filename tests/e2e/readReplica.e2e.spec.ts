// Scale-out reads from a real PostgreSQL streaming replica: a projector process on the primary and
// two `api`-only processes with DATABASE_URL on the primary and READ_DATABASE_URL on the replica,
// one answering a user's segments from the read model's tables (READ_VIEW=database), one from its
// in-memory view. A write's X-Min-Position makes a read through the replica see the write; with
// the replica's replay paused, a read without it is behind, a read with it waits and gets 504 after
// 5 s, and answers once replay resumes. The in-memory view follows the event store on the primary,
// so its reads of a user's segments do not wait for the replica.
import { Client } from 'pg';
import { postgresBinDir, startStreamingReplica, type StreamingReplica } from '../support/streamingReplica';
import { callService, startServiceProcess, waitUntilReady, type ServiceAnswer, type ServiceProcess } from '../support/serviceProcess';

type AnswerBody = Record<string, unknown> & { segments?: Array<{ slug: string }>; entries?: Array<{ slug: string; operation: string }>; position?: string };
type Answer = ServiceAnswer<AnswerBody>;

const call = (service: ServiceProcess, method: string, route: string, options?: { body?: unknown; minPosition?: string }) =>
  callService<AnswerBody>(service, method, route, options);

const slugs = (answer: Answer) => (answer.body.segments ?? []).map((segment) => segment.slug);
/** The history of the manual segments (the percentage segment of the first test left its own entries). */
const historyOf = (answer: Answer) =>
  (answer.body.entries ?? []).filter((entry) => entry.slug !== 'R_AUTO').map((entry) => `${entry.operation} ${entry.slug}`);
const memberIds = (answer: Answer) => ((answer.body.members ?? []) as Array<{ userId: number }>).map((member) => member.userId);
const readinessOf = async (service: ServiceProcess) => {
  const answer = await call(service, 'GET', '/health/ready');
  const checks = (answer.body.checks ?? []) as Array<{ name: string; ok: boolean; detail?: string }>;
  return { status: answer.status, replica: checks.find((check) => check.name === 'read replica') };
};

/** Resolves once `probe` holds, polling; fails after `deadlineMs`. */
async function eventually(probe: () => Promise<boolean>, deadlineMs = 20_000): Promise<void> {
  for (const end = Date.now() + deadlineMs; !(await probe()); ) {
    if (Date.now() > end) throw new Error('not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function onPrimary<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

const binDir = postgresBinDir();
// Without PostgreSQL's own server binaries (pg_basebackup is not among the embedded ones) there is no replica to start.
const describeWithReplica = binDir ? describe : describe.skip;

describeWithReplica('api processes reading from a streaming replica (PostgreSQL server binaries in pg_config --bindir)', () => {
  let pg: StreamingReplica | undefined;
  const processes: ServiceProcess[] = [];
  let tables: ServiceProcess;
  let memory: ServiceProcess;

  beforeAll(async () => {
    pg = await startStreamingReplica(binDir);
    const projector = await startServiceProcess({ DATABASE_URL: pg.primaryUrl, ROLES: 'projector,timer' });
    processes.push(projector);
    await waitUntilReady(projector);
    // Readiness fails once the replica is more than PROJECTION_STALL_SECONDS behind the primary.
    const api = { DATABASE_URL: pg.primaryUrl, READ_DATABASE_URL: pg.replicaUrl, ROLES: 'api', PROJECTION_STALL_SECONDS: '2' };
    tables = await startServiceProcess({ ...api, READ_VIEW: 'database' });
    memory = await startServiceProcess({ ...api, READ_VIEW: 'memory' });
    processes.push(tables, memory);
    await Promise.all([waitUntilReady(tables), waitUntilReady(memory)]);
    for (const slug of ['R_ONE', 'R_TWO']) expect((await call(tables, 'POST', '/segments', { body: { slug } })).status).toBe(201);
  }, 180_000);

  afterAll(async () => {
    try {
      const codes = await Promise.all(processes.map((process) => process.stop()));
      expect(codes).toEqual(processes.map(() => 0));
    } finally {
      await pg?.remove();
    }
  }, 60_000);

  it('a write read back through the replica with its X-Min-Position is always there', async () => {
    // A percentage segment, raised halfway: the replica's reads compute it from the replica's data.
    expect((await call(memory, 'POST', '/segments', { body: { slug: 'R_AUTO', autoAssignPercent: 30 } })).status).toBe(201);
    for (let i = 0; i < 30; i++) {
      if (i === 15) expect((await call(tables, 'PATCH', '/segments/R_AUTO', { body: { autoAssignPercent: 100 } })).status).toBe(200);
      const userId = 100 + (i % 5);
      const [writer, reader] = i % 2 === 0 ? [tables, memory] : [memory, tables];
      const had = slugs(await call(writer, 'GET', `/users/${userId}/segments`)).includes('R_ONE');
      const write = await call(writer, 'POST', `/users/${userId}/segments`, { body: had ? { remove: ['R_ONE'] } : { add: ['R_ONE'] } });
      expect(write.status).toBe(200);
      const minPosition = write.body.position!;
      // A user's segments from the replica's tables, and from the other process's view.
      const fromTables = await call(tables, 'GET', `/users/${userId}/segments`, { minPosition });
      expect([fromTables.status, slugs(fromTables)]).toEqual([200, slugs(write)]);
      const fromView = await call(memory, 'GET', `/users/${userId}/segments`, { minPosition });
      expect([fromView.status, slugs(fromView)]).toEqual([200, slugs(write)]);
      // History, members and counts come from the replica in both processes.
      const history = await call(reader, 'GET', `/users/${userId}/history`, { minPosition });
      expect(historyOf(history).at(-1)).toBe(`${had ? 'removed' : 'added'} R_ONE`);
      const members = await call(reader, 'GET', '/segments/R_ONE/members', { minPosition });
      expect(memberIds(members).includes(userId)).toBe(!had);
      const segment = await call(reader, 'GET', '/segments/R_ONE', { minPosition });
      expect(segment.body.memberCount).toBe(memberIds(members).length);
    }
    expect(slugs(await call(tables, 'GET', '/users/100/segments'))).toContain('R_AUTO');
    const deleted = await call(tables, 'DELETE', '/segments/R_AUTO');
    expect(deleted.status).toBe(204);
    const after = await call(tables, 'GET', '/users/100/segments', { minPosition: deleted.xPosition! });
    expect(slugs(after)).not.toContain('R_AUTO');
  }, 120_000);

  it('with replay paused, a read without X-Min-Position is behind, one with it waits, gets 504 after 5 s, and answers once replay resumes', async () => {
    const first = await call(tables, 'POST', '/users/500/segments', { body: { add: ['R_ONE'] } });
    expect((await call(tables, 'GET', '/users/500/history', { minPosition: first.body.position })).status).toBe(200);
    await pg!.pauseReplay();
    try {
      const second = await call(tables, 'POST', '/users/500/segments', { body: { add: ['R_TWO'] } });
      expect(second.status).toBe(200);
      const minPosition = second.body.position!;
      // The projector has applied it on the primary…
      await eventually(async () => (await onPrimary(pg!.primaryUrl, 'SELECT 1 FROM memberships WHERE user_id = 500')).length === 2);
      expect((await readinessOf(tables)).status).toBe(200); // the first look at the lag: the replica is 0 s behind so far

      // …but the replica has not: without the header the read answers at once, from before the write.
      expect(slugs(await call(tables, 'GET', '/users/500/segments'))).toEqual(['R_ONE']);
      expect(historyOf(await call(memory, 'GET', '/users/500/history'))).toEqual(['added R_ONE']);
      expect(memberIds(await call(memory, 'GET', '/segments/R_TWO/members'))).toEqual([]);

      // With the header it waits for the replica, and gives up after 5 s.
      const started = Date.now();
      const [segments, history] = await Promise.all([
        call(tables, 'GET', '/users/500/segments', { minPosition }),
        call(memory, 'GET', '/users/500/history', { minPosition }),
      ]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
      for (const answer of [segments, history]) {
        expect(answer.status).toBe(504);
        expect(answer.contentType).toMatch(/^application\/problem\+json/);
        expect(answer.body.type).toMatch(/position-not-reached$/);
      }
      // The in-memory view follows the event store on the primary: it has the write already.
      const fromView = await call(memory, 'GET', '/users/500/segments', { minPosition });
      expect([fromView.status, slugs(fromView)]).toEqual([200, ['R_ONE', 'R_TWO']]);

      // The replica has now been behind for more than PROJECTION_STALL_SECONDS (2): not ready.
      const lagging = await readinessOf(tables);
      expect(lagging.status).toBe(503);
      expect(lagging.replica).toEqual({ name: 'read replica', ok: false, detail: expect.stringMatching(/^\d+\.\d s behind the primary$/) });

      // A read waiting when replay resumes answers with the write.
      const waiting = call(tables, 'GET', '/users/500/segments', { minPosition });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await pg!.resumeReplay();
      const answered = await waiting;
      expect([answered.status, slugs(answered)]).toEqual([200, ['R_ONE', 'R_TWO']]);
      expect(historyOf(await call(memory, 'GET', '/users/500/history', { minPosition }))).toEqual(['added R_ONE', 'added R_TWO']);
    } finally {
      await pg!.resumeReplay();
    }
    await eventually(async () => (await readinessOf(tables)).status === 200);
    expect((await readinessOf(tables)).replica).toEqual({ name: 'read replica', ok: true });
  }, 60_000);

  it('a replica that does not answer makes readiness fail, naming it; reads come back with it', async () => {
    await pg!.stopReplica();
    try {
      for (const service of [tables, memory]) {
        const ready = await readinessOf(service);
        expect([ready.status, ready.replica]).toEqual([503, { name: 'read replica', ok: false, detail: 'does not answer' }]);
      }
      const history = await call(tables, 'GET', '/users/500/history');
      expect([history.status, history.contentType]).toEqual([503, expect.stringMatching(/^application\/problem\+json/)]);
      // The in-memory view needs no replica to answer a user's segments.
      expect(slugs(await call(memory, 'GET', '/users/500/segments'))).toEqual(['R_ONE', 'R_TWO']);
    } finally {
      await pg!.startReplica();
    }
    await eventually(async () => (await readinessOf(tables)).status === 200 && (await readinessOf(memory)).status === 200);
    expect(historyOf(await call(tables, 'GET', '/users/500/history'))).toEqual(['added R_ONE', 'added R_TWO']);
  }, 60_000);
});
