// Percentage segments over HTTP: PATCH, automatic membership on reads for any user id, raises and
// lowers, opt-outs, explicit adds, deletion, and the same answers after a restart and a rebuild.
import { sql } from 'slonik';
import { isInPercentage } from '../../src/domain/percentage';
import { createService } from '../../src/service';
import { startTestService, type TestService, serviceParts } from '../support/testService';

interface UserSegment {
  slug: string;
  source: 'manual' | 'auto';
  addedAt: string;
  expiresAt: string | null;
}

const USERS = Array.from({ length: 600 }, (_, i) => 500_001 + i);
/** The user who opted out of AVITO_VOICE_MESSAGES. */
let optedOut = 0;

describe('percentage segments', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(() => t.close());

  const post = (url: string, payload: unknown) => t.request({ method: 'POST', url, payload: payload as Record<string, unknown> });
  const patch = (url: string, payload: unknown) => t.request({ method: 'PATCH', url, payload: payload as Record<string, unknown> });
  const segmentsOf = async (userId: number): Promise<UserSegment[]> => {
    const response = await t.request({ method: 'GET', url: `/users/${userId}/segments` });
    expect(response.statusCode).toBe(200);
    return response.json().segments;
  };
  const seedOf = async (slug: string) =>
    t.db.pool.oneFirst(sql.unsafe`SELECT rollout_seed FROM segments WHERE slug = ${slug} AND deleted_at IS NULL`) as Promise<string>;
  /** The users among USERS whose segments list `slug` automatically. */
  const autoMembersOf = async (slug: string): Promise<Set<number>> => {
    const members = new Set<number>();
    for (const userId of USERS) {
      if ((await segmentsOf(userId)).some((segment) => segment.slug === slug && segment.source === 'auto')) members.add(userId);
    }
    return members;
  };

  it('PATCH refuses invalid percentages with 400 naming the field, and changes nothing', async () => {
    expect((await post('/segments', { slug: 'AVITO_VOICE_MESSAGES', autoAssignPercent: 10 })).statusCode).toBe(201);
    const before = await t.snapshot();
    for (const autoAssignPercent of [0, -1, 100.5, 10.555, '10']) {
      const response = await patch('/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent });
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json().errors.map((error: { path: string }) => error.path)).toEqual(['autoAssignPercent']);
      // The same rule when creating.
      const creation = await post('/segments', { slug: 'AVITO_OTHER', autoAssignPercent });
      expect(creation.statusCode).toBe(400);
      expect(creation.json().errors.map((error: { path: string }) => error.path)).toEqual(['autoAssignPercent']);
    }
    expect((await patch('/segments/AVITO_VOICE_MESSAGES', {})).statusCode).toBe(400);
    expect((await patch('/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: 20, slug: 'RENAMED' })).statusCode).toBe(400);
    expect(await t.snapshot()).toEqual(before);
    expect((await t.request({ method: 'GET', url: '/segments/AVITO_VOICE_MESSAGES' })).json().autoAssignPercent).toBe(10);
  });

  it('PATCH of a segment that does not exist, or was deleted, is 404', async () => {
    const unknown = await patch('/segments/NOPE', { autoAssignPercent: 5 });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ type: '/problems/segment-not-found', slug: 'NOPE' });
    await post('/segments', { slug: 'GONE', autoAssignPercent: 50 });
    await t.request({ method: 'DELETE', url: '/segments/GONE' });
    expect((await patch('/segments/GONE', { autoAssignPercent: 5 })).statusCode).toBe(404);
  });

  it('every user id, seen before or not, gets the segment exactly when their bucket is under 10 %, with source auto', async () => {
    await t.settle();
    const seed = await seedOf('AVITO_VOICE_MESSAGES');
    expect(seed).toMatch(/^[0-9a-f]{16}$/);
    const before = await t.snapshot();
    const members = await autoMembersOf('AVITO_VOICE_MESSAGES');
    expect([...members]).toEqual(USERS.filter((userId) => isInPercentage(seed, 10, userId)));
    expect(members.size).toBeGreaterThan(35); // about 60 of 600
    const createdAt = (await t.request({ method: 'GET', url: '/segments/AVITO_VOICE_MESSAGES' })).json().createdAt;
    const [first] = members;
    expect(await segmentsOf(first!)).toEqual([{ slug: 'AVITO_VOICE_MESSAGES', source: 'auto', addedAt: createdAt, expiresAt: null }]);
    // Reads never write.
    expect(await t.snapshot()).toEqual(before);
  });

  it('raising 10 → 20 keeps every earlier member; lowering 20 → 5 keeps only earlier members', async () => {
    const ten = await autoMembersOf('AVITO_VOICE_MESSAGES');
    const raised = await patch('/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: 20 });
    expect(raised.statusCode).toBe(200);
    // The segment as GET /segments/{slug} shows it: memberCount counts explicit members, none yet.
    expect(raised.json()).toEqual({ ...(await t.request({ method: 'GET', url: '/segments/AVITO_VOICE_MESSAGES' })).json(), autoAssignPercent: 20 });
    expect(raised.json()).toMatchObject({ slug: 'AVITO_VOICE_MESSAGES', autoAssignPercent: 20, description: null, memberCount: 0 });
    await t.settle();
    const twenty = await autoMembersOf('AVITO_VOICE_MESSAGES');
    for (const userId of ten) expect(twenty.has(userId)).toBe(true);
    expect(twenty.size).toBeGreaterThan(ten.size);
    // A member taken in by the raise has been in since the raise; an earlier one since the creation.
    const newcomer = [...twenty].find((userId) => !ten.has(userId))!;
    const [old] = ten;
    expect((await segmentsOf(newcomer))[0]!.addedAt > (await segmentsOf(old!))[0]!.addedAt).toBe(true);

    expect((await patch('/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: 5 })).statusCode).toBe(200);
    await t.settle();
    const five = await autoMembersOf('AVITO_VOICE_MESSAGES');
    for (const userId of five) expect(ten.has(userId)).toBe(true);
    expect(five.size).toBeLessThan(ten.size);
    expect(five.size).toBeGreaterThan(0);
  }, 60_000);

  it('an explicit removal opts the user out for good, also after a raise to 100 %', async () => {
    const seed = await seedOf('AVITO_VOICE_MESSAGES');
    const userId = USERS.find((id) => isInPercentage(seed, 5, id))!;
    optedOut = userId;
    const removal = await post(`/users/${userId}/segments`, { remove: ['AVITO_VOICE_MESSAGES'] });
    expect(removal.statusCode).toBe(200);
    expect(removal.json()).toMatchObject({ removed: ['AVITO_VOICE_MESSAGES'], segments: [] });
    expect((await t.service.store.readStream(`user-${userId}`)).map((event) => event.type)).toEqual(['AutoMembershipOptedOut']);
    await t.settle();
    expect(await segmentsOf(userId)).toEqual([]);

    await patch('/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: 100 });
    await t.settle();
    expect(await segmentsOf(userId)).toEqual([]);
    // Everyone else is in at 100 % (the seed is random, so the opted-out user may be USERS[0]).
    const other = USERS.find((id) => id !== userId)!;
    expect((await segmentsOf(other)).map((segment) => segment.source)).toEqual(['auto']);
    // Removing a user the percentage does not include, who is no member, changes nothing.
    await patch('/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: 5 });
    const outsider = USERS.find((id) => !isInPercentage(seed, 5, id))!;
    const noop = await post(`/users/${outsider}/segments`, { remove: ['AVITO_VOICE_MESSAGES'] });
    expect(noop.json()).toMatchObject({ removed: [], version: 0 });
  });

  it('an explicit add of an automatic member makes them a manual member', async () => {
    await t.settle();
    const seed = await seedOf('AVITO_VOICE_MESSAGES');
    const userId = USERS.filter((id) => isInPercentage(seed, 5, id) && id !== optedOut)[0]!;
    expect((await segmentsOf(userId)).map((segment) => segment.source)).toEqual(['auto']);
    const add = await post(`/users/${userId}/segments`, { add: ['AVITO_VOICE_MESSAGES'] });
    // Already in the segment, so not listed as added; the response shows the manual membership.
    expect(add.json()).toMatchObject({ added: [], segments: [{ slug: 'AVITO_VOICE_MESSAGES', source: 'manual', expiresAt: null }] });
    await t.settle();
    expect((await segmentsOf(userId)).map((segment) => segment.source)).toEqual(['manual']);
    // Turning the percentage off leaves the manual member in.
    await patch('/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: null });
    await t.settle();
    expect((await segmentsOf(userId)).map((segment) => segment.source)).toEqual(['manual']);
    expect(await autoMembersOf('AVITO_VOICE_MESSAGES')).toEqual(new Set());
    await patch('/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: 5 });
    await t.settle();
  });

  it('the user route answers with automatic segments too', async () => {
    await post('/segments', { slug: 'AVITO_DISCOUNT_30' });
    const seed = await seedOf('AVITO_VOICE_MESSAGES');
    const userId = USERS.filter((id) => isInPercentage(seed, 5, id) && id !== optedOut)[1]!;
    const response = await post(`/users/${userId}/segments`, { add: ['AVITO_DISCOUNT_30'] });
    expect(response.json().segments.map((s: UserSegment) => [s.slug, s.source])).toEqual([
      ['AVITO_DISCOUNT_30', 'manual'],
      ['AVITO_VOICE_MESSAGES', 'auto'],
    ]);
  });

  it('the bulk route counts an automatic member it removes, not one it adds, and opts the removed out', async () => {
    await post('/segments', { slug: 'BULK_AUTO', autoAssignPercent: 50 });
    await t.settle();
    const seed = await seedOf('BULK_AUTO');
    const [kept, dropped] = USERS.filter((id) => isInPercentage(seed, 50, id));
    const outsider = USERS.find((id) => !isInPercentage(seed, 50, id))!;
    const response = await post('/segments/BULK_AUTO/members', { add: [kept], remove: [dropped, outsider] });
    expect(response.json()).toEqual({ added: 0, removed: 1 });
    await t.settle();
    expect((await segmentsOf(kept!)).filter((s) => s.slug === 'BULK_AUTO').map((s) => s.source)).toEqual(['manual']);
    expect((await segmentsOf(dropped!)).filter((s) => s.slug === 'BULK_AUTO')).toEqual([]);
    expect((await t.service.store.readStream(`user-${dropped}`)).at(-1)).toMatchObject({
      type: 'AutoMembershipOptedOut',
      data: { slug: 'BULK_AUTO', reason: 'bulk' },
    });
  });

  it('the same users get the same answers after a restart and after a projection rebuild', async () => {
    await post('/segments', { slug: 'AVITO_PERFORMANCE_VAS', autoAssignPercent: 33.33 });
    await t.settle();
    const answers = async (request: TestService['request']) => {
      const all: string[] = [];
      for (const userId of USERS.slice(0, 200)) {
        all.push(`${userId}:${(await request({ method: 'GET', url: `/users/${userId}/segments` })).body}`);
      }
      return all;
    };
    const before = await answers(t.request);

    // A restart: another service process over the same database, with an empty cache.
    const restarted = await createService({ ...serviceParts(t.db.pool, t.db.url), roles: new Set(['api']) });
    await restarted.app.ready();
    try {
      expect(await answers((options) => restarted.app.inject(options))).toEqual(before);
    } finally {
      await restarted.stop();
    }

    // A rebuild: the read model and its checkpoint emptied, and the projector run again from the start.
    await t.service.runner!.stop();
    await t.db.pool.query(sql.unsafe`
      TRUNCATE segments, memberships, membership_audit, segment_deletion_removals, percentage_changes,
               auto_membership_opt_outs, projection_checkpoints`);
    t.service.runner!.start();
    await t.settle();
    expect(await answers(t.request)).toEqual(before);
  }, 60_000);

  it('deleting the segment ends it for everyone', async () => {
    expect((await t.request({ method: 'DELETE', url: '/segments/AVITO_PERFORMANCE_VAS' })).statusCode).toBe(204);
    await t.settle();
    expect(await autoMembersOf('AVITO_PERFORMANCE_VAS')).toEqual(new Set());
  }, 30_000);
});
