// A bulk change decides every user at one moment taken after all their streams were read, so a
// TTL is counted from then, not from before seconds of reading. The clock here moves an hour each
// time the service reads streams: a real PostgreSQL store, observed through the port.
import { PostgresEventStore } from '../../src/eventstore/postgres/postgresEventStore';
import type { EventStore } from '../../src/eventstore/eventStore';
import { applySchema } from '../../src/platform/database';
import { createService, type Service } from '../../src/service';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { HOUR, TestClock } from '../support/testClock';
import { serviceParts } from '../support/testService';

describe('the moment of a bulk change', () => {
  let db: TestDatabase;
  let service: Service;
  const clock = new TestClock(new Date('2026-11-23T09:00:00.000Z'));

  beforeAll(async () => {
    db = await createTestDatabase();
    await applySchema(db.url);
    const postgres = new PostgresEventStore(db.pool, { connectionString: db.url });
    // Every read of streams takes "an hour" by this clock.
    const store = new Proxy(postgres, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== 'readStreams' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          const result = await value.apply(target, args);
          clock.advance(HOUR);
          return result;
        };
      },
    }) as EventStore;
    service = await createService({ ...serviceParts(db.pool, db.url), roles: new Set(['api']), clock, store });
    await service.app.ready();
  });
  afterAll(async () => {
    await service.stop();
    await db.drop();
  });

  it('counts the TTL from after the users were read', async () => {
    expect((await service.app.inject({ method: 'POST', url: '/segments', payload: { slug: 'BULK_TTL' } })).statusCode).toBe(201);
    const response = await service.app.inject({
      method: 'POST',
      url: '/segments/BULK_TTL/members',
      payload: { add: [1, 2, 3], ttlSeconds: 60 },
    });
    expect(response.statusCode).toBe(200);
    const decidedAt = clock.now(); // after the reads of the segment and of the users' streams
    const [added] = await service.store.readStream('user-2');
    expect(added).toMatchObject({ type: 'MembershipAdded' });
    expect(added!.data).toMatchObject({
      addedAt: decidedAt.toISOString(),
      expiresAt: new Date(decidedAt.getTime() + 60_000).toISOString(),
    });
  });
});
