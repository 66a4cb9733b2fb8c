// The cache of percentage segments against a real PostgreSQL: a read is one database call however
// many percentage segments exist, and a change of a percentage reaches the next read.
import type { DatabasePool } from 'slonik';
import { isInPercentage } from '../../src/domain/percentage';
import { PercentageSegmentCache } from '../../src/queries/percentageSegments';
import { activeSegmentsOf, type ReadPool } from '../../src/queries/userSegments';
import { startTestService, type TestService } from '../support/testService';

/** A pool, counting every method called on it (each is one statement or transaction) into `tally`. */
function countingPool<P extends object>(pool: P, tally: { calls: number }): P {
  return new Proxy(pool, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        tally.calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** The service's two pools (the read's and the rest's, which the cache uses), counting calls on both. */
function counting(t: TestService): { pool: DatabasePool; readPool: ReadPool; calls: () => number } {
  const tally = { calls: 0 };
  return { pool: countingPool(t.db.pool, tally), readPool: countingPool(t.readPool, tally), calls: () => tally.calls };
}

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  for (let index = 1; index <= 50; index++) {
    await t.request({ method: 'POST', url: '/segments', payload: { slug: `AUTO_${index}`, autoAssignPercent: index * 2 } });
  }
  await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_DISCOUNT_30' } });
  await t.request({ method: 'POST', url: '/users/7/segments', payload: { add: ['AVITO_DISCOUNT_30', 'AUTO_50'], remove: ['AUTO_49'] } });
  await t.settle();
}, 60_000);
afterAll(() => t.close());

it('with 50 percentage segments, each read is one database call; only the first loads the cache', async () => {
  const db = counting(t);
  const cache = new PercentageSegmentCache(db.pool);
  const now = new Date();
  await activeSegmentsOf(db.readPool, 1, now, cache);
  expect(db.calls()).toBe(3); // the read, then the cache's version and timelines
  for (let userId = 2; userId <= 101; userId++) await activeSegmentsOf(db.readPool, userId, now, cache);
  expect(db.calls()).toBe(3 + 100);
});

it('answers by the rule, with manual memberships and opt-outs, in one call', async () => {
  const cache = new PercentageSegmentCache(t.db.pool);
  await cache.current();
  const seeds = new Map((await cache.current()).map((timeline) => [timeline.slug, timeline.rolloutSeed]));
  const db = counting(t);
  const segments = await activeSegmentsOf(db.readPool, 7, new Date(), cache);
  expect(db.calls()).toBe(1);
  const expectedAuto = [...seeds]
    .filter(([slug, seed]) => slug !== 'AUTO_50' && slug !== 'AUTO_49' && isInPercentage(seed, Number(slug.slice(5)) * 2, 7))
    .map(([slug]) => slug);
  expect(segments.filter((s) => s.source === 'auto').map((s) => s.slug).sort()).toEqual(expectedAuto.sort());
  expect(segments.filter((s) => s.source === 'manual').map((s) => s.slug).sort()).toEqual(['AUTO_50', 'AVITO_DISCOUNT_30']);
});

it('a PATCH of a percentage reaches the next read: the version in the read triggers one reload', async () => {
  const db = counting(t);
  const cache = new PercentageSegmentCache(db.pool);
  const before = await activeSegmentsOf(db.readPool, 12345, new Date(), cache);
  expect(before.some((s) => s.slug === 'AUTO_1' && s.source === 'auto')).toBe(isInPercentage((await cache.current()).find((x) => x.slug === 'AUTO_1')!.rolloutSeed, 2, 12345));
  await t.request({ method: 'PATCH', url: '/segments/AUTO_1', payload: { autoAssignPercent: 100 } });
  await t.request({ method: 'DELETE', url: '/segments/AUTO_2' });
  await t.settle();
  const calls = db.calls();
  const after = await activeSegmentsOf(db.readPool, 12345, new Date(), cache);
  expect(db.calls() - calls).toBe(3);
  expect(after.find((s) => s.slug === 'AUTO_1')).toMatchObject({ source: 'auto' });
  expect(after.find((s) => s.slug === 'AUTO_2')).toBeUndefined();
  await activeSegmentsOf(db.readPool, 12345, new Date(), cache);
  expect(db.calls() - calls).toBe(4);
});
