// History of automatic membership against a real PostgreSQL: the projector records each segment's
// percentage timeline and users' opt-outs; percentageHistoryOf and percentageSegmentsAt answer "since when
// is this user in AVITO_VOICE_MESSAGES automatically" from them.
import { sql } from 'slonik';
import { bucketOf } from '../../src/domain/percentage';
import type { Clock } from '../../src/platform/clock';
import { loadPercentageTimelines, percentageHistoryOf, percentageSegmentsAt } from '../../src/queries/percentageTimelines';
import { historyOf } from '../../src/queries/history';
import { startTestService, type TestService } from '../support/testService';

let current = new Date('2026-11-01T00:00:00.000Z');
const clock: Clock = { now: () => current };
const t1 = new Date('2026-11-01T10:00:00.000Z'); // created with 10 %
const t2 = new Date('2026-11-02T10:00:00.000Z'); // raised to 20 %
const t3 = new Date('2026-11-03T10:00:00.000Z'); // two users removed explicitly
const t4 = new Date('2026-11-04T10:00:00.000Z'); // lowered to 5 %
const t5 = new Date('2026-11-05T10:00:00.000Z'); // description changed only
const t6 = new Date('2026-11-06T10:00:00.000Z'); // deleted
const before = (at: Date) => new Date(at.getTime() - 1);

let t: TestService;
/** Users by the role their bucket gives them. */
const users = { stays: 0, raised: 0, lowered: 0, optedOut: 0, manualAndAuto: 0, never: 0 };

beforeAll(async () => {
  t = await startTestService({ clock });
  const at = async (time: Date, request: Parameters<TestService['request']>[0]) => {
    current = time;
    const response = await t.request(request);
    expect(response.statusCode).toBeLessThan(300);
  };
  await at(t1, { method: 'POST', url: '/segments', payload: { slug: 'AVITO_VOICE_MESSAGES', autoAssignPercent: 10 } });
  await t.settle();
  const seed = (await t.db.pool.oneFirst(sql.unsafe`SELECT rollout_seed FROM segments`)) as string;
  const pick = (from: number, to: number, skip: number[] = []) => {
    for (let userId = 1; ; userId++) {
      const bucket = bucketOf(seed, userId);
      if (bucket >= from && bucket < to && !skip.includes(userId)) return userId;
    }
  };
  users.stays = pick(0, 500);
  users.lowered = pick(500, 1000);
  users.raised = pick(1000, 2000);
  users.optedOut = pick(0, 1000, [users.stays, users.lowered]);
  users.manualAndAuto = pick(0, 1000, [users.stays, users.lowered, users.optedOut]);
  users.never = pick(2000, 10_000);

  await at(t1, { method: 'POST', url: `/users/${users.manualAndAuto}/segments`, payload: { add: ['AVITO_VOICE_MESSAGES'] } });
  await at(t2, { method: 'PATCH', url: '/segments/AVITO_VOICE_MESSAGES', payload: { autoAssignPercent: 20 } });
  await at(t3, { method: 'POST', url: `/users/${users.optedOut}/segments`, payload: { remove: ['AVITO_VOICE_MESSAGES'] } });
  await at(t3, { method: 'POST', url: `/users/${users.manualAndAuto}/segments`, payload: { remove: ['AVITO_VOICE_MESSAGES'] } });
  await at(t4, { method: 'PATCH', url: '/segments/AVITO_VOICE_MESSAGES', payload: { autoAssignPercent: 5 } });
  await at(t5, { method: 'PATCH', url: '/segments/AVITO_VOICE_MESSAGES', payload: { description: 'Voice messages in chats' } });
  await at(t6, { method: 'DELETE', url: '/segments/AVITO_VOICE_MESSAGES' });
  await t.settle();
}, 60_000);

afterAll(() => t.close());

const entry = (operation: 'added' | 'removed', reason: string, at: Date) => ({ slug: 'AVITO_VOICE_MESSAGES', operation, reason, at });

