// Memberships are never lost or given to the wrong users under concurrent writers.
import { createService } from '../../src/service';
import { startTestService, type TestService, serviceParts } from '../support/testService';

describe('concurrent writers', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(() => t.close());

  it('40 concurrent updates of user 1000 with different slugs: all 40 memberships are there afterwards', async () => {
    const slugs = Array.from({ length: 40 }, (_, i) => `EXPERIMENT_${String(i).padStart(2, '0')}`);
    for (const slug of slugs) expect((await t.request({ method: 'POST', url: '/segments', payload: { slug } })).statusCode).toBe(201);

    const responses = await Promise.all(
      slugs.map((slug) => t.request({ method: 'POST', url: '/users/1000/segments', payload: { add: [slug] } })),
    );
    expect(responses.map((r) => r.statusCode)).toEqual(slugs.map(() => 200));
    expect(responses.map((r) => r.json().added[0]).sort()).toEqual(slugs);
    expect(responses.map((r) => r.json().version).sort((a, b) => a - b)).toEqual(slugs.map((_, i) => i + 1));

    await t.settle();
    const read = await t.request({ method: 'GET', url: '/users/1000/segments' });
    expect(read.json().segments.map((s: { slug: string }) => s.slug)).toEqual(slugs);
    expect(await t.service.store.readStream('user-1000')).toHaveLength(40);
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

  it('a delete racing with adds leaves nobody in the deleted segment', async () => {
    await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_DISCOUNT_30' } });
    const users = Array.from({ length: 40 }, (_, i) => 5000 + i);
    const adds = users.map((userId, i) =>
      new Promise((resolve) => setTimeout(resolve, i)).then(() =>
        t.request({ method: 'POST', url: `/users/${userId}/segments`, payload: { add: ['AVITO_DISCOUNT_30'] } }),
      ),
    );
    const deletion = new Promise((resolve) => setTimeout(resolve, 15)).then(() =>
      t.request({ method: 'DELETE', url: '/segments/AVITO_DISCOUNT_30' }),
    );
    const [deleted, ...added] = await Promise.all([deletion, ...adds]);
    expect(deleted.statusCode).toBe(204);
    // Each add either won (200) or found the segment gone (422); nothing else.
    for (const response of added) expect([200, 422]).toContain(response.statusCode);

    await t.settle();
    for (const userId of users) {
      const read = await t.request({ method: 'GET', url: `/users/${userId}/segments` });
      expect(read.json().segments).toEqual([]);
    }
    expect((await t.request({ method: 'GET', url: '/segments/AVITO_DISCOUNT_30' })).statusCode).toBe(404);

    // Every add in the streams is followed by its removal, recorded as segment_deleted.
    for (const userId of users) {
      const events = await t.service.store.readStream(`user-${userId}`);
      const types = events.map((e) => `${e.type}:${(e.data as { reason: string }).reason}`);
      if (types.length > 0) expect(types).toEqual(['MembershipAdded:manual', 'MembershipRemoved:segment_deleted']);
    }
  });
});
