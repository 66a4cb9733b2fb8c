// The monthly history report (POST /reports/history) with reports kept on local disk, read from
// the event stream: month boundaries, late expiry events, deletion rows, the per-user filter.
import { holdAppends } from '../support/heldAppends';
import { TestClock } from '../support/testClock';
import { startTestService, type TestService } from '../support/testService';

const HEADER = 'user_id;segment;operation;at';

describe('history report on local disk', () => {
  const clock = new TestClock(new Date('2023-07-01T08:00:00.000Z'));
  let t: TestService;
  beforeAll(async () => {
    // The expiry timer runs when a test ticks it, at the moment the test's clock says.
    t = await startTestService({ clock, ttlSweepSchedule: '0 0 0 1 1 *' });
  });
  afterAll(() => t.close());

  const post = (url: string, payload: unknown) => t.request({ method: 'POST', url, payload: payload as Record<string, unknown> });
  const at = async (time: string, work: () => Promise<unknown>) => {
    clock.set(new Date(time));
    const response = (await work()) as { statusCode: number; body: string };
    expect([200, 201, 204]).toContain(response.statusCode);
  };
  const change = (userId: number, body: { add?: string[]; remove?: string[] }) => post(`/users/${userId}/segments`, body);

  /** Requests the report and downloads it through the link it answers with. */
  async function report(body: { period: string; userId?: number }): Promise<{ rows: number; lines: string[]; json: Record<string, unknown> }> {
    const created = await post('/reports/history', body);
    expect(created.statusCode).toBe(201);
    const json = created.json();
    const url = new URL(json.url);
    const download = await t.request({ method: 'GET', url: url.pathname });
    expect(download.statusCode).toBe(200);
    expect(download.headers['content-type']).toBe('text/csv; charset=utf-8');
    const lines = download.body.split(/\r?\n/).filter((line) => line !== '');
    expect(lines[0]).toBe(HEADER);
    expect(lines.length - 1).toBe(json.rows);
    return { rows: json.rows, lines: lines.slice(1), json };
  }

  beforeAll(async () => {
    for (const slug of ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50', 'AVITO_PERFORMANCE_VAS']) {
      await at('2023-07-01T08:00:00.000Z', () => post('/segments', { slug }));
    }
  });

  it('a change at 2023-12-31T23:59:59.999Z is in December, one at 2024-01-01T00:00:00.000Z in January', async () => {
    await at('2023-11-30T23:59:59.999Z', () => change(2000, { add: ['AVITO_VOICE_MESSAGES'] }));
    await at('2023-12-01T00:00:00.000Z', () => change(2000, { add: ['AVITO_DISCOUNT_50'] }));
    await at('2023-12-31T23:59:59.999Z', () => change(2000, { add: ['AVITO_DISCOUNT_30'] }));
    await at('2024-01-01T00:00:00.000Z', () => change(2000, { remove: ['AVITO_DISCOUNT_30'] }));
    await at('2024-01-31T23:59:59.999Z', () => change(2000, { remove: ['AVITO_DISCOUNT_50'] }));
    await at('2024-02-01T00:00:00.000Z', () => change(2000, { remove: ['AVITO_VOICE_MESSAGES'] }));
    clock.set(new Date('2024-02-15T12:00:00.000Z'));

    expect((await report({ period: '2023-11', userId: 2000 })).lines).toEqual(['2000;AVITO_VOICE_MESSAGES;added;2023-11-30T23:59:59.999Z']);
    expect((await report({ period: '2023-12', userId: 2000 })).lines).toEqual([
      '2000;AVITO_DISCOUNT_50;added;2023-12-01T00:00:00.000Z',
      '2000;AVITO_DISCOUNT_30;added;2023-12-31T23:59:59.999Z',
    ]);
    expect((await report({ period: '2024-01', userId: 2000 })).lines).toEqual([
      '2000;AVITO_DISCOUNT_30;removed;2024-01-01T00:00:00.000Z',
      '2000;AVITO_DISCOUNT_50;removed;2024-01-31T23:59:59.999Z',
    ]);
    expect((await report({ period: '2024-02', userId: 2000 })).lines).toEqual(['2000;AVITO_VOICE_MESSAGES;removed;2024-02-01T00:00:00.000Z']);
  });

  it('user 1000 added, removed, re-added and expired within August produces exactly those rows, the expiry at its own moment', async () => {
    await at('2023-08-05T10:00:00.000Z', () => change(1000, { add: ['AVITO_DISCOUNT_30'] }));
    await at('2023-08-10T10:00:00.000Z', () => change(1000, { remove: ['AVITO_DISCOUNT_30'] }));
    // Re-added for a limited time.
    await at('2023-08-12T10:00:00.000Z', () =>
      post('/users/1000/segments', { add: [{ slug: 'AVITO_DISCOUNT_30', expiresAt: '2023-08-20T00:00:00.000Z' }] }),
    );
    await at('2023-08-22T09:00:00.000Z', () => change(1002, { add: ['AVITO_VOICE_MESSAGES'] }));
    // The timer notices the expiry only after some downtime: appended after user 1002's change,
    // and in September, but it took effect on 2023-08-20.
    clock.set(new Date('2023-09-02T07:00:00.000Z'));
    await t.settle();
    expect(await t.service.timer!.tick()).toMatchObject({ expired: 1 });
    await t.settle();
    const expiry = (await t.service.store.readStream('user-1000')).at(-1)!;
    expect(expiry).toMatchObject({ type: 'MembershipRemoved', data: { reason: 'expired', effectiveAt: '2023-08-20T00:00:00.000Z' } });

    const august = await report({ period: '2023-08' });
    expect(august.lines).toEqual([
      '1000;AVITO_DISCOUNT_30;added;2023-08-05T10:00:00.000Z',
      '1000;AVITO_DISCOUNT_30;removed;2023-08-10T10:00:00.000Z',
      '1000;AVITO_DISCOUNT_30;added;2023-08-12T10:00:00.000Z',
      '1000;AVITO_DISCOUNT_30;removed;2023-08-20T00:00:00.000Z',
      '1002;AVITO_VOICE_MESSAGES;added;2023-08-22T09:00:00.000Z',
    ]);
    expect(august.json).toMatchObject({ period: '2023-08', userId: null, rows: 5, expiresAt: '2023-09-03T07:00:00.000Z' });
    expect((await report({ period: '2023-09' })).lines).toEqual([]);
  });

  it('the per-user filter keeps one user; an unknown user gets the header only', async () => {
    const mine = await report({ period: '2023-08', userId: 1002 });
    expect(mine.lines).toEqual(['1002;AVITO_VOICE_MESSAGES;added;2023-08-22T09:00:00.000Z']);
    expect(mine.json.userId).toBe(1002);
    const nobody = await report({ period: '2023-08', userId: 987654321 });
    expect(nobody).toMatchObject({ rows: 0, lines: [] });
  });

  it('deleting a segment gives every member a removed row at the moment of deletion', async () => {
    await at('2023-09-03T08:00:00.000Z', () => post('/segments/AVITO_PERFORMANCE_VAS/members', { add: [3001, 3002] }));
    await at('2023-09-04T12:30:00.000Z', () => t.request({ method: 'DELETE', url: '/segments/AVITO_PERFORMANCE_VAS' }));
    clock.set(new Date('2023-09-05T00:00:00.000Z'));
    await t.settle(); // the sweep appends the removals to the members' streams
    const september = await report({ period: '2023-09' });
    expect(september.lines).toEqual([
      '3001;AVITO_PERFORMANCE_VAS;added;2023-09-03T08:00:00.000Z',
      '3002;AVITO_PERFORMANCE_VAS;added;2023-09-03T08:00:00.000Z',
      '3001;AVITO_PERFORMANCE_VAS;removed;2023-09-04T12:30:00.000Z',
      '3002;AVITO_PERFORMANCE_VAS;removed;2023-09-04T12:30:00.000Z',
    ]);
  });

  it('period must be a real month, not after the current one; 400 names the field', async () => {
    clock.set(new Date('2023-09-05T00:00:00.000Z'));
    for (const period of ['2023-13', '2023-00', '2023-8', 'abc', '2023-10', '2024-01', '2023-09-01', '']) {
      const response = await post('/reports/history', { period });
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json().errors.map((error: { path: string }) => error.path)).toEqual(['period']);
    }
    expect((await post('/reports/history', {})).json().errors[0].path).toBe('period');
    expect((await post('/reports/history', { period: '2023-08', userId: 0 })).json().errors[0].path).toBe('userId');
    expect((await post('/reports/history', { period: '2023-08', user: 1000 })).statusCode).toBe(400);
    expect((await post('/reports/history', { period: '2023-09' })).statusCode).toBe(201);
  });

  it('a download link that does not exist is a 404 problem', async () => {
    for (const url of ['/reports/0123456789abcdef0123456789abcdef.csv', '/reports/..%2F..%2Fetc%2Fpasswd', '/reports/abc.csv']) {
      const response = await t.request({ method: 'GET', url });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ type: '/problems/report-not-found', status: 404 });
    }
  });

  it('a report requested while writes are half-way contains none of them, and all of them once they commit', async () => {
    clock.set(new Date('2023-10-15T12:00:00.000Z'));
    const users = Array.from({ length: 20 }, (_, index) => 5000 + index);
    for (const userId of users) await change(userId, { add: ['AVITO_VOICE_MESSAGES'] });
    // Each write removes one segment and adds another in one append: two rows, or none.
    const swap = (userId: number) => change(userId, { add: ['AVITO_DISCOUNT_50'], remove: ['AVITO_VOICE_MESSAGES'] });
    const done = users.slice(0, 14);
    // Each held write keeps a connection of the store's pool (10): six leave room for the rest.
    const halfWay = users.slice(14);
    for (const userId of done) expect((await swap(userId)).statusCode).toBe(200);
    // The other half are held after their removal row and before their add row, transactions open.
    const hold = await holdAppends(t.db.pool, t.db.url, { type: 'MembershipAdded', streams: halfWay.map((userId) => `user-${userId}`) });
    let during: Array<{ lines: string[] }>;
    let held;
    try {
      held = halfWay.map(swap);
      await hold.waitUntilHolding(halfWay.length);
      during = [await report({ period: '2023-10' }), await report({ period: '2023-10' })];
      await hold.release();
      held = await Promise.all(held);
    } finally {
      await hold.release();
    }
    expect(held.map((response) => response.statusCode)).toEqual(halfWay.map(() => 200));
    const after = await report({ period: '2023-10' });

    const added = (userId: number) => `${userId};AVITO_VOICE_MESSAGES;added;2023-10-15T12:00:00.000Z`;
    const swapped = (userId: number) => [
      added(userId),
      `${userId};AVITO_VOICE_MESSAGES;removed;2023-10-15T12:00:00.000Z`,
      `${userId};AVITO_DISCOUNT_50;added;2023-10-15T12:00:00.000Z`,
    ];
    const rowsOf = (lines: string[], userId: number) => lines.filter((line) => line.startsWith(`${userId};`));
    for (const { lines } of during) {
      for (const userId of done) expect(rowsOf(lines, userId)).toEqual(swapped(userId));
      for (const userId of halfWay) expect(rowsOf(lines, userId)).toEqual([added(userId)]);
    }
    for (const userId of users) expect(rowsOf(after.lines, userId)).toEqual(swapped(userId));
    expect(after.lines.filter((line) => users.some((userId) => line.startsWith(`${userId};`)))).toHaveLength(users.length * 3);
  });
});