describe('percentage timelines', () => {
  it('the projector records creation, each change of the percentage and the deletion, not a change of the description', async () => {
    const [timeline, ...others] = await loadPercentageTimelines(t.db.pool);
    expect(others).toEqual([]);
    expect(timeline!.slug).toBe('AVITO_VOICE_MESSAGES');
    expect(timeline!.changes).toEqual([
      { at: t1, percent: 10, deleted: false },
      { at: t2, percent: 20, deleted: false },
      { at: t4, percent: 5, deleted: false },
      { at: t6, percent: null, deleted: true },
    ]);
    expect(await loadPercentageTimelines(t.db.pool, { liveOnly: true })).toEqual([]);
  });
});

describe('percentageHistoryOf', () => {
  it('a user under 5 % is in from the creation until the deletion', async () => {
    expect(await percentageHistoryOf(t.db.pool, users.stays)).toEqual([entry('added', 'auto', t1), entry('removed', 'segment_deleted', t6)]);
  });

  it('a user between 5 % and 10 % is in from the creation until the lower', async () => {
    expect(await percentageHistoryOf(t.db.pool, users.lowered)).toEqual([entry('added', 'auto', t1), entry('removed', 'auto', t4)]);
  });

  it('a user between 10 % and 20 % is in from the raise until the lower', async () => {
    expect(await percentageHistoryOf(t.db.pool, users.raised)).toEqual([entry('added', 'auto', t2), entry('removed', 'auto', t4)]);
  });

  it('an explicit removal ends it with reason manual', async () => {
    expect(await percentageHistoryOf(t.db.pool, users.optedOut)).toEqual([entry('added', 'auto', t1), entry('removed', 'manual', t3)]);
  });

  it("a manual member's removal ends the automatic membership too, and history shows it once", async () => {
    expect(await percentageHistoryOf(t.db.pool, users.manualAndAuto)).toEqual([entry('added', 'auto', t1), entry('removed', 'manual', t3)]);
    const audit = await t.db.pool.anyFirst(sql.unsafe`
      SELECT operation || ' ' || reason FROM membership_audit WHERE user_id = ${users.manualAndAuto} ORDER BY global_position`);
    expect(audit).toEqual(['added manual', 'removed manual']);
    // Added explicitly at the moment the percentage took the user in (the explicit entry wins the
    // tie); one removal at t3, which ended both.
    expect(await historyOf(t.db.pool, users.manualAndAuto)).toEqual([
      { slug: 'AVITO_VOICE_MESSAGES', operation: 'added', reason: 'manual', at: t1 },
      { slug: 'AVITO_VOICE_MESSAGES', operation: 'removed', reason: 'manual', at: t3 },
    ]);
  });

  it('a user the percentage never reached has no entries', async () => {
    expect(await percentageHistoryOf(t.db.pool, users.never)).toEqual([]);
  });

  it('from is inclusive and to exclusive', async () => {
    expect(await percentageHistoryOf(t.db.pool, users.raised, { from: t2, to: t4 })).toEqual([entry('added', 'auto', t2)]);
    expect(await percentageHistoryOf(t.db.pool, users.raised, { from: before(t4) })).toEqual([entry('removed', 'auto', t4)]);
  });
});

describe('percentageSegmentsAt', () => {
  const at = (userId: number, time: Date) => percentageSegmentsAt(t.db.pool, userId, time);
  const voice = (addedAt: Date) => [{ slug: 'AVITO_VOICE_MESSAGES', source: 'auto', addedAt, expiresAt: null }];

  it('answers as it was at that moment', async () => {
    expect(await at(users.stays, before(t1))).toEqual([]);
    expect(await at(users.stays, t1)).toEqual(voice(t1));
    expect(await at(users.stays, before(t6))).toEqual(voice(t1));
    expect(await at(users.stays, t6)).toEqual([]);
    expect(await at(users.raised, before(t2))).toEqual([]);
    expect(await at(users.raised, t2)).toEqual(voice(t2));
    expect(await at(users.raised, t4)).toEqual([]);
    expect(await at(users.optedOut, before(t3))).toEqual(voice(t1));
    expect(await at(users.optedOut, t3)).toEqual([]);
  });
});
