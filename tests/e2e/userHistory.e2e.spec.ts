// "Why did user 1000 lose AVITO_DISCOUNT_30?": GET /users/{id}/history and GET /users/{id}/segments?at=,
// both from the audit table.
import { sql } from 'slonik';
import { explicitMembershipsAtQuery, manualHistoryQuery } from '../../src/queries/history';
import { TestClock } from '../support/testClock';
import { startTestService, type TestService } from '../support/testService';

describe("a user's history and their segments at a past moment", () => {
  const clock = new TestClock(new Date('2023-08-01T08:00:00.000Z'));
  let t: TestService;
  beforeAll(async () => {
    // The expiry timer runs when a test ticks it, at the moment the test's clock says.
    t = await startTestService({ clock, ttlSweepSchedule: '0 0 0 1 1 *' });
  });
  afterAll(() => t.close());

  const post = (url: string, payload: unknown) => t.request({ method: 'POST', url, payload: payload as Record<string, unknown> });
  const get = (url: string) => t.request({ method: 'GET', url });
  const at = async (time: string, work: () => Promise<{ statusCode: number }>) => {
    clock.set(new Date(time));
    expect([200, 201, 204]).toContain((await work()).statusCode);
  };
  const slugsAt = async (userId: number, time: string) => {
    const response = await get(`/users/${userId}/segments?at=${time}`);
    expect(response.statusCode).toBe(200);
    return response.json().segments.map((segment: { slug: string }) => segment.slug);
  };

  beforeAll(async () => {
    for (const slug of ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50', 'AVITO_PERFORMANCE_VAS']) {
      await at('2023-08-01T08:00:00.000Z', () => post('/segments', { slug }));
    }
    await at('2023-08-02T10:00:00.000Z', () => post('/users/1000/segments', { add: ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_30'] }));
    await at('2023-08-03T10:00:00.000Z', () => post('/segments/AVITO_PERFORMANCE_VAS/members', { add: [1000, 1002] }));
    await at('2023-08-04T10:00:00.000Z', () => post('/users/1000/segments', { remove: ['AVITO_DISCOUNT_30'] }));
    await at('2023-08-05T10:00:00.000Z', () => t.request({ method: 'DELETE', url: '/segments/AVITO_PERFORMANCE_VAS' }));
    // Added for two days; the timer records the expiry a day late.
    await at('2023-08-06T10:00:00.000Z', () => post('/users/1000/segments', { add: [{ slug: 'AVITO_DISCOUNT_50', ttlSeconds: 2 * 86_400 }] }));
    clock.set(new Date('2023-08-09T10:00:00.000Z'));
    await t.settle();
    expect(await t.service.timer!.tick()).toMatchObject({ expired: 1 });
    // One whose expiry no timer has recorded yet.
    await at('2023-08-09T00:00:00.000Z', () => post('/users/1002/segments', { add: [{ slug: 'AVITO_DISCOUNT_30', expiresAt: '2023-08-10T00:00:00.000Z' }] }));
    // One renewed before it expired: added until 12 August, then extended to 15 August.
    await at('2023-08-10T00:00:00.000Z', () => post('/users/1003/segments', { add: [{ slug: 'AVITO_DISCOUNT_30', expiresAt: '2023-08-12T00:00:00.000Z' }] }));
    await at('2023-08-11T00:00:00.000Z', () => post('/users/1003/segments', { add: [{ slug: 'AVITO_DISCOUNT_30', expiresAt: '2023-08-15T00:00:00.000Z' }] }));
    clock.set(new Date('2023-08-20T00:00:00.000Z'));
    await t.settle();
  });

  it('user 1000 lost AVITO_DISCOUNT_30 by a manual removal: every change, its reason and moment, in time order', async () => {
    const response = await get('/users/1000/history');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      userId: 1000,
      entries: [
        { slug: 'AVITO_VOICE_MESSAGES', operation: 'added', reason: 'manual', at: '2023-08-02T10:00:00.000Z' },
        { slug: 'AVITO_DISCOUNT_30', operation: 'added', reason: 'manual', at: '2023-08-02T10:00:00.000Z' },
        { slug: 'AVITO_PERFORMANCE_VAS', operation: 'added', reason: 'bulk', at: '2023-08-03T10:00:00.000Z' },
        { slug: 'AVITO_DISCOUNT_30', operation: 'removed', reason: 'manual', at: '2023-08-04T10:00:00.000Z' },
        { slug: 'AVITO_PERFORMANCE_VAS', operation: 'removed', reason: 'segment_deleted', at: '2023-08-05T10:00:00.000Z' },
        { slug: 'AVITO_DISCOUNT_50', operation: 'added', reason: 'manual', at: '2023-08-06T10:00:00.000Z' },
        { slug: 'AVITO_DISCOUNT_50', operation: 'removed', reason: 'expired', at: '2023-08-08T10:00:00.000Z' },
      ],
    });
  });

  it('from is inclusive and to exclusive', async () => {
    const response = await get('/users/1000/history?from=2023-08-03T10:00:00.000Z&to=2023-08-06T10:00:00.000Z');
    expect(response.json().entries.map((entry: { at: string; reason: string }) => `${entry.at} ${entry.reason}`)).toEqual([
      '2023-08-03T10:00:00.000Z bulk',
      '2023-08-04T10:00:00.000Z manual',
      '2023-08-05T10:00:00.000Z segment_deleted',
    ]);
    expect((await get('/users/1000/history?from=2023-08-08T10:00:00.001Z')).json().entries).toEqual([]);
    expect((await get('/users/424242/history')).json()).toEqual({ userId: 424242, entries: [] });
  });

  it('?at answers with the segments as they were at that moment', async () => {
    expect(await slugsAt(1000, '2023-08-02T09:59:59.999Z')).toEqual([]);
    expect(await slugsAt(1000, '2023-08-02T10:00:00.000Z')).toEqual(['AVITO_DISCOUNT_30', 'AVITO_VOICE_MESSAGES']);
    expect(await slugsAt(1000, '2023-08-03T12:00:00.000Z')).toEqual(['AVITO_DISCOUNT_30', 'AVITO_PERFORMANCE_VAS', 'AVITO_VOICE_MESSAGES']);
    expect(await slugsAt(1000, '2023-08-04T10:00:00.000Z')).toEqual(['AVITO_PERFORMANCE_VAS', 'AVITO_VOICE_MESSAGES']);
    expect(await slugsAt(1000, '2023-08-05T10:00:00.000Z')).toEqual(['AVITO_VOICE_MESSAGES']);
    expect(await slugsAt(1000, '2023-08-07T00:00:00.000Z')).toEqual(['AVITO_DISCOUNT_50', 'AVITO_VOICE_MESSAGES']);
    expect(await slugsAt(1000, '2023-08-08T10:00:00.000Z')).toEqual(['AVITO_VOICE_MESSAGES']);
    const full = (await get('/users/1000/segments?at=2023-08-07T00:00:00.000Z')).json();
    expect(full.segments[0]).toEqual({ slug: 'AVITO_DISCOUNT_50', source: 'manual', addedAt: '2023-08-06T10:00:00.000Z', expiresAt: '2023-08-08T10:00:00.000Z' });
  });

  it('?at respects expiresAt even before any expiry is recorded: a membership is gone at its expiry moment', async () => {
    expect(await slugsAt(1002, '2023-08-09T23:59:59.999Z')).toEqual(['AVITO_DISCOUNT_30']);
    expect(await slugsAt(1002, '2023-08-10T00:00:00.000Z')).toEqual([]);
  });

  it('?at follows a renewal from the moment it was made: the old expiry before, the new one after', async () => {
    expect(await slugsAt(1003, '2023-08-10T23:59:59.999Z')).toEqual(['AVITO_DISCOUNT_30']);
    expect((await get('/users/1003/segments?at=2023-08-10T12:00:00.000Z')).json().segments[0].expiresAt).toBe('2023-08-12T00:00:00.000Z');
    expect((await get('/users/1003/segments?at=2023-08-11T00:00:00.000Z')).json().segments[0].expiresAt).toBe('2023-08-15T00:00:00.000Z');
    expect(await slugsAt(1003, '2023-08-13T00:00:00.000Z')).toEqual(['AVITO_DISCOUNT_30']);
    expect(await slugsAt(1003, '2023-08-15T00:00:00.000Z')).toEqual([]);
    // A renewal is not a change of membership: history shows the one add.
    expect((await get('/users/1003/history')).json().entries).toEqual([
      { slug: 'AVITO_DISCOUNT_30', operation: 'added', reason: 'manual', at: '2023-08-10T00:00:00.000Z' },
    ]);
  });

  it('bad times and unknown parameters are 400 naming the parameter', async () => {
    const pathsOf = async (url: string) => {
      const response = await get(url);
      expect(response.statusCode).toBe(400);
      return response.json().errors.map((error: { path: string }) => error.path);
    };
    expect(await pathsOf('/users/1000/segments?at=yesterday')).toEqual(['querystring.at']);
    expect(await pathsOf('/users/1000/segments?when=2023-08-01T00:00:00.000Z')).toEqual(['querystring']);
    expect(await pathsOf('/users/1000/history?from=2023-08-05')).toEqual(['querystring.from']);
    expect(await pathsOf('/users/1000/history?from=2023-08-05T00:00:00.000Z&to=2023-08-05T00:00:00.000Z')).toEqual(['querystring.to']);
  });

  it('both reads use an index for a user with thousands of changes among many users', async () => {
    await t.db.pool.query(sql.unsafe`
      INSERT INTO membership_audit (global_position, user_id, segment_id, slug, operation, reason, at, expires_at)
      SELECT 1000000 + i, 100000 + i % 50, md5((i % 20)::text)::uuid, 'SEG_' || (i % 20),
             CASE WHEN i / 50 % 2 = 0 THEN 'added' ELSE 'removed' END, 'manual',
             '2023-01-01T00:00:00Z'::timestamptz + i * interval '1 second', NULL
      FROM generate_series(1, 100000) AS i`); // 2,000 changes for each of 50 users
    await t.db.pool.query(sql.unsafe`ANALYZE membership_audit`);
    // The very statements the routes run (src/queries/history.ts), not copies of them.
    const plan = async (which: 'history' | 'at') => {
      const query = which === 'history' ? manualHistoryQuery(100007) : explicitMembershipsAtQuery(100007, new Date('2023-01-02T00:00:00Z'));
      const rows = await t.db.pool.any(sql.unsafe`EXPLAIN ${query}`);
      return rows.map((row) => Object.values(row)[0]).join('\n');
    };
    for (const which of ['history', 'at'] as const) {
      const text = await plan(which);
      expect(text).toMatch(/Index (Only )?Scan (using|on) membership_audit_by_user/);
      expect(text).not.toMatch(/Seq Scan on membership_audit /);
    }
  });
});

describe('history and ?at with a percentage segment', () => {
  const clock = new TestClock(new Date('2023-08-01T08:00:00.000Z'));
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ clock, ttlSweepSchedule: '0 0 0 1 1 *' });
  });
  afterAll(() => t.close());

  const post = (url: string, payload: unknown) => t.request({ method: 'POST', url, payload: payload as Record<string, unknown> });
  const get = (url: string) => t.request({ method: 'GET', url });

  it('a segment for 100 % of users takes user 1000 in at its creation (reason auto); an explicit removal takes them out', async () => {
    clock.set(new Date('2023-08-02T10:00:00.000Z'));
    expect((await post('/segments', { slug: 'AVITO_VOICE_MESSAGES', autoAssignPercent: 100 })).statusCode).toBe(201);
    clock.set(new Date('2023-08-03T10:00:00.000Z'));
    expect((await post('/users/1000/segments', { remove: ['AVITO_VOICE_MESSAGES'] })).statusCode).toBe(200);
    clock.set(new Date('2023-08-05T00:00:00.000Z'));
    await t.settle();

    const entries = (await get('/users/1000/history')).json().entries;
    expect(entries).toEqual([
      { slug: 'AVITO_VOICE_MESSAGES', operation: 'added', reason: 'auto', at: '2023-08-02T10:00:00.000Z' },
      { slug: 'AVITO_VOICE_MESSAGES', operation: 'removed', reason: 'manual', at: '2023-08-03T10:00:00.000Z' },
    ]);
    expect((await get('/users/1000/segments?at=2023-08-02T09:59:59.999Z')).json().segments).toEqual([]);
    expect((await get('/users/1000/segments?at=2023-08-02T12:00:00.000Z')).json().segments).toEqual([
      { slug: 'AVITO_VOICE_MESSAGES', source: 'auto', addedAt: '2023-08-02T10:00:00.000Z', expiresAt: null },
    ]);
    expect((await get('/users/1000/segments?at=2023-08-03T10:00:00.000Z')).json().segments).toEqual([]);
    // The CSV comes from the user's stream: the explicit removal is a row, the automatic entry is not.
    const report = (await post('/reports/history', { period: '2023-08', userId: 1000 })).json();
    const csv = (await t.request({ method: 'GET', url: new URL(report.url).pathname })).body;
    expect(csv).toBe('user_id;segment;operation;at\n1000;AVITO_VOICE_MESSAGES;removed;2023-08-03T10:00:00.000Z\n');
    // A user nobody has written about is in it too, from the segment's creation.
    expect((await get('/users/7/segments?at=2023-08-04T00:00:00.000Z')).json().segments.map((s: { source: string }) => s.source)).toEqual(['auto']);
  });

  it('an explicit add wins over the percentage at the same moment: one entry, source manual', async () => {
    clock.set(new Date('2023-08-06T00:00:00.000Z'));
    expect((await post('/users/1002/segments', { add: ['AVITO_VOICE_MESSAGES'] })).statusCode).toBe(200);
    await t.settle();
    expect((await get('/users/1002/segments?at=2023-08-07T00:00:00.000Z')).json().segments).toEqual([
      { slug: 'AVITO_VOICE_MESSAGES', source: 'manual', addedAt: '2023-08-06T00:00:00.000Z', expiresAt: null },
    ]);
  });

  it('history shows when the user was in the segment either way: no entry for an add, an expiry or a percentage change that changed nothing', async () => {
    const history = async (userId: number) =>
      (await get(`/users/${userId}/history`)).json().entries.map(
        (entry: { slug: string; operation: string; reason: string; at: string }) => `${entry.at} ${entry.slug} ${entry.operation} ${entry.reason}`,
      );
    clock.set(new Date('2023-08-10T00:00:00.000Z'));
    expect((await post('/segments', { slug: 'BOTH_WAYS', autoAssignPercent: 100 })).statusCode).toBe(201);
    // Already in automatically: an explicit add with a TTL, which then expires; a percentage
    // switched off and on while the explicit membership lasts; finally the segment is deleted.
    clock.set(new Date('2023-08-11T00:00:00.000Z'));
    expect((await post('/users/1005/segments', { add: [{ slug: 'BOTH_WAYS', ttlSeconds: 86_400 }] })).statusCode).toBe(200);
    clock.set(new Date('2023-08-11T06:00:00.000Z'));
    expect((await t.request({ method: 'PATCH', url: '/segments/BOTH_WAYS', payload: { autoAssignPercent: null } })).statusCode).toBe(200);
    clock.set(new Date('2023-08-11T12:00:00.000Z'));
    expect((await t.request({ method: 'PATCH', url: '/segments/BOTH_WAYS', payload: { autoAssignPercent: 100 } })).statusCode).toBe(200);
    clock.set(new Date('2023-08-13T00:00:00.000Z'));
    await t.settle();
    expect(await t.service.timer!.tick()).toMatchObject({ expired: 1 });
    clock.set(new Date('2023-08-14T00:00:00.000Z'));
    expect((await post('/users/1005/segments', { add: ['BOTH_WAYS'] })).statusCode).toBe(200);
    // An explicit member whom the percentage also includes, removed: one change, one CSV row.
    expect((await post('/users/1006/segments', { add: ['BOTH_WAYS'] })).statusCode).toBe(200);
    clock.set(new Date('2023-08-14T01:00:00.000Z'));
    expect((await post('/users/1006/segments', { remove: ['BOTH_WAYS'] })).statusCode).toBe(200);
    clock.set(new Date('2023-08-15T00:00:00.000Z'));
    expect((await t.request({ method: 'DELETE', url: '/segments/BOTH_WAYS' })).statusCode).toBe(204);
    clock.set(new Date('2023-08-16T00:00:00.000Z'));
    await t.settle();

    expect((await history(1005)).filter((line: string) => line.includes('BOTH_WAYS'))).toEqual([
      '2023-08-10T00:00:00.000Z BOTH_WAYS added auto',
      '2023-08-15T00:00:00.000Z BOTH_WAYS removed segment_deleted',
    ]);
    for (const moment of ['2023-08-10T12:00:00.000Z', '2023-08-11T08:00:00.000Z', '2023-08-12T12:00:00.000Z', '2023-08-14T12:00:00.000Z']) {
      expect(await slugsOf(1005, moment)).toContain('BOTH_WAYS');
    }
    expect(await slugsOf(1005, '2023-08-15T00:00:00.000Z')).not.toContain('BOTH_WAYS');
    expect((await history(1006)).filter((line: string) => line.includes('BOTH_WAYS'))).toEqual([
      '2023-08-10T00:00:00.000Z BOTH_WAYS added auto',
      '2023-08-11T06:00:00.000Z BOTH_WAYS removed auto',
      '2023-08-11T12:00:00.000Z BOTH_WAYS added auto',
      '2023-08-14T01:00:00.000Z BOTH_WAYS removed manual',
    ]);
    const report = (await post('/reports/history', { period: '2023-08', userId: 1006 })).json();
    expect(report.rows).toBe(2);
    const csv = (await t.request({ method: 'GET', url: new URL(report.url).pathname })).body;
    expect(csv.split('\n').filter((line: string) => line.includes('BOTH_WAYS'))).toEqual([
      '1006;BOTH_WAYS;added;2023-08-14T00:00:00.000Z',
      '1006;BOTH_WAYS;removed;2023-08-14T01:00:00.000Z',
    ]);
    // The range applies to the combined history: nothing changed between these moments.
    expect((await get('/users/1005/history?from=2023-08-11T00:00:00.000Z&to=2023-08-15T00:00:00.000Z')).json().entries).toEqual([]);
  });

  it('while the deletion sweep has yet to record the removals, history and ?at already end the membership at the deletion', async () => {
    let before: unknown;
    clock.set(new Date('2023-08-20T00:00:00.000Z'));
    expect((await post('/segments', { slug: 'PENDING_DELETION' })).statusCode).toBe(201);
    expect((await post('/users/1007/segments', { add: ['PENDING_DELETION'] })).statusCode).toBe(200);
    expect((await post('/users/1008/segments', { add: [{ slug: 'PENDING_DELETION', expiresAt: '2023-08-20T12:00:00.000Z' }] })).statusCode).toBe(200);
    await t.settle();
    // The sweep takes this advisory lock before it appends removals; holding it keeps them pending.
    await t.db.pool.connect(async (connection) => {
      // The sweep takes it for a moment each second; wait for a moment it does not hold it.
      let locked = false;
      for (const deadline = Date.now() + 10_000; !locked && Date.now() < deadline; ) {
        locked = (await connection.oneFirst(sql.unsafe`SELECT pg_try_advisory_lock(hashtextextended('segment-deletion-sweep', 0))`)) === true;
        if (!locked) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(locked).toBe(true);
      try {
        clock.set(new Date('2023-08-21T00:00:00.000Z'));
        expect((await t.request({ method: 'DELETE', url: '/segments/PENDING_DELETION' })).statusCode).toBe(204);
        // Projected (the outbox holds the removals), not swept.
        for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
          if ((await t.db.pool.oneFirst(sql.unsafe`SELECT count(*) FROM segment_deletion_removals`)) === 2) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        expect(await t.db.pool.oneFirst(sql.unsafe`SELECT count(*) FROM segment_deletion_removals`)).toBe(2);

        const pending = async (userId: number) =>
          (await get(`/users/${userId}/history`)).json().entries.filter((entry: { slug: string }) => entry.slug === 'PENDING_DELETION');
        expect(await pending(1007)).toEqual([
          { slug: 'PENDING_DELETION', operation: 'added', reason: 'manual', at: '2023-08-20T00:00:00.000Z' },
          { slug: 'PENDING_DELETION', operation: 'removed', reason: 'segment_deleted', at: '2023-08-21T00:00:00.000Z' },
        ]);
        expect(await pending(1008)).toEqual([
          { slug: 'PENDING_DELETION', operation: 'added', reason: 'manual', at: '2023-08-20T00:00:00.000Z' },
          { slug: 'PENDING_DELETION', operation: 'removed', reason: 'expired', at: '2023-08-20T12:00:00.000Z' },
        ]);
        expect(await slugsOf(1007, '2023-08-20T23:59:59.999Z')).toContain('PENDING_DELETION');
        expect(await slugsOf(1007, '2023-08-21T00:00:00.000Z')).not.toContain('PENDING_DELETION');
        before = [await pending(1007), await pending(1008)];
      } finally {
        await connection.query(sql.unsafe`SELECT pg_advisory_unlock(hashtextextended('segment-deletion-sweep', 0))`);
      }
    });
    // Once the sweep has run, the recorded history says the same.
    await t.settle();
    expect(await t.db.pool.oneFirst(sql.unsafe`SELECT count(*) FROM segment_deletion_removals`)).toBe(0);
    const after = async (userId: number) =>
      (await get(`/users/${userId}/history`)).json().entries.filter((entry: { slug: string }) => entry.slug === 'PENDING_DELETION');
    expect([await after(1007), await after(1008)]).toEqual(before);
  });

  const slugsOf = async (userId: number, moment: string) =>
    (await get(`/users/${userId}/segments?at=${moment}`)).json().segments.map((segment: { slug: string }) => segment.slug);
});
