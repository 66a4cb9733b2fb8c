// The read-model projector against a real PostgreSQL: exactly-once application across crashes,
// one active instance at a time, and segment deletion (including deletions racing with adds).
import { sql, type QuerySqlToken } from 'slonik';
import { z } from 'zod';
import { createSegmentCommands, type SegmentCommands } from '../../src/commands/segmentCommands';
import type { Pool } from 'pg';
import { createReadPool } from '../../src/platform/database';
import { createUserSnapshots } from '../../src/commands/userSnapshots';
import { createUserCommands, type UserCommands } from '../../src/commands/userCommands';
import { UnknownSegmentsError } from '../../src/domain/errors';
import type { EventStore } from '../../src/eventstore/eventStore';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgresEventStore';
import type { MembershipEvent } from '../../src/events/membershipEvents';
import type { SegmentDeleted } from '../../src/events/segmentEvents';
import { segmentStream, userStream } from '../../src/events/streams';
import { systemClock } from '../../src/platform/clock';
import type { Projection } from '../../src/projections/projection';
import { createReadModelProjection, READ_MODEL_PROJECTION } from '../../src/projections/readModel/readModelProjection';
import { ProjectionRunner, type RunnerLogger, type RunnerState } from '../../src/projections/runner';
import { manualHistoryOf } from '../../src/queries/history';
import { createSegmentDeletionSweep, type SegmentDeletionSweep } from '../../src/processes/segmentDeletionSweep';
import { createTestDatabase, type TestDatabase } from '../support/database';

const meta = { actor: 'tests', source: 'api' } as const;
const quiet: RunnerLogger = { info() {}, error() {} };
const count = z.object({ n: z.number() });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let db: TestDatabase;
let store: PostgresEventStore;
let readPool: Pool;
let segments: SegmentCommands;
let users: UserCommands;
const runners: ProjectionRunner[] = [];
const stores: PostgresEventStore[] = [];

function userCommandsOver(eventStore: EventStore): UserCommands {
  return createUserCommands({ store: eventStore, snapshots: createUserSnapshots(db.pool, readPool), clock: systemClock });
}

function startRunner(
  options: { projection?: Projection; store?: EventStore; onBatchCommitted?: () => void; sessionTimeoutMs?: number; logger?: RunnerLogger } = {},
): ProjectionRunner {
  const runner = new ProjectionRunner({
    pool: db.pool,
    store: options.store ?? store,
    projection: options.projection ?? createReadModelProjection(),
    logger: options.logger ?? quiet,
    batchSize: 5,
    retryDelayMs: 50,
    onBatchCommitted: options.onBatchCommitted,
    sessionTimeoutMs: options.sessionTimeoutMs,
  });
  runners.push(runner);
  runner.start();
  return runner;
}

function sweepOf(errors: unknown[] = []): SegmentDeletionSweep {
  return createSegmentDeletionSweep({
    pool: db.pool,
    userCommands: users,
    logger: { info() {}, error: (object) => errors.push(object) },
  });
}

beforeEach(async () => {
  db = await createTestDatabase();
  // One node-postgres pool for the hot statements of every store and command here, as a service has.
  readPool = createReadPool(db.url);
  store = new PostgresEventStore(db.pool, { connectionString: db.url, statementPool: readPool, pollIntervalMs: 50 });
  stores.push(store);
  segments = createSegmentCommands({ store, clock: systemClock });
  users = userCommandsOver(store);
});

afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await readPool.end();
  await db.drop();
});

// ------------------------------------------------------------------ reading the database

const countOf = (query: QuerySqlToken<typeof count>) => db.pool.oneFirst(query);

const eventCount = () => countOf(sql.type(count)`SELECT count(*) AS n FROM events`);
const membershipEventCount = () =>
  countOf(sql.type(count)`SELECT count(*) AS n FROM events WHERE type IN ('MembershipAdded', 'MembershipRemoved')`);
const auditCount = () => countOf(sql.type(count)`SELECT count(*) AS n FROM membership_audit`);
const outboxCount = () => countOf(sql.type(count)`SELECT count(*) AS n FROM segment_deletion_removals`);
const eventsApplied = () =>
  countOf(sql.type(count)`
    SELECT coalesce((SELECT events_applied FROM projection_checkpoints WHERE projection = ${READ_MODEL_PROJECTION}), 0) AS n`);

