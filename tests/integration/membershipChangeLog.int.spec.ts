// The two readers of a report's rows give the same rows: straight from PostgreSQL's events table,
// and through the event-store port (what an EventStoreDB deployment uses), sorted in a temporary
// table. Run here against the PostgreSQL adapter's port; the port's contract suite holds both
// adapters to the same readAll.
import { randomUUID } from 'node:crypto';
import { userStream } from '../../src/events/streams';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgresEventStore';
import { readMembershipChanges, readMembershipChangesFromStore, type MembershipChange } from '../../src/reports/membershipChangeLog';
import { parsePeriod } from '../../src/reports/period';
import { createTestDatabase, type TestDatabase } from '../support/database';

describe('membership changes of a month, by both readers', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  const segmentId = '00000000-0000-4000-8000-000000000030';

  const event = (type: string, data: Record<string, unknown>) => ({ id: randomUUID(), type, data: { segmentId, ...data }, metadata: { source: 'api' } });
  const added = (userId: number, slug: string, addedAt: string) =>
    event('MembershipAdded', { userId, slug, addedAt, expiresAt: null, reason: 'manual' });
  const removed = (userId: number, slug: string, effectiveAt: string, reason = 'manual') =>
    event('MembershipRemoved', { userId, slug, effectiveAt, reason });

  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore(db.pool, { connectionString: db.url });
    await store.append(userStream(1000), [added(1000, 'AVITO_DISCOUNT_30', '2023-11-30T23:59:59.999Z')], 'any');
    await store.append(userStream(1000), [added(1000, 'AVITO_VOICE_MESSAGES', '2023-12-01T00:00:00.000Z')], 'any');
    await store.append(userStream(1002), [added(1002, 'AVITO_DISCOUNT_50', '2023-12-10T12:00:00.000Z')], 'any');
    await store.append(userStream(1002), [event('SegmentCreated', { slug: 'NOT_A_MEMBERSHIP', createdAt: '2023-12-11T00:00:00.000Z' })], 'any');
    // Appended late, but it took effect before user 1002's add.
    await store.append(userStream(1000), [removed(1000, 'AVITO_DISCOUNT_30', '2023-12-05T00:00:00.000Z', 'expired')], 'any');
    await store.append(userStream(1004), [event('AutoMembershipOptedOut', { userId: 1004, slug: 'AVITO_PERFORMANCE_VAS', effectiveAt: '2023-12-20T08:00:00.000Z', reason: 'manual' })], 'any');
    const last = added(1000, 'AVITO_DISCOUNT_50', '2024-01-01T00:00:00.000Z');
    await store.append(userStream(1000), [removed(1000, 'AVITO_VOICE_MESSAGES', '2023-12-31T23:59:59.999Z'), last], 'any');
    // The port's readAll holds committed events back while an older transaction anywhere on the
    // server is open (another test file's, say); wait until it shows ours, as a reader would.
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      const seen = await store.readAll({ limit: 1_000 });
      if (seen.some((recorded) => recorded.id === last.id)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  async function collect(read: (onBatch: (changes: MembershipChange[]) => Promise<void>, onTotal: (n: number) => void) => Promise<number>) {
    const rows: string[] = [];
    let total = -1;
    const count = await read(async (changes) => void rows.push(...changes.map((c) => `${c.userId};${c.slug};${c.operation};${c.at}`)), (n) => (total = n));
    expect(count).toBe(rows.length);
    expect(total).toBe(rows.length);
    return rows;
  }

  it.each([
    ['the events table', 'postgres'],
    ['the event-store port', 'port'],
  ])('December 2023 from %s: the month only, in the order the changes took effect', async (_name, reader) => {
    const period = parsePeriod('2023-12')!;
    const read = (userId?: number) =>
      collect((onBatch, onTotal) =>
        reader === 'postgres'
          ? readMembershipChanges(db.pool, { period, userId }, onBatch, { onTotal })
          : readMembershipChangesFromStore(store, db.pool, { period, userId }, onBatch, { onTotal }),
      );
    expect(await read()).toEqual([
      '1000;AVITO_VOICE_MESSAGES;added;2023-12-01T00:00:00.000Z',
      '1000;AVITO_DISCOUNT_30;removed;2023-12-05T00:00:00.000Z',
      '1002;AVITO_DISCOUNT_50;added;2023-12-10T12:00:00.000Z',
      '1004;AVITO_PERFORMANCE_VAS;removed;2023-12-20T08:00:00.000Z',
      '1000;AVITO_VOICE_MESSAGES;removed;2023-12-31T23:59:59.999Z',
    ]);
    expect(await read(1002)).toEqual(['1002;AVITO_DISCOUNT_50;added;2023-12-10T12:00:00.000Z']);
    expect(await read(999)).toEqual([]);
  });
});
