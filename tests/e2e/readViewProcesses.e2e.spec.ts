// Read-your-writes across processes with in-memory views: two API processes and one projector
// process on one database. A write through one API process, then a read through the other with
// the write's X-Min-Position, always sees the write, whichever the change: an add, a removal, a
// TTL, a percentage change, a segment's deletion. A process started later is ready only once its
// view holds what the read model held when it started.
import { sql } from 'slonik';
import { isInPercentage } from '../../src/domain/percentage';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { callService, startServiceProcess, waitUntilReady, type ServiceAnswer, type ServiceProcess } from '../support/serviceProcess';

type AnswerBody = { segments?: Array<{ slug: string; source: string; expiresAt: string | null }> } & Record<string, unknown>;
type Answer = ServiceAnswer<AnswerBody>;

const call = (service: ServiceProcess, method: string, route: string, options?: { body?: unknown; minPosition?: string }) =>
  callService<AnswerBody>(service, method, route, options);

const slugsOf = (answer: Answer) => (answer.body.segments ?? []).map((segment) => `${segment.slug}:${segment.source}`);

describe('in-memory views in two API processes beside a projector process', () => {
  let db: TestDatabase;
  const processes: ServiceProcess[] = [];
  let a: ServiceProcess;
  let b: ServiceProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = { DATABASE_URL: db.url, READ_VIEW: 'memory' };
    processes.push(await startServiceProcess({ ...env, ROLES: 'projector,timer' }));
    a = await startServiceProcess({ ...env, ROLES: 'api' });
    b = await startServiceProcess({ ...env, ROLES: 'api' });
    processes.push(a, b);
    await Promise.all([waitUntilReady(a), waitUntilReady(b)]);
  }, 150_000);

  afterAll(async () => {
    const codes = await Promise.all(processes.map((process) => process.stop()));
    expect(codes.every((code) => code === 0)).toBe(true);
    await db.drop();
  }, 60_000);

  it('a write through one process is seen through the other with its X-Min-Position, every time', async () => {
    expect((await call(a, 'POST', '/segments', { body: { slug: 'X_MANUAL' } })).status).toBe(201);
    expect((await call(b, 'POST', '/segments', { body: { slug: 'X_OTHER' } })).status).toBe(201);
    for (let i = 0; i < 40; i++) {
      const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
      const userId = 100 + (i % 10);
      const before = slugsOf(await call(writer, 'GET', `/users/${userId}/segments`));
      const change =
        before.includes('X_MANUAL:manual') ? { remove: ['X_MANUAL'], add: [{ slug: 'X_OTHER', ttlSeconds: 3_600 }] } : { add: ['X_MANUAL'] };
      const write = await call(writer, 'POST', `/users/${userId}/segments`, { body: change });
      expect(write.status).toBe(200);
      const read = await call(reader, 'GET', `/users/${userId}/segments`, { minPosition: write.xPosition! });
      expect(read.status).toBe(200);
      expect(slugsOf(read)).toEqual(slugsOf(write));
    }
  }, 60_000);

  it('a percentage change and a deletion through one process are seen through the other', async () => {
    const inBucket = Array.from({ length: 500 }, (_, index) => 5_000 + index);
    const created = await call(a, 'POST', '/segments', { body: { slug: 'X_PERCENT', autoAssignPercent: 20 } });
    expect(created.status).toBe(201);
    const raised = await call(a, 'PATCH', '/segments/X_PERCENT', { body: { autoAssignPercent: 60 } });
    expect(raised.status).toBe(200);
    // A user the raise took in: read through the other process at the raise's position.
    const seed = (await db.pool.oneFirst(sql.unsafe`
      SELECT data->>'rolloutSeed' FROM events WHERE stream_id = 'segment-X_PERCENT' AND type = 'SegmentCreated'`)) as string;
    const raisedIn = inBucket.find((userId) => !isInPercentage(seed, 20, userId) && isInPercentage(seed, 60, userId))!;
    expect(raisedIn).toBeDefined();
    const afterRaise = await call(b, 'GET', `/users/${raisedIn}/segments`, { minPosition: raised.xPosition! });
    expect(slugsOf(afterRaise)).toEqual(['X_PERCENT:auto']);

    const removed = await call(b, 'DELETE', '/segments/X_PERCENT');
    expect(removed.status).toBeLessThan(300);
    const afterDelete = await call(a, 'GET', `/users/${raisedIn}/segments`, { minPosition: removed.xPosition! });
    expect(slugsOf(afterDelete)).toEqual([]);
  }, 30_000);

  it('a process started later is ready only with everything the read model held when it started', async () => {
    const write = await call(a, 'POST', '/users/9001/segments', { body: { add: ['X_MANUAL'] } });
    // Wait until the projector has applied the write: from then on a new process must know it.
    expect((await call(a, 'GET', '/segments/X_MANUAL/members', { minPosition: write.xPosition! })).status).toBe(200);
    const late = await startServiceProcess({ DATABASE_URL: db.url, ROLES: 'api', READ_VIEW: 'memory' });
    processes.push(late);
    await waitUntilReady(late);
    // Ready means loaded: the view holds every membership the read model holds (nothing writes meanwhile).
    const ready = await call(late, 'GET', '/health/ready');
    const view = (ready.body.checks as Array<{ name: string; ok: boolean; detail?: string }>).find((check) => check.name === 'read view');
    const memberships = await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM memberships`);
    expect(view).toEqual({ name: 'read view', ok: true, detail: `${memberships} memberships` });
    // No X-Min-Position: ready means the view already holds it.
    expect(slugsOf(await call(late, 'GET', '/users/9001/segments'))).toEqual(['X_MANUAL:manual']);
  }, 90_000);
});