/** The backend holding the read model projection's lock, as ProjectionRunner takes it; null when none does. */
const projectionLockHolder = () =>
  db.pool.maybeOneFirst(sql.type(z.object({ pid: z.number() }))`
    SELECT pid FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((classid::int8 << 32) | objid::int8) = hashtextextended(${`projection:${READ_MODEL_PROJECTION}`}, 0)`);

/** `userId:slug` of every row of the memberships table, sorted. */
async function membershipRows(): Promise<string[]> {
  const rows = await db.pool.any(sql.type(z.object({ user_id: z.number(), slug: z.string() }))`
    SELECT user_id, slug FROM memberships ORDER BY user_id, slug`);
  return rows.map((row) => `${row.user_id}:${row.slug}`);
}

/** Waits until the runner has applied every event in the events table (20 ms polls, 10 s deadline). */
async function waitUntilProjected(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    // The checkpoint first: events only grow, so applied > events below means an event applied twice.
    const applied = await eventsApplied();
    const events = await eventCount();
    if (applied > events) throw new Error(`the projection applied ${applied} events, but only ${events} exist`);
    if (applied === events) return;
    if (Date.now() > deadline) throw new Error(`the projection applied ${applied} of ${events} events within 10 s`);
    await sleep(20);
  }
}

/** Sweeps the deletion outbox and projects the removals until nothing is left to sweep. */
async function sweepUntilEmpty(sweep: SegmentDeletionSweep): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await waitUntilProjected();
    if ((await outboxCount()) === 0) return;
    if (Date.now() > deadline) throw new Error('the segment deletion outbox did not drain within 10 s');
    await sweep.sweepNow();
  }
}

async function membershipEventsOf(userId: number): Promise<MembershipEvent[]> {
  return (await store.readStream(userStream(userId))).map((event) => ({ type: event.type, data: event.data }) as MembershipEvent);
}

