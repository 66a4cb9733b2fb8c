// Memberships are never lost or given to the wrong users under concurrent writers.
import { comparePositions } from '../../src/eventstore/position';
import { createService } from '../../src/service';
import { appendAttempts, countAppendAttempts } from '../support/appendAttempts';
import { serviceEventStore } from '../support/eventStores';
import { holdAppends } from '../support/heldAppends';
import { startTestService, type TestService, serviceParts } from '../support/testService';

describe('concurrent writers', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(() => t.close());

  it('40 concurrent updates of user 1000 through two service instances: the losers of each race decide again, no 503, all 40 memberships are there', async () => {
    // Within one instance the writes to one user queue up; across two they race for the stream's
    // revision, so the event store's conflict and the commands' retry decide, as between processes.
    const other = await createService({ ...serviceParts(t.db.pool, t.db.url), roles: new Set(['api']), store: t.createEventStore() });
    try {
      const slugs = Array.from({ length: 40 }, (_, i) => `EXPERIMENT_${String(i).padStart(2, '0')}`);
      for (const slug of slugs) expect((await t.request({ method: 'POST', url: '/segments', payload: { slug } })).statusCode).toBe(201);
      // Counted in PostgreSQL's events table (EventStoreDB runs check only the outcome).
      const counting = serviceEventStore === 'postgres';
      if (counting) await countAppendAttempts(t.db.pool);
      const before = counting ? await appendAttempts(t.db.pool) : undefined;

      const apps = [t.service.app, other.app];
      const responses = await Promise.all(
        slugs.map((slug, i) => apps[i % 2]!.inject({ method: 'POST', url: '/users/1000/segments', payload: { add: [slug] } })),
      );
      expect(responses.map((r) => r.statusCode)).toEqual(slugs.map(() => 200));
      expect(responses.map((r) => r.json().added[0]).sort()).toEqual(slugs);
      expect(responses.map((r) => r.json().version).sort((a, b) => a - b)).toEqual(slugs.map((_, i) => i + 1));

      // Appends that lost the race: tried once more than stored, each.
      if (before) {
        const after = await appendAttempts(t.db.pool);
        expect(after.stored - before.stored).toBe(40);
        expect(after.tried - before.tried - 40).toBeGreaterThan(0);
      }

      await t.settle();
      const read = await t.request({ method: 'GET', url: '/users/1000/segments' });
      expect(read.json().segments.map((s: { slug: string }) => s.slug)).toEqual(slugs);
      expect(await t.service.store.readStream('user-1000')).toHaveLength(40);
    } finally {
      await other.stop();
    }
  });

  it('concurrent adds and removes across two service instances on one database lose nothing', async () => {
    // A second instance has its own in-process queue, so the two race through the event store.
    const other = await createService({ ...serviceParts(t.db.pool, t.db.url), roles: new Set(['api']), store: t.createEventStore() });
    try {
      const slugs = ['RACE_A', 'RACE_B', 'RACE_C', 'RACE_D', 'RACE_E', 'RACE_F'];
      for (const slug of slugs) await t.request({ method: 'POST', url: '/segments', payload: { slug } });
      const apps = [t.service.app, other.app];
      await Promise.all(
        slugs.map((slug, i) => apps[i % 2]!.inject({ method: 'POST', url: '/users/2000/segments', payload: { add: [slug] } })),
      );
      const removals = await Promise.all(
        ['RACE_A', 'RACE_D'].map((slug, i) => apps[i % 2]!.inject({ method: 'POST', url: '/users/2000/segments', payload: { remove: [slug] } })),
      );
      expect(removals.map((r) => r.json().removed)).toEqual([['RACE_A'], ['RACE_D']]);
      await t.settle();
      const read = await t.request({ method: 'GET', url: '/users/2000/segments' });
      expect(read.json().segments.map((s: { slug: string }) => s.slug)).toEqual(['RACE_B', 'RACE_C', 'RACE_E', 'RACE_F']);
    } finally {
      await other.stop();
    }
  });

  it('a delete racing with adds: adds before it are removed at the deletion, adds that slipped past it at their own moment, adds after it are refused', async () => {
    await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_DISCOUNT_30' } });
    const add = (userId: number) => t.request({ method: 'POST', url: `/users/${userId}/segments`, payload: { add: ['AVITO_DISCOUNT_30'] } });
    const earlier = Array.from({ length: 10 }, (_, i) => 5000 + i);
    const slipped = Array.from({ length: 10 }, (_, i) => 5100 + i);
    const later = Array.from({ length: 10 }, (_, i) => 5200 + i);

    const earlierAnswers = await Promise.all(earlier.map(add));
    // The deletion is held at its insert, uncommitted: adds meanwhile still find the segment live,
    // and their appends commit first but come after the deletion in the global order, so the
    // projector meets adds to a segment it has already deleted.
    const hold = await holdAppends(t.db.pool, t.db.url, { type: 'SegmentDeleted', streams: ['segment-AVITO_DISCOUNT_30'] });
    let deleted;
    let slippedAnswers;
    try {
      const deletion = t.request({ method: 'DELETE', url: '/segments/AVITO_DISCOUNT_30' });
      await hold.waitUntilHolding(1);
      slippedAnswers = await Promise.all(slipped.map(add));
      await hold.release();
      deleted = await deletion;
    } finally {
      await hold.release();
    }
    const laterAnswers = await Promise.all(later.map(add));

    expect(deleted.statusCode).toBe(204);
    expect(earlierAnswers.map((r) => [r.statusCode, r.json().added])).toEqual(earlier.map(() => [200, ['AVITO_DISCOUNT_30']]));
    expect(slippedAnswers.map((r) => [r.statusCode, r.json().added])).toEqual(slipped.map(() => [200, ['AVITO_DISCOUNT_30']]));
    expect(laterAnswers.map((r) => [r.statusCode, r.json().type, r.json().slugs])).toEqual(
      later.map(() => [422, '/problems/unknown-segments', ['AVITO_DISCOUNT_30']]),
    );

    await t.settle();
    for (const userId of [...earlier, ...slipped, ...later]) {
      const read = await t.request({ method: 'GET', url: `/users/${userId}/segments` });
      expect({ userId, segments: read.json().segments }).toEqual({ userId, segments: [] });
    }
    expect((await t.request({ method: 'GET', url: '/segments/AVITO_DISCOUNT_30' })).statusCode).toBe(404);

    // Every add answered 200 is in its stream, followed by its removal as segment_deleted: at the
    // deletion for an add before it, at the add's own moment for one that slipped past it, so that
    // history never shows the user in the segment after the deletion. A refused add left nothing.
    const [, deletion] = await t.service.store.readStream('segment-AVITO_DISCOUNT_30');
    const deletedAt = (deletion!.data as { deletedAt: string }).deletedAt;
    for (const userId of [...earlier, ...slipped]) {
      const events = await t.service.store.readStream(`user-${userId}`);
      const [added, removed] = events.map((event) => event.data as { reason: string; addedAt: string; effectiveAt: string });
      expect({
        userId,
        events: events.map((event) => [event.type, (event.data as { reason: string }).reason]),
        afterDeletion: comparePositions(events[0]!.position, deletion!.position) > 0,
        removedAt: removed?.effectiveAt,
      }).toEqual({
        userId,
        events: [
          ['MembershipAdded', 'manual'],
          ['MembershipRemoved', 'segment_deleted'],
        ],
        afterDeletion: slipped.includes(userId),
        removedAt: slipped.includes(userId) ? added!.addedAt : deletedAt,
      });
      if (slipped.includes(userId)) expect(Date.parse(added!.addedAt)).toBeGreaterThan(Date.parse(deletedAt));
    }
    for (const userId of later) expect(await t.service.store.readStream(`user-${userId}`)).toEqual([]);
  });
});
