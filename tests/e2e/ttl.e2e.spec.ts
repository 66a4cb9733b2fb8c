// Time-limited memberships through HTTP: a TTL or an expiry on adds, reads that drop a membership
// the moment it expires, the timer recording the expiry at its own moment, renewals, and refusals.
// The service runs on a hand-moved clock; its timer is driven by tick() (its schedule never fires
// during the test), except in the last test, which waits for a real 2-second TTL and a real timer.
import type { InjectOptions } from 'fastify';
import { sql } from 'slonik';
import { z } from 'zod';
import { systemClock } from '../../src/platform/clock';
import { startTestService, type TestService } from '../support/testService';
import { DAY, HOUR, SECOND, TestClock } from '../support/testClock';

/** Midnight on 1 January: never during a test run that starts on another day. */
const SCHEDULE_THAT_DOES_NOT_FIRE = '0 0 0 1 1 *';

const eventRow = z.object({ type: z.string(), data: z.record(z.unknown()), metadata: z.record(z.unknown()) });
const auditRow = z.object({ slug: z.string(), operation: z.string(), reason: z.string(), at: z.date() });

describe('time-limited memberships', () => {
  let t: TestService;
  let clock: TestClock;

  beforeAll(async () => {
    clock = new TestClock(new Date('2026-11-23T09:30:00.000Z'));
    t = await startTestService({ clock, ttlSweepSchedule: SCHEDULE_THAT_DOES_NOT_FIRE });
    for (const slug of ['AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50', 'AVITO_VOICE_MESSAGES']) {
      expect((await t.request({ method: 'POST', url: '/segments', payload: { slug } })).statusCode).toBe(201);
    }
  });
  afterAll(() => t.close());

  const update = (userId: number, payload: Record<string, unknown>): InjectOptions => ({
    method: 'POST',
    url: `/users/${userId}/segments`,
    payload,
  });

  async function change(userId: number, payload: Record<string, unknown>) {
    const response = await t.request(update(userId, payload));
    expect(response.statusCode).toBe(200);
    await t.settle();
    return response.json();
  }

  async function segmentsOf(userId: number): Promise<Array<{ slug: string; expiresAt: string | null }>> {
    const response = await t.request({ method: 'GET', url: `/users/${userId}/segments` });
    expect(response.statusCode).toBe(200);
    return response.json().segments;
  }

  async function memberIds(slug: string): Promise<number[]> {
    const response = await t.request({ method: 'GET', url: `/segments/${slug}/members?limit=1000` });
    return response.json().members.map((member: { userId: number }) => member.userId);
  }

  async function memberCount(slug: string): Promise<number> {
    return (await t.request({ method: 'GET', url: `/segments/${slug}` })).json().memberCount;
  }

  async function eventsOf(userId: number) {
    return t.db.pool.any(sql.type(eventRow)`
      SELECT type, data, metadata FROM events WHERE stream_id = ${`user-${userId}`} ORDER BY stream_position`);
  }

  async function historyOf(userId: number) {
    const rows = await t.db.pool.any(sql.type(auditRow)`
      SELECT slug, operation, reason, at FROM membership_audit WHERE user_id = ${userId} ORDER BY at, global_position`);
    return rows.map((row) => [row.slug, row.operation, row.reason, row.at.toISOString()]);
  }

  async function tick() {
    const result = await t.service.timer!.tick();
    await t.settle();
    return result;
  }

  it('user 1000 added to AVITO_DISCOUNT_30 for 2 days is gone the moment the 2 days are over, before any timer runs', async () => {
    const start = clock.now();
    const expiresAt = new Date(start.getTime() + 2 * DAY).toISOString();
    const body = await change(1000, { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 172_800 }, 'AVITO_VOICE_MESSAGES'] });
    expect(body.added).toEqual(['AVITO_DISCOUNT_30', 'AVITO_VOICE_MESSAGES']);
    expect(body.segments).toEqual([
      { slug: 'AVITO_DISCOUNT_30', source: 'manual', addedAt: start.toISOString(), expiresAt },
      { slug: 'AVITO_VOICE_MESSAGES', source: 'manual', addedAt: start.toISOString(), expiresAt: null },
    ]);
    expect(await segmentsOf(1000)).toEqual(body.segments);

    clock.advance(2 * DAY - 1);
    expect((await segmentsOf(1000)).map((s) => s.slug)).toEqual(['AVITO_DISCOUNT_30', 'AVITO_VOICE_MESSAGES']);
    expect(await memberIds('AVITO_DISCOUNT_30')).toContain(1000);

    clock.advance(1);
    expect((await segmentsOf(1000)).map((s) => s.slug)).toEqual(['AVITO_VOICE_MESSAGES']);
    expect(await memberIds('AVITO_DISCOUNT_30')).not.toContain(1000);
    expect(await memberCount('AVITO_DISCOUNT_30')).toBe(0);
    // Nothing has been written yet: the reads alone are exact.
    expect((await eventsOf(1000)).map((e) => e.type)).toEqual(['MembershipAdded', 'MembershipAdded']);

    clock.advance(3 * HOUR); // the timer runs late
    expect(await tick()).toEqual({ due: 1, expired: 1, failedUsers: 0 });
    const events = await eventsOf(1000);
    expect(events.map((e) => e.type)).toEqual(['MembershipAdded', 'MembershipAdded', 'MembershipRemoved']);
    expect(events[2]!.data).toMatchObject({ slug: 'AVITO_DISCOUNT_30', reason: 'expired', effectiveAt: expiresAt });
    expect(events[2]!.metadata).toMatchObject({ actor: 'ttl-timer', source: 'timer', occurredAt: clock.now().toISOString() });
    expect(await historyOf(1000)).toEqual([
      ['AVITO_DISCOUNT_30', 'added', 'manual', start.toISOString()],
      ['AVITO_VOICE_MESSAGES', 'added', 'manual', start.toISOString()],
      ['AVITO_DISCOUNT_30', 'removed', 'expired', expiresAt],
    ]);

    // A second tick finds nothing due.
    expect(await tick()).toEqual({ due: 0, expired: 0, failedUsers: 0 });
    expect(await eventsOf(1000)).toHaveLength(3);
  });

  it('user 1001 renewed for 2 more days before the expiry stays in, and leaves at the new expiry', async () => {
    const start = clock.now();
    await change(1001, { add: [{ slug: 'AVITO_DISCOUNT_50', ttlSeconds: 2 * 86_400 }] });
    clock.advance(DAY);
    const renewedUntil = new Date(clock.now().getTime() + 2 * DAY).toISOString();
    const renewal = await change(1001, { add: [{ slug: 'AVITO_DISCOUNT_50', ttlSeconds: 2 * 86_400 }] });
    // Not a new membership: not listed in added, the addedAt stays, only the end moves.
    expect(renewal.added).toEqual([]);
    expect(renewal.segments).toEqual([
      { slug: 'AVITO_DISCOUNT_50', source: 'manual', addedAt: start.toISOString(), expiresAt: renewedUntil },
    ]);

    clock.advance(DAY + HOUR); // past the first expiry
    expect(await segmentsOf(1001)).toEqual(renewal.segments);
    expect(await tick()).toMatchObject({ expired: 0 });
    expect((await eventsOf(1001)).map((e) => e.type)).toEqual(['MembershipAdded', 'MembershipExpiryChanged']);

    clock.set(new Date(renewedUntil));
    expect(await segmentsOf(1001)).toEqual([]);
    expect(await tick()).toEqual({ due: 1, expired: 1, failedUsers: 0 });
    expect(await historyOf(1001)).toEqual([
      ['AVITO_DISCOUNT_50', 'added', 'manual', start.toISOString()],
      ['AVITO_DISCOUNT_50', 'removed', 'expired', renewedUntil],
    ]);
  });

  it('user 1002 re-added with a plain slug keeps the expiry, with expiresAt null becomes permanent', async () => {
    const until = new Date(clock.now().getTime() + 7 * DAY).toISOString();
    await change(1002, { add: [{ slug: 'AVITO_VOICE_MESSAGES', expiresAt: until }] });
    const plain = await change(1002, { add: ['AVITO_VOICE_MESSAGES'] });
    expect(plain.segments[0].expiresAt).toBe(until);

    const permanent = await change(1002, { add: [{ slug: 'AVITO_VOICE_MESSAGES', expiresAt: null }] });
    expect(permanent.added).toEqual([]);
    expect(permanent.segments[0].expiresAt).toBeNull();
    clock.advance(8 * DAY);
    expect((await segmentsOf(1002)).map((s) => s.slug)).toEqual(['AVITO_VOICE_MESSAGES']);
    expect(await tick()).toMatchObject({ expired: 0 });
    expect((await eventsOf(1002)).map((e) => e.type)).toEqual(['MembershipAdded', 'MembershipExpiryChanged']);
  });

  it('an expiresAt with an offset is stored in UTC', async () => {
    const local = new Date(clock.now().getTime() + DAY);
    const withOffset = `${new Date(local.getTime() + 3 * HOUR).toISOString().slice(0, 19)}+03:00`;
    const body = await change(1003, { add: [{ slug: 'AVITO_DISCOUNT_30', expiresAt: withOffset }] });
    expect(body.segments[0].expiresAt).toBe(new Date(Math.floor(local.getTime() / SECOND) * SECOND).toISOString());
    await change(1003, { remove: ['AVITO_DISCOUNT_30'] });
  });

  it('user 1004 removed by hand before the expiry: the tick appends no second removal, even from a stale read model', async () => {
    await change(1004, { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 3_600 }, { slug: 'AVITO_DISCOUNT_50', ttlSeconds: 3_600 }] });
    await change(1004, { remove: ['AVITO_DISCOUNT_30'] });
    // The read model has the removal of AVITO_DISCOUNT_30; stop the projector before the
    // removal of AVITO_DISCOUNT_50, so that the timer still finds it due in the read model.
    await t.service.runner!.stop();
    const removal = await t.request(update(1004, { remove: ['AVITO_DISCOUNT_50'] }));
    expect(removal.json().removed).toEqual(['AVITO_DISCOUNT_50']);
    clock.advance(2 * HOUR);
    expect(await t.service.timer!.tick()).toEqual({ due: 1, expired: 0, failedUsers: 0 });
    t.service.runner!.start();
    await t.settle();

    expect(await tick()).toEqual({ due: 0, expired: 0, failedUsers: 0 });
    expect((await historyOf(1004)).map(([slug, operation, reason]) => `${slug} ${operation} ${reason}`)).toEqual([
      'AVITO_DISCOUNT_30 added manual',
      'AVITO_DISCOUNT_50 added manual',
      'AVITO_DISCOUNT_30 removed manual',
      'AVITO_DISCOUNT_50 removed manual',
    ]);
  });

  it('the bulk route gives every added user the same expiry; existing members get it too, without counting as added', async () => {
    await change(2001, { add: ['AVITO_VOICE_MESSAGES'] });
    const until = new Date(clock.now().getTime() + DAY).toISOString();
    const response = await t.request({
      method: 'POST',
      url: '/segments/AVITO_VOICE_MESSAGES/members',
      payload: { add: [2001, 2002, 2003], expiresAt: until },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ added: 2, removed: 0 });
    await t.settle();
    const members = (await t.request({ method: 'GET', url: '/segments/AVITO_VOICE_MESSAGES/members?limit=1000' })).json().members;
    expect(members.filter((m: { userId: number }) => m.userId > 2000).map((m: { expiresAt: string }) => m.expiresAt)).toEqual([until, until, until]);

    const countBefore = await memberCount('AVITO_VOICE_MESSAGES');
    clock.set(new Date(until));
    expect(await memberCount('AVITO_VOICE_MESSAGES')).toBe(countBefore - 3);
    expect(await tick()).toEqual({ due: 3, expired: 3, failedUsers: 0 });

    const ttl = await t.request({ method: 'POST', url: '/segments/AVITO_DISCOUNT_50/members', payload: { add: [2004], ttlSeconds: 60 } });
    expect(ttl.json()).toEqual({ added: 1, removed: 0 });
    await t.settle();
    expect(await segmentsOf(2004)).toEqual([
      expect.objectContaining({ slug: 'AVITO_DISCOUNT_50', expiresAt: new Date(clock.now().getTime() + 60 * SECOND).toISOString() }),
    ]);
  });

  describe('refusals: 400 naming the field, and nothing changed', () => {
    async function expectRefused(request: InjectOptions, path: string) {
      await t.settle();
      const before = await t.snapshot();
      const response = await t.request(request);
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = response.json();
      expect(problem.type).toBe('/problems/validation');
      expect(problem.errors.map((error: { path: string }) => error.path)).toContain(path);
      expect(await t.snapshot()).toEqual(before);
      return problem;
    }

    const past = () => new Date(clock.now().getTime() - SECOND).toISOString();
    const future = () => new Date(clock.now().getTime() + DAY).toISOString();

    it.each([
      ['ttlSeconds 0', { ttlSeconds: 0 }, 'ttlSeconds'],
      ['a negative ttlSeconds', { ttlSeconds: -60 }, 'ttlSeconds'],
      ['a non-integer ttlSeconds', { ttlSeconds: 1.5 }, 'ttlSeconds'],
      ['a ttlSeconds that is not a number', { ttlSeconds: '60' }, 'ttlSeconds'],
      ['a ttlSeconds over 10 years', { ttlSeconds: 315_360_001 }, 'ttlSeconds'],
      ['an expiresAt that is not a time', { expiresAt: 'tomorrow' }, 'expiresAt'],
    ])('user route: %s', async (_, fields, field) => {
      const problem = await expectRefused(update(1005, { add: ['AVITO_VOICE_MESSAGES', { slug: 'AVITO_DISCOUNT_30', ...fields }] }), `add.1.${field}`);
      expect(problem.errors).toHaveLength(1);
    });

    it('user route: an expiresAt in the past, now, or more than 10 years ahead', async () => {
      const problem = await expectRefused(update(1005, { add: [{ slug: 'AVITO_DISCOUNT_30', expiresAt: past() }] }), 'add.0.expiresAt');
      expect(problem.detail).toMatch(/must be in the future/);
      await expectRefused(update(1005, { add: [{ slug: 'AVITO_DISCOUNT_30', expiresAt: clock.now().toISOString() }] }), 'add.0.expiresAt');
      const tooFar = new Date(clock.now().getTime() + 315_360_001 * SECOND).toISOString();
      await expectRefused(update(1005, { add: [{ slug: 'AVITO_DISCOUNT_30', expiresAt: tooFar }] }), 'add.0.expiresAt');
    });

    it('user route: both ttlSeconds and expiresAt, also with expiresAt null', async () => {
      const problem = await expectRefused(
        update(1005, { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 60, expiresAt: future() }] }),
        'add.0.expiresAt',
      );
      expect(problem.errors[0].message).toBe('give either ttlSeconds or expiresAt, not both');
      await expectRefused(update(1005, { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 60, expiresAt: null }] }), 'add.0.expiresAt');
    });

    it('user route: a renewal with a bad TTL leaves the existing expiry as it was', async () => {
      const until = future();
      await change(1006, { add: [{ slug: 'AVITO_DISCOUNT_30', expiresAt: until }] });
      await expectRefused(update(1006, { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 0 }] }), 'add.0.ttlSeconds');
      expect(await segmentsOf(1006)).toEqual([expect.objectContaining({ expiresAt: until })]);
    });

    const bulk = (payload: Record<string, unknown>): InjectOptions => ({
      method: 'POST',
      url: '/segments/AVITO_DISCOUNT_30/members',
      payload,
    });

    it.each([
      ['ttlSeconds 0', { ttlSeconds: 0 }, 'ttlSeconds'],
      ['a negative ttlSeconds', { ttlSeconds: -1 }, 'ttlSeconds'],
      ['a non-integer ttlSeconds', { ttlSeconds: 0.5 }, 'ttlSeconds'],
      ['an expiresAt in the past', { expiresAt: 'past' }, 'expiresAt'],
      ['both fields', { ttlSeconds: 60, expiresAt: 'future' }, 'expiresAt'],
    ])('bulk route: %s', async (_, fields, field) => {
      const values = Object.fromEntries(
        Object.entries(fields).map(([key, value]) => [key, value === 'past' ? past() : value === 'future' ? future() : value]),
      );
      await expectRefused(bulk({ add: [3001, 3002], ...values }), field);
    });

    it('bulk route: an expiry with nobody to add', async () => {
      await expectRefused(bulk({ remove: [3001], ttlSeconds: 60 }), 'ttlSeconds');
    });
  });
});

