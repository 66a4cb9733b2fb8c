// Rebuilding the read model while the service answers: POST /projections/read_model/rebuild, its
// progress in GET /projections, writes and reads answering throughout, and a verify at the end.
import type { LightMyRequestResponse } from 'fastify';
import { verifyReadModel } from '../../src/projections/rebuild/verifyReadModel';
import { holdAdvisoryLock } from '../support/advisoryLock';
import { startTestService, type TestService } from '../support/testService';

const tokens = [
  { name: 'dashboard', token: 'read-token-0123456789', scope: 'read' as const },
  { name: 'analysts', token: 'write-token-0123456789', scope: 'write' as const },
  { name: 'ops', token: 'admin-token-0123456789', scope: 'admin' as const },
];
const [reader, writer, admin] = tokens.map(({ token }) => ({ authorization: `Bearer ${token}` }));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('rebuilding the read model over HTTP', () => {
  let t: TestService;
  const as = (headers: Record<string, string>, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    t.request({ method, url, headers, ...(payload ? { payload } : {}) });
  const ok = async (response: Promise<LightMyRequestResponse>) => {
    const answered = await response;
    if (answered.statusCode >= 300) throw new Error(`${answered.statusCode}: ${answered.body}`);
    return answered;
  };
  const projection = async () => (await ok(as(admin!, 'GET', '/projections/read_model'))).json();
  const waitForRebuild = async (state: string) => {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(20)) {
      const { rebuild } = await projection();
      if (rebuild?.state === state) return rebuild;
      if (rebuild?.state === 'failed') throw new Error(`the rebuild failed: ${rebuild.error}`);
    }
    throw new Error(`the rebuild did not reach ${state} within 60 s`);
  };

  beforeAll(async () => {
    t = await startTestService({ apiTokens: tokens, readView: 'database' });
    for (const slug of ['A', 'B', 'C', 'GONE']) await ok(as(writer!, 'POST', '/segments', { slug }));
    await ok(as(writer!, 'POST', '/segments', { slug: 'AUTO', autoAssignPercent: 30 }));
    // Every kind of row the read model holds: bulk memberships, a deleted segment's members (the
    // outbox and its sweep), expiries and their changes, an opt-out, a percentage change.
    await ok(as(writer!, 'POST', '/segments/A/members', { add: range(1, 4000) }));
    await ok(as(writer!, 'POST', '/segments/B/members', { add: range(1, 4000) }));
    await ok(as(writer!, 'POST', '/segments/C/members', { add: range(2001, 6000) }));
    await ok(as(writer!, 'POST', '/segments/GONE/members', { add: range(1, 300) }));
    await ok(as(writer!, 'DELETE', '/segments/GONE'));
    await ok(as(writer!, 'POST', '/users/7001/segments', { add: [{ slug: 'A', ttlSeconds: 3600 }] }));
    await ok(as(writer!, 'POST', '/users/7001/segments', { add: [{ slug: 'A', ttlSeconds: 7200 }] }));
    for (const userId of range(7002, 7100)) {
      const { segments } = (await ok(as(reader!, 'GET', `/users/${userId}/segments`))).json();
      if (segments.some((segment: { source: string }) => segment.source === 'auto')) {
        await ok(as(writer!, 'POST', `/users/${userId}/segments`, { remove: ['AUTO'] }));
        break;
      }
    }
    await ok(as(writer!, 'PATCH', '/segments/AUTO', { autoAssignPercent: 40 }));
    await t.settle();
  }, 120_000);
  afterAll(() => t.close());

  it('needs the admin scope, and answers 404 for a projection that does not exist', async () => {
    expect((await as({}, 'POST', '/projections/read_model/rebuild')).statusCode).toBe(401);
    expect((await as(reader!, 'POST', '/projections/read_model/rebuild')).statusCode).toBe(403);
    const forbidden = await as(writer!, 'POST', '/projections/read_model/rebuild');
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json()).toMatchObject({ type: '/problems/forbidden', requiredScope: 'admin' });
    const unknown = await as(admin!, 'POST', '/projections/read_models/rebuild');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.json()).toMatchObject({ type: '/problems/projection-not-found', status: 404, projection: 'read_models' });
    expect((await as(admin!, 'GET', '/projections/read_models')).statusCode).toBe(404);
    expect((await projection()).rebuild).toBeNull();
  });

  it('shows the progress of a rebuild waiting for its swap, and answers 409 to a second one meanwhile', async () => {
    // Standing in for a projector batch that takes long: the swap waits for it.
    const batch = await holdAdvisoryLock(t.db.pool, 'projection-pause:read_model');
    try {
      const started = await as(admin!, 'POST', '/projections/read_model/rebuild');
      expect(started.statusCode).toBe(202);
      expect(started.headers.location).toBe('/projections/read_model');
      expect(started.json()).toMatchObject({ projection: 'read_model', rebuild: { finishedAt: null, error: null } });
      const waiting = await waitForRebuild('swapping');
      const { position, eventsApplied } = await projection();
      expect(waiting).toMatchObject({ eventsDone: eventsApplied, eventsTotal: eventsApplied, percent: 100, position, finishedAt: null });
      expect(waiting.eventsPerSecond).toBeGreaterThan(0);

      const second = await as(admin!, 'POST', '/projections/read_model/rebuild');
      expect(second.statusCode).toBe(409);
      expect(second.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(second.json()).toMatchObject({ type: '/problems/rebuild-running', rebuild: { state: 'swapping' } });
    } finally {
      await batch.release();
    }
    const finished = await waitForRebuild('finished');
    const after = await projection();
    expect(finished).toMatchObject({ percent: 100, etaSeconds: null, error: null, position: after.position });
    expect(after).toMatchObject({ state: 'live', lastError: null, lagEvents: 0, lagMs: 0 });
  });

  it('keeps answering writes and reads while it rebuilds, and ends equal to a verify', async () => {
    // Stable users: every read of them, before, during and after the swap, must give the same segments.
    const stable = [1, 1500, 2500, 3999, 5000, 7001];
    const before = new Map<number, unknown>();
    for (const userId of stable) before.set(userId, (await ok(as(reader!, 'GET', `/users/${userId}/segments`))).json());

    const expected = new Map<number, Set<string>>();
    const failures: string[] = [];
    let writes = 0;
    let reads = 0;
    let stopping = false;
    const writeLoop = async (users: number[]) => {
      for (let round = 0; !stopping; round++) {
        const userId = users[round % users.length]!;
        const slug = ['A', 'B', 'C'][round % 3]!;
        const add = round % 4 !== 3;
        const answer = await as(writer!, 'POST', `/users/${userId}/segments`, add ? { add: [slug] } : { remove: [slug] });
        if (answer.statusCode !== 200) failures.push(`write ${answer.statusCode}: ${answer.body}`);
        const segments = expected.get(userId) ?? new Set();
        if (add) segments.add(slug);
        else segments.delete(slug);
        expected.set(userId, segments);
        writes++;
      }
    };
    const readLoop = async () => {
      for (let round = 0; !stopping; round++) {
        const userId = stable[round % stable.length]!;
        const answer = await as(reader!, 'GET', `/users/${userId}/segments`);
        if (answer.statusCode !== 200) failures.push(`read ${answer.statusCode}: ${answer.body}`);
        else if (JSON.stringify(answer.json()) !== JSON.stringify(before.get(userId))) failures.push(`user ${userId} read ${answer.body}`);
        const members = await as(reader!, 'GET', '/segments/B/members?limit=3');
        if (members.statusCode !== 200 || members.json().members.length !== 3) failures.push(`members ${members.statusCode}: ${members.body}`);
        reads++;
      }
    };
    const loops = [writeLoop(range(8000, 8049)), writeLoop(range(8050, 8099)), writeLoop(range(8100, 8149)), readLoop(), readLoop()];
    try {
      await sleep(200);
      const writesBefore = writes;
      const started = await as(admin!, 'POST', '/projections/read_model/rebuild');
      expect(started.statusCode).toBe(202);
      const finished = await waitForRebuild('finished');
      const writesDuring = writes - writesBefore;
      // And on after the swap, into the new tables.
      for (const until = writes + 30; writes < until; ) await sleep(10);
      stopping = true;
      await Promise.all(loops);
      expect(failures).toEqual([]);
      expect(writesDuring).toBeGreaterThan(0);
      expect(reads).toBeGreaterThan(0);
      expect(finished.eventsDone).toBeGreaterThan(12_000);
    } finally {
      stopping = true;
      await Promise.all(loops);
    }
    await t.settle();

    for (const [userId, segments] of expected) {
      const { segments: now } = (await ok(as(reader!, 'GET', `/users/${userId}/segments`))).json();
      const manual = now.filter((segment: { source: string }) => segment.source === 'manual').map((segment: { slug: string }) => segment.slug);
      expect({ userId, segments: manual.sort() }).toEqual({ userId, segments: [...segments].sort() });
    }
    const store = t.createEventStore();
    try {
      const outcome = await verifyReadModel({ pool: t.db.pool, store });
      if (!outcome.verified) throw new Error(outcome.reason);
      expect(outcome.report.differences).toEqual([]);
      expect(outcome.report.tables.map((table) => table.table)).toEqual([
        'segments',
        'memberships',
        'membership_audit',
        'membership_expiry_changes',
        'percentage_changes',
        'auto_membership_opt_outs',
      ]);
      expect(outcome.report.tables.every((table) => table.liveRows > 0)).toBe(true);
    } finally {
      await store.close();
    }
    expect(await projection()).toMatchObject({ state: 'live', lastError: null });
  }, 120_000);
});