async function segmentDeletedEvent(slug: string): Promise<SegmentDeleted['data']> {
  const deleted = (await store.readStream(segmentStream(slug))).filter((event) => event.type === 'SegmentDeleted');
  expect(deleted).toHaveLength(1);
  return deleted[0]!.data as SegmentDeleted['data'];
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function createSegment(slug: string) {
  return (await segments.createSegment({ slug, description: null, autoAssignPercent: null }, meta)).segment;
}

async function addUsers(userIds: number[], add: string[], remove: string[] = []) {
  for (const userId of userIds) await users.updateUserSegments({ userId, add: add.map((slug) => ({ slug })), remove }, meta);
}

// ------------------------------------------------------------------ tests

describe('read-model projector', () => {
  it('a projector that crashes after writing the read model but before its checkpoint commits applies every event exactly once', async () => {
    await createSegment('AVITO_DISCOUNT_30');
    await createSegment('AVITO_VOICE_MESSAGES');
    await addUsers(range(1001, 1012), ['AVITO_DISCOUNT_30', 'AVITO_VOICE_MESSAGES']);
    await addUsers([1003, 1006, 1009, 1012], [], ['AVITO_DISCOUNT_30']);

    // Crashes on the first batch twice, then again after the checkpoint has moved on, twice more.
    const crashOn = new Set([1, 2, 4, 7]);
    const real = createReadModelProjection();
    let calls = 0;
    let crashes = 0;
    const crashing: Projection = {
      name: real.name,
      async applyBatch(tx, events) {
        calls++;
        await real.applyBatch(tx, events);
        if (crashOn.has(calls)) {
          crashes++;
          throw new Error(`simulated crash after applying batch ${calls}, before the checkpoint commits`);
        }
      },
    };
    const runner = startRunner({ projection: crashing });

    // More changes while it crashes and recovers.
    await addUsers(range(1013, 1016), ['AVITO_DISCOUNT_30']);
    await addUsers([1001, 1002], [], ['AVITO_VOICE_MESSAGES']);
    await waitUntilProjected();

    expect(crashes).toBe(crashOn.size);
    expect(runner.status().lastError).toBeNull();
    expect(await auditCount()).toBe(await membershipEventCount());
    expect(await eventsApplied()).toBe(await eventCount());
    const discount = range(1001, 1016).filter((userId) => ![1003, 1006, 1009, 1012].includes(userId));
    const voice = range(3, 12).map((n) => 1000 + n);
    const expected = [
      ...discount.map((userId) => `${userId}:AVITO_DISCOUNT_30`),
      ...voice.map((userId) => `${userId}:AVITO_VOICE_MESSAGES`),
    ].sort();
    expect(await membershipRows()).toEqual(expected);
  });

  it('a second projector on the same projection stands by while the first runs and never applies an event twice', async () => {
    const first = startRunner();
    await createSegment('AVITO_DISCOUNT_30');
    await addUsers(range(1001, 1006), ['AVITO_DISCOUNT_30']);
    await waitUntilProjected();

    // A second instance, with its own event store as another process would have.
    const otherStore = new PostgresEventStore(db.pool, { connectionString: db.url, statementPool: readPool, pollIntervalMs: 50 });
    stores.push(otherStore);
    let secondBatches = 0;
    const second = startRunner({ store: otherStore, onBatchCommitted: () => secondBatches++ });
    const deadline = Date.now() + 5_000;
    while (second.status().state === 'stopped' && Date.now() < deadline) await sleep(5);

    const statesOfSecond = new Set<RunnerState>();
    const sampler = setInterval(() => statesOfSecond.add(second.status().state), 5);
    try {
      await addUsers(range(1007, 1012), ['AVITO_DISCOUNT_30']);
      await addUsers([1001, 1002], [], ['AVITO_DISCOUNT_30']);
      await waitUntilProjected();
      await sleep(300); // several of the second runner's 50 ms attempts at the lock
    } finally {
      clearInterval(sampler);
    }

    expect([...statesOfSecond]).toEqual(['standby']);
    expect(secondBatches).toBe(0);
    expect(await eventsApplied()).toBe(await eventCount());
    expect(await auditCount()).toBe(await membershipEventCount());

    // When the first one stops, the second takes over from the checkpoint.
    await first.stop();
    await addUsers(range(1013, 1015), ['AVITO_DISCOUNT_30']);
    await waitUntilProjected();
    expect(secondBatches).toBeGreaterThan(0);
    expect(await eventsApplied()).toBe(await eventCount());
    expect(await auditCount()).toBe(await membershipEventCount());
    expect(await membershipRows()).toEqual(range(1003, 1015).map((userId) => `${userId}:AVITO_DISCOUNT_30`));
  });

  it('an active projector with nothing to apply keeps its session, and the projection, past its session timeout', async () => {
    const errors: object[] = [];
    const runner = startRunner({ sessionTimeoutMs: 300, logger: { info() {}, error: (object) => errors.push(object) } });
    await createSegment('AVITO_DISCOUNT_30');
    await waitUntilProjected();
    const holder = await projectionLockHolder();
    expect(holder).not.toBeNull();
    await sleep(1_500); // five times the timeout, idle but for the heartbeats
    expect(await projectionLockHolder()).toBe(holder);
    expect(errors).toEqual([]);
    await addUsers([1001], ['AVITO_DISCOUNT_30']);
    await waitUntilProjected();
    expect(runner.status().state).toBe('live');
  });

  it('a projector frozen past its session timeout loses its session, and so its lock, and then resumes from the checkpoint', async () => {
    const errors: object[] = [];
    const runner = startRunner({ sessionTimeoutMs: 300, logger: { info() {}, error: (object) => errors.push(object) } });
    await createSegment('AVITO_DISCOUNT_30');
    await waitUntilProjected();
    const holder = await projectionLockHolder();
    // The whole process stops for a second: no heartbeat, as in a process stopped or cut off.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_000);
    // The server ended the frozen session on its own, which freed the lock for any standby.
    const sessions = await countOf(sql.type(count)`SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ${holder}`);
    expect(sessions).toBe(0);
    await addUsers([1001, 1002], ['AVITO_DISCOUNT_30']);
    await waitUntilProjected();
    expect(errors.length).toBeGreaterThan(0); // its next heartbeat found the session gone
    expect(await projectionLockHolder()).not.toBe(holder);
    expect(await eventsApplied()).toBe(await eventCount());
    expect(await auditCount()).toBe(await membershipEventCount());
    expect(runner.status().state).toBe('live');
  });

  it('a projector that has applied every event reports itself live, even when the last batch was full', async () => {
    await createSegment('AVITO_DISCOUNT_30');
    await addUsers(range(1001, 1004), ['AVITO_DISCOUNT_30']); // 5 events: exactly one batch of 5
    const runner = startRunner();
    await waitUntilProjected();
    expect(await eventCount()).toBe(5);

    const deadline = Date.now() + 2_000;
    while (runner.status().state !== 'live' && Date.now() < deadline) await sleep(20);
    expect(runner.status().state).toBe('live');
  });
});

describe('segment deletion', () => {
  it('members of deleted AVITO_DISCOUNT_30 vanish at once and each is removed in their history at the moment of deletion', async () => {
    startRunner();
    const discount = await createSegment('AVITO_DISCOUNT_30');
    await createSegment('AVITO_VOICE_MESSAGES');
    const members = range(1001, 1005);
    await addUsers(members, ['AVITO_DISCOUNT_30']);
    await addUsers([1001, 1099], ['AVITO_VOICE_MESSAGES']);
    await waitUntilProjected();
    expect(await membershipRows()).toEqual([
      '1001:AVITO_DISCOUNT_30',
      '1001:AVITO_VOICE_MESSAGES',
      ...range(1002, 1005).map((userId) => `${userId}:AVITO_DISCOUNT_30`),
      '1099:AVITO_VOICE_MESSAGES',
    ]);

    await segments.deleteSegment('AVITO_DISCOUNT_30', meta);
    await waitUntilProjected();
    // Gone for reads as soon as the deletion is projected, before any removal reaches a stream.
    expect(await membershipRows()).toEqual(['1001:AVITO_VOICE_MESSAGES', '1099:AVITO_VOICE_MESSAGES']);
    expect(await outboxCount()).toBe(members.length);

    const { deletedAt } = await segmentDeletedEvent('AVITO_DISCOUNT_30');
    const errors: unknown[] = [];
    expect(await sweepOf(errors).sweepNow()).toBe(members.length);
    await waitUntilProjected();
    expect(errors).toEqual([]);

    for (const userId of members) {
      const history = await membershipEventsOf(userId);
      expect(history.filter((event) => event.data.segmentId === discount.segmentId).at(-1)).toEqual({
        type: 'MembershipRemoved',
        data: { userId, segmentId: discount.segmentId, slug: 'AVITO_DISCOUNT_30', reason: 'segment_deleted', effectiveAt: deletedAt },
      });
    }
    const audit = await db.pool.any(sql.type(z.object({ user_id: z.number(), at: z.date() }))`
      SELECT user_id, at FROM membership_audit
      WHERE segment_id = ${discount.segmentId} AND operation = 'removed' AND reason = 'segment_deleted'
      ORDER BY user_id`);
    expect(audit.map((row) => [row.user_id, row.at.toISOString()])).toEqual(members.map((userId) => [userId, deletedAt]));
    expect(await outboxCount()).toBe(0);
    expect(await auditCount()).toBe(await membershipEventCount());
    // The other segment is untouched.
    expect(await membershipRows()).toEqual(['1001:AVITO_VOICE_MESSAGES', '1099:AVITO_VOICE_MESSAGES']);
  });

  it("history shows a deleted segment's removal all along: from the outbox, then from the audit", async () => {
    const runner = startRunner();
    await createSegment('AVITO_DISCOUNT_30');
    await addUsers([1001], ['AVITO_DISCOUNT_30']);
    await segments.deleteSegment('AVITO_DISCOUNT_30', meta);
    await waitUntilProjected();
    const removals = async () =>
      (await manualHistoryOf(db.pool, 1001)).filter((entry) => entry.operation === 'removed').map((entry) => `${entry.slug} ${entry.reason}`);
    expect(await removals()).toEqual(['AVITO_DISCOUNT_30 segment_deleted']);

    // The sweep appends the removal while the projector is stopped: the removal is in the stream,
    // not yet in the audit, and history still shows it (the outbox keeps its row until then).
    await runner.stop();
    expect(await sweepOf().sweepNow()).toBe(1);
    expect((await membershipEventsOf(1001)).at(-1)?.type).toBe('MembershipRemoved');
    expect({ outbox: await outboxCount(), removals: await removals() }).toEqual({ outbox: 1, removals: ['AVITO_DISCOUNT_30 segment_deleted'] });
    // Another round appends nothing more and keeps the row.
    expect(await sweepOf().sweepNow()).toBe(0);
    expect(await outboxCount()).toBe(1);

    startRunner();
    await waitUntilProjected();
    expect({ outbox: await outboxCount(), removals: await removals() }).toEqual({ outbox: 0, removals: ['AVITO_DISCOUNT_30 segment_deleted'] });
  });

  it('deleting AVITO_DISCOUNT_30 while 30 users are being added to it leaves none of them in it', async () => {
    startRunner();
    const discount = await createSegment('AVITO_DISCOUNT_30');
    const racers = range(2001, 2030);

    // Staggered by 5 ms each, with the deletion in the middle, so that adds land before,
    // during and after it.
    const adds = racers.map((userId, i) =>
      sleep(5 * i).then(() => users.updateUserSegments({ userId, add: [{ slug: 'AVITO_DISCOUNT_30' }], remove: [] }, meta)),
    );
    const deletion = sleep(5 * (racers.length / 2)).then(() => segments.deleteSegment('AVITO_DISCOUNT_30', meta));
    const settled = await Promise.allSettled([...adds.slice(0, 15), deletion, ...adds.slice(15)]);

    // Every add either happened or found the segment gone; nothing else went wrong.
    for (const result of settled) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(UnknownSegmentsError);
    }
    expect(settled[15]!.status).toBe('fulfilled');

    const errors: unknown[] = [];
    await sweepUntilEmpty(sweepOf(errors));
    expect(errors).toEqual([]);

    const { deletedAt } = await segmentDeletedEvent('AVITO_DISCOUNT_30');
    expect(await membershipRows()).toEqual([]);
    const leftovers = await db.pool.anyFirst(sql.type(z.object({ user_id: z.number() }))`
      SELECT user_id FROM memberships WHERE segment_id = ${discount.segmentId}`);
    expect(leftovers).toEqual([]);

    let joined = 0;
    for (const userId of racers) {
      const history = (await membershipEventsOf(userId)).filter((event) => event.data.segmentId === discount.segmentId);
      const lastAdd = history.map((event) => event.type).lastIndexOf('MembershipAdded');
      if (lastAdd === -1) continue;
      joined++;
      const removalsAfter = history.slice(lastAdd + 1);
      // An add that committed after the deletion is undone no earlier than it happened.
      const addedAt = (history[lastAdd]!.data as { addedAt: string }).addedAt;
      const effectiveAt = addedAt > deletedAt ? addedAt : deletedAt;
      expect({ userId, removalsAfter }).toEqual({
        userId,
        removalsAfter: [
          {
            type: 'MembershipRemoved',
            data: { userId, segmentId: discount.segmentId, slug: 'AVITO_DISCOUNT_30', reason: 'segment_deleted', effectiveAt },
          },
        ],
      });
    }
    expect(joined).toBeGreaterThan(0);
    expect(await auditCount()).toBe(await membershipEventCount());
    expect(await eventsApplied()).toBe(await eventCount());
  });

  it('user 2001 added while AVITO_DISCOUNT_30 was being deleted is, in the audit history, not in it after the deletion', async () => {
    startRunner();
    const discount = await createSegment('AVITO_DISCOUNT_30');

    // The add reads AVITO_DISCOUNT_30 while it is live, then the deletion commits, then the add decides and appends.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let readDone!: () => void;
    const read = new Promise<void>((resolve) => (readDone = resolve));
    const pausingStore: EventStore = Object.assign(Object.create(store) as EventStore, {
      async readStreams(...args: Parameters<EventStore['readStreams']>) {
        const result = await store.readStreams(...args);
        readDone();
        await released;
        return result;
      },
    });
    const racingUsers = userCommandsOver(pausingStore);
    const adding = racingUsers.updateUserSegments({ userId: 2001, add: [{ slug: 'AVITO_DISCOUNT_30' }], remove: [] }, meta);
    await read;
    await segments.deleteSegment('AVITO_DISCOUNT_30', meta);
    await sleep(5); // the add decides at least a millisecond after the deletion
    release();
    await adding;

    const errors: unknown[] = [];
    await sweepUntilEmpty(sweepOf(errors));
    expect(errors).toEqual([]);
    expect(await membershipRows()).toEqual([]);

    const history = await membershipEventsOf(2001);
    expect(history.map((event) => [event.type, 'reason' in event.data ? event.data.reason : undefined])).toEqual([
      ['MembershipAdded', 'manual'],
      ['MembershipRemoved', 'segment_deleted'],
    ]);
    // Read in the order the changes took effect, the history must end with the user out of the segment.
    const audit = await db.pool.anyFirst(sql.type(z.object({ operation: z.string() }))`
      SELECT operation FROM membership_audit
      WHERE user_id = 2001 AND segment_id = ${discount.segmentId}
      ORDER BY at, global_position`);
    expect(audit).toEqual(['added', 'removed']);
  });
});
