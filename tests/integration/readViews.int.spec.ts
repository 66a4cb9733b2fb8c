// The two read models answer alike: random sequences of everything that changes memberships
// (segment creations, deletions and re-creations of a slug, adds with and without TTLs, removals,
// opt-outs of percentage segments, percentage changes, bulk changes, adds that lose the race
// against their segment's deletion, the deletion sweep and the expiry timer) go through the real
// service, and at several moments every user's segments from the PostgreSQL read model must equal
// the in-memory view's, both the view that followed the event feed and one freshly loaded from the
// tables. At the end a rebuild swaps in tables a verify finds equal. A failure names the seed: `READ_VIEW_SEED=<seed> npx jest readViews` repeats it.
import { randomUUID } from 'node:crypto';
import { createUserCommands } from '../../src/commands/userCommands';
import { createUserSnapshots } from '../../src/commands/userSnapshots';
import { createSegmentDeletionSweep } from '../../src/processes/segmentDeletionSweep';
import { readCheckpoint } from '../../src/projections/checkpoints';
import { createReadModelProjection, READ_MODEL_PROJECTION } from '../../src/projections/readModel/readModelProjection';
import { rebuildReadModel } from '../../src/projections/rebuild/rebuildReadModel';
import { verifyReadModel } from '../../src/projections/rebuild/verifyReadModel';
import { ProjectionRunner } from '../../src/projections/runner';
import { segmentStream, userStream } from '../../src/events/streams';
import { loadViewSnapshot } from '../../src/projections/memoryView/viewSnapshot';
import type { MembershipView } from '../../src/projections/memoryView/membershipView';
import { PercentageSegmentCache } from '../../src/queries/percentageSegments';
import { activeSegmentsInView, activeSegmentsOf } from '../../src/queries/userSegments';
import { HOUR, SECOND, TestClock } from '../support/testClock';
import { waitUntilProjected } from '../support/eventLogCheck';
import { startTestService, type TestService } from '../support/testService';

const USERS = Array.from({ length: 24 }, (_, index) => 1_000 + index);
const SLUGS = ['A', 'B', 'C', 'D', 'E'];
const ROUNDS = 5;
const OPERATIONS_PER_ROUND = 30;

/** mulberry32: small, seeded, good enough to pick operations. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (below: number) => Math.floor(next() * below);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const some = <T>(items: readonly T[], most: number): T[] => [...new Set(Array.from({ length: 1 + int(most) }, () => pick(items)))];
  return { next, int, pick, some };
}

type Random = ReturnType<typeof random>;

const percentOf = (rng: Random) => rng.pick([null, 10, 25, 50, 75, 100]);
const expiryOf = (rng: Random) => (rng.next() < 0.4 ? { ttlSeconds: rng.pick([60, 600, 3_600, 7_200]) } : {});

async function operate(t: TestService, clock: TestClock, rng: Random, deleted: Map<string, string>): Promise<void> {
  const slug = rng.pick(SLUGS);
  const userId = rng.pick(USERS);
  const roll = rng.next();
  if (roll < 0.12) {
    const autoAssignPercent = percentOf(rng);
    await t.request({ method: 'POST', url: '/segments', payload: autoAssignPercent === null ? { slug } : { slug, autoAssignPercent } });
  } else if (roll < 0.2) {
    const removed = await t.request({ method: 'DELETE', url: `/segments/${slug}` });
    if (removed.statusCode < 300) {
      const created = (await t.service.store.readStream(segmentStream(slug))).filter((event) => event.type === 'SegmentCreated').at(-1);
      deleted.set(slug, (created!.data as { segmentId: string }).segmentId);
    }
  } else if (roll < 0.3) {
    await t.request({ method: 'PATCH', url: `/segments/${slug}`, payload: { autoAssignPercent: percentOf(rng) } });
  } else if (roll < 0.6) {
    const add = rng.some(SLUGS, 3).map((added) => ({ slug: added, ...expiryOf(rng) }));
    await t.request({ method: 'POST', url: `/users/${userId}/segments`, payload: { add } });
  } else if (roll < 0.78) {
    // Removing a percentage segment the user is in by percentage is an opt-out.
    await t.request({ method: 'POST', url: `/users/${userId}/segments`, payload: { remove: rng.some(SLUGS, 2) } });
  } else if (roll < 0.86) {
    const add = rng.some(USERS, 6);
    const remove = rng.some(USERS, 4).filter((user) => !add.includes(user));
    await t.request({ method: 'POST', url: `/segments/${slug}/members`, payload: { add, remove, ...expiryOf(rng) } });
  } else if (roll < 0.9 && deleted.size > 0) {
    await lateAdd(t, clock, userId, rng.pick([...deleted]));
  } else {
    clock.advance(rng.pick([10 * SECOND, 5 * 60 * SECOND, HOUR, 3 * HOUR]));
  }
}

/** An add decided before its segment's deletion and appended after it: the race the sweep repairs. */
async function lateAdd(t: TestService, clock: TestClock, userId: number, [slug, segmentId]: [string, string]): Promise<void> {
  const store = t.service.store;
  const stream = userStream(userId);
  const events = await store.readStream(stream);
  const data = { userId, segmentId, slug, expiresAt: null, reason: 'manual', addedAt: clock.now().toISOString() };
  await store.append(stream, [{ id: randomUUID(), type: 'MembershipAdded', data, metadata: { actor: 'tests', source: 'api' } }], events.length - 1 < 0 ? 'no_stream' : events.length - 1);
}