describe('a real 2-second TTL with a real timer', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ clock: systemClock, ttlSweepSchedule: '* * * * * *' });
    expect((await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_DISCOUNT_30' } })).statusCode).toBe(201);
  });
  afterAll(() => t.close());

  it('user 1000 added to AVITO_DISCOUNT_30 for 2 seconds leaves by itself, recorded at the expiry moment', async () => {
    const response = await t.request({
      method: 'POST',
      url: '/users/1000/segments',
      payload: { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 2 }] },
    });
    const expiresAt: string = response.json().segments[0].expiresAt;
    await t.settle();
    expect((await t.request({ method: 'GET', url: '/users/1000/segments' })).json().segments).toHaveLength(1);

    // The read drops it at the expiry, and the timer (every second) records it shortly after.
    const deadline = Date.now() + 10_000;
    let removal: z.infer<typeof eventRow> | undefined;
    while (!removal) {
      if (Date.now() > deadline) throw new Error('no expiry event within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const askedAt = Date.now();
      const segments = (await t.request({ method: 'GET', url: '/users/1000/segments' })).json().segments;
      if (askedAt >= Date.parse(expiresAt)) expect(segments).toEqual([]);
      removal = await t.db.pool.maybeOne(sql.type(eventRow)`
        SELECT type, data, metadata FROM events WHERE stream_id = 'user-1000' AND type = 'MembershipRemoved'`) ?? undefined;
    }
    expect(removal.data).toMatchObject({ reason: 'expired', effectiveAt: expiresAt });
    expect(removal.metadata).toMatchObject({ source: 'timer' });
    expect(Date.parse(removal.metadata.occurredAt as string)).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    await t.settle();
    const audit = await t.db.pool.one(sql.type(auditRow)`
      SELECT slug, operation, reason, at FROM membership_audit WHERE user_id = 1000 AND operation = 'removed'`);
    expect([audit.reason, audit.at.toISOString()]).toEqual(['expired', expiresAt]);
  });
});