async function expectSameAnswers(t: TestService, views: Array<[string, MembershipView]>, moments: Date[], context: string): Promise<void> {
  const cache = new PercentageSegmentCache(t.db.pool);
  for (const at of moments) {
    for (const userId of USERS) {
      const fromTables = await activeSegmentsOf(t.readPool, userId, at, cache);
      for (const [name, view] of views) {
        const fromView = activeSegmentsInView(view, userId, at);
        if (JSON.stringify(fromView) !== JSON.stringify(fromTables)) {
          throw new Error(`${context}: user ${userId} at ${at.toISOString()}, ${name} view ${JSON.stringify(fromView)}, tables ${JSON.stringify(fromTables)}`);
        }
      }
    }
  }
}

const quiet = { info() {}, error() {}, warn() {} };

/** Until the tables hold every event appended so far and the view has reached them. */
async function settle(t: TestService, options: { outboxEmpty: boolean }): Promise<void> {
  await waitUntilProjected(t.db.pool, 15_000, options);
  const checkpoint = await readCheckpoint(t.db.pool, READ_MODEL_PROJECTION);
  if (checkpoint) expect(await t.service.readView!.waitFor(checkpoint.position, 15_000)).toBe(true);
}

const seeds = process.env.READ_VIEW_SEED ? [Number(process.env.READ_VIEW_SEED)] : [Date.now() % 1_000_000, 1, 2];

describe('the in-memory view answers as the PostgreSQL read model does', () => {
  it.each(seeds)('random sequence with seed %s', async (seed) => {
    const clock = new TestClock(new Date('2026-06-01T00:00:00Z'));
    // The projector runs here without its deletion sweep, which the test runs between comparisons:
    // so the answers are also compared while adds that lost the race to a deletion are in the log.
    const t = await startTestService({ clock, roles: ['api', 'timer'], ttlSweepSchedule: '* * * * * *' });
    const runner = new ProjectionRunner({ pool: t.db.pool, store: t.service.store, projection: createReadModelProjection(), logger: quiet, batchSize: 7 });
    const userCommands = createUserCommands({ store: t.service.store, snapshots: createUserSnapshots(t.db.pool, t.readPool), clock });
    const sweep = createSegmentDeletionSweep({ pool: t.db.pool, userCommands, logger: quiet });
    runner.start();
    try {
      const rng = random(seed);
      const deleted = new Map<string, string>();
      let compared = 0;
      const compare = async (context: string, options: { outboxEmpty: boolean }) => {
        await settle(t, options);
        const followed = t.service.readView?.ready;
        expect(followed).toBeDefined();
        const loaded = (await loadViewSnapshot(t.readPool)).view;
        const now = clock.now();
        const moments = [now, new Date(now.getTime() + 90 * SECOND), new Date(now.getTime() + 2 * HOUR)];
        await expectSameAnswers(t, [['followed', followed!], ['loaded', loaded]], moments, `seed ${seed}, ${context}`);
        compared += moments.length * USERS.length;
      };
      for (let round = 1; round <= ROUNDS; round++) {
        for (let i = 0; i < OPERATIONS_PER_ROUND; i++) await operate(t, clock, rng, deleted);
        await compare(`round ${round} before the deletion sweep`, { outboxEmpty: false });
        sweep.start();
        sweep.wake();
        await compare(`round ${round} after the deletion sweep`, { outboxEmpty: true });
        await sweep.stop();
      }
      // The sequence did exercise the read: some users are in segments.
      const answers = USERS.map((userId) => activeSegmentsInView(t.service.readView!.ready!, userId, clock.now()));
      // A rebuild, whose bulk replay derives the memberships from the audit at its end, swaps in
      // tables that a verify (applying every event as the projector does) finds equal, and that
      // answer as both views do; taken while deleted segments still have members in their streams
      // (the sweep has not run after the last operations and one more deletion).
      for (let i = 0; i < OPERATIONS_PER_ROUND; i++) await operate(t, clock, rng, deleted);
      const crowded = SLUGS.find((slug) => USERS.some((userId) => activeSegmentsInView(t.service.readView!.ready!, userId, clock.now()).some((segment) => segment.slug === slug)));
      if (crowded) await t.request({ method: 'DELETE', url: `/segments/${crowded}` });
      await settle(t, { outboxEmpty: false });
      const rebuilt = await rebuildReadModel({ pool: t.db.pool, store: t.service.store, copyPool: t.readPool }, { batchSize: 10 });
      // Several batches of the bulk replay, so the derivation spans batches.
      expect(rebuilt.rebuilt && rebuilt.summary.events).toBeGreaterThan(3 * 10);
      const verified = await verifyReadModel({ pool: t.db.pool, store: t.service.store });
      expect(verified.verified && verified.report.differences).toEqual([]);
      await compare('after a rebuild', { outboxEmpty: false });
      expect(compared).toBe((ROUNDS * 2 + 1) * 3 * USERS.length);
      expect(answers.flat().length).toBeGreaterThan(0);
    } finally {
      await sweep.stop();
      await runner.stop();
      await t.close();
    }
  }, 120_000);
});
