// The membership expiry timer against a real PostgreSQL: two instances at once record each expiry
// once, a failing user does not hold the others back, overlapping ticks do not run together, and
// memberships that expired while no timer ran are recorded each at its own moment. Also the read
// model's side of renewals, which the timer relies on.
import { sql } from 'slonik';
import { z } from 'zod';
import { createSegmentCommands, type SegmentCommands } from '../../src/commands/segmentCommands';
import { createUserSnapshots } from '../../src/commands/userSnapshots';
import { createUserCommands, type UserCommands } from '../../src/commands/userCommands';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgresEventStore';
import { closePool, createDatabasePool, createReadPool, type DatabasePool } from '../../src/platform/database';
import { createReadModelProjection } from '../../src/projections/readModel/readModelProjection';
import { ProjectionRunner } from '../../src/projections/runner';
import {
  createMembershipExpiryTimer,
  expireDueMemberships,
  type ExpiryDeps,
  type MembershipExpiryTimer,
  type TickResult,
  type TimerLogger,
} from '../../src/processes/membershipExpiryTimer';
import { isConnectionError } from '../../src/platform/pgErrors';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startTcpProxy } from '../support/tcpProxy';
import { DAY, HOUR, TestClock } from '../support/testClock';

const meta = { actor: 'tests', source: 'api' } as const;
const NEVER = '0 0 0 1 1 *';
const count = z.object({ n: z.number() });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** One process's parts: its own pool, event store and command handlers over the shared database. */
interface Instance {
  pool: DatabasePool;
  store: PostgresEventStore;
  users: UserCommands;
  timer: MembershipExpiryTimer;
  deps: ExpiryDeps;
  errors: object[];
}

let db: TestDatabase;
let clock: TestClock;
let segments: SegmentCommands;
let runner: ProjectionRunner;
let a: Instance;
let b: Instance;

/** An instance whose every connection goes to `url` (by default the test database itself). */
async function instance(pool: DatabasePool, url: string = db.url): Promise<Instance> {
  const readPool = createReadPool(url);
  const store = new PostgresEventStore(pool, { connectionString: url, statementPool: readPool, pollIntervalMs: 50 });
  const users = createUserCommands({ store, snapshots: createUserSnapshots(pool, readPool), clock });
  const errors: object[] = [];
  const logger: TimerLogger = { debug() {}, info() {}, warn() {}, error: (object) => errors.push(object) };
  const deps: ExpiryDeps = { pool, userCommands: users, logger, batchSize: 50 };
  return { pool, store, users, timer: createMembershipExpiryTimer({ ...deps, clock, schedule: NEVER }), deps, errors };
}

beforeAll(async () => {
  db = await createTestDatabase();
  clock = new TestClock(new Date('2026-11-23T09:30:00.000Z'));
  a = await instance(db.pool);
  b = await instance(await createDatabasePool(db.url, { maximumPoolSize: 5 }));
  segments = createSegmentCommands({ store: a.store, clock });
  runner = new ProjectionRunner({ pool: db.pool, store: a.store, projection: createReadModelProjection(), logger: { info() {}, error() {} } });
  runner.start();
  for (const slug of ['AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50', 'AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS']) {
    await segments.createSegment({ slug, description: null, autoAssignPercent: null }, meta);
  }
});

afterAll(async () => {
  await Promise.all([a.timer.stop(), b.timer.stop()]);
  await runner.stop();
  await Promise.all([a.store.close(), b.store.close()]);
  await closePool(b.pool);
  await db.drop();
});

async function waitUntilProjected(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pending = await db.pool.oneFirst(sql.type(count)`
      SELECT (SELECT count(*) FROM events)
           - coalesce((SELECT events_applied FROM projection_checkpoints WHERE projection = 'read_model'), 0) AS n`);
    if (pending === 0) return;
    if (Date.now() > deadline) throw new Error('the projection did not catch up within 10 s');
    await sleep(20);
  }
}

/** `userId slug effectiveAt` of every expiry in the event store for these users. */
async function expiriesOf(userIds: number[]): Promise<string[]> {
  const rows = await db.pool.any(sql.type(z.object({ stream_id: z.string(), data: z.record(z.string()) }))`
    SELECT stream_id, data FROM events
    WHERE type = 'MembershipRemoved' AND data->>'reason' = 'expired'
      AND stream_id = ANY(${sql.array(userIds.map((id) => `user-${id}`), 'text')})
    ORDER BY stream_id, stream_position`);
  return rows.map((row) => `${row.stream_id.slice('user-'.length)} ${row.data.slug} ${row.data.effectiveAt}`);
}

const sumExpired = (results: TickResult[]) => results.reduce((sum, result) => sum + ('expired' in result ? result.expired : 0), 0);

it('two timers ticking at once against one database record each of 300 expiries once', async () => {
  const userIds = range(1001, 1300);
  await a.users.updateSegmentMembers({ slug: 'AVITO_DISCOUNT_30', add: userIds, remove: [], expiry: { ttlSeconds: 3_600 } }, meta);
  const expiresAt = new Date(clock.now().getTime() + HOUR).toISOString();
  await waitUntilProjected();
  clock.advance(2 * HOUR);

  const results = await Promise.all([a.timer.tick(), b.timer.tick()]);
  expect(sumExpired(results)).toBe(300);
  expect(await expiriesOf(userIds)).toEqual(userIds.map((id) => `${id} AVITO_DISCOUNT_30 ${expiresAt}`).sort());
  await waitUntilProjected();
  expect(await Promise.all([a.timer.tick(), b.timer.tick()])).toEqual(
    expect.arrayContaining([{ due: 0, expired: 0, failedUsers: 0 }]),
  );
});

it('without the advisory lock, two instances racing over the same 300 users still record each expiry once (the expected revision decides)', async () => {
  const userIds = range(2001, 2300);
  await a.users.updateSegmentMembers({ slug: 'AVITO_DISCOUNT_50', add: userIds, remove: [], expiry: { ttlSeconds: 3_600 } }, meta);
  const expiresAt = new Date(clock.now().getTime() + HOUR).toISOString();
  await waitUntilProjected();
  clock.advance(2 * HOUR);
  // With the projector paused, neither instance sees the other's removals in the read model:
  // both try every one of the 300 users, and only the user streams can keep them apart.
  await runner.stop();

  const results = await Promise.all([expireDueMemberships(a.deps, clock.now()), expireDueMemberships(b.deps, clock.now())]);
  expect(results.map((result) => result.due)).toEqual([300, 300]);
  expect(sumExpired(results)).toBe(300);
  expect(results.map((result) => result.failedUsers)).toEqual([0, 0]);
  expect(await expiriesOf(userIds)).toEqual(userIds.map((id) => `${id} AVITO_DISCOUNT_50 ${expiresAt}`).sort());
  runner.start();
  await waitUntilProjected();
});

it('a tick that starts while the previous one runs is skipped', async () => {
  const first = a.timer.tick();
  expect(await a.timer.tick()).toEqual({ skipped: 'busy' });
  expect(await first).toMatchObject({ failedUsers: 0 });
});

it('after 10 days without a timer, the first tick records every expiry at its own moment', async () => {
  const start = clock.now();
  const at = (ms: number) => new Date(start.getTime() + ms).toISOString();
  await a.users.updateUserSegments(
    { userId: 3001, add: [{ slug: 'AVITO_DISCOUNT_30', expiry: { ttlSeconds: 3_600 } }, { slug: 'AVITO_VOICE_MESSAGES', expiry: { ttlSeconds: 5 * 86_400 } }], remove: [] },
    meta,
  );
  await a.users.updateUserSegments({ userId: 3002, add: [{ slug: 'AVITO_DISCOUNT_50', expiry: { expiresAt: at(DAY) } }], remove: [] }, meta);
  await a.users.updateUserSegments({ userId: 3003, add: [{ slug: 'AVITO_PERFORMANCE_VAS', expiry: { ttlSeconds: 2 * 86_400 } }], remove: [] }, meta);
  await a.users.updateUserSegments({ userId: 3004, add: [{ slug: 'AVITO_PERFORMANCE_VAS', expiry: { ttlSeconds: 20 * 86_400 } }], remove: [] }, meta);
  await waitUntilProjected();

  clock.advance(10 * DAY);
  expect(await a.timer.tick()).toEqual({ due: 4, expired: 4, failedUsers: 0 });
  await waitUntilProjected();
  expect(await expiriesOf([3001, 3002, 3003, 3004])).toEqual([
    `3001 AVITO_DISCOUNT_30 ${at(HOUR)}`,
    `3001 AVITO_VOICE_MESSAGES ${at(5 * DAY)}`,
    `3002 AVITO_DISCOUNT_50 ${at(DAY)}`,
    `3003 AVITO_PERFORMANCE_VAS ${at(2 * DAY)}`,
  ]);
  const audit = await db.pool.any(sql.type(z.object({ user_id: z.number(), slug: z.string(), at: z.date() }))`
    SELECT user_id, slug, at FROM membership_audit
    WHERE user_id BETWEEN 3001 AND 3004 AND operation = 'removed' AND reason = 'expired' ORDER BY at`);
  expect(audit.map((row) => `${row.user_id} ${row.slug} ${row.at.toISOString()}`)).toEqual([
    `3001 AVITO_DISCOUNT_30 ${at(HOUR)}`,
    `3002 AVITO_DISCOUNT_50 ${at(DAY)}`,
    `3003 AVITO_PERFORMANCE_VAS ${at(2 * DAY)}`,
    `3001 AVITO_VOICE_MESSAGES ${at(5 * DAY)}`,
  ]);
});

it('a user whose stream refuses the append does not hold back the others, and is expired once it accepts again', async () => {
  const expiresAt = new Date(clock.now().getTime() + HOUR).toISOString();
  for (const userId of [4001, 4002, 4003]) {
    await a.users.updateUserSegments({ userId, add: [{ slug: 'AVITO_DISCOUNT_30', expiry: { expiresAt } }], remove: [] }, meta);
  }
  await waitUntilProjected();
  // A real failure inside PostgreSQL for one stream: a trigger that refuses user 4002's events.
  await db.pool.query(sql.unsafe`
    CREATE FUNCTION refuse_user_4002() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'user-4002 refuses appends'; END $$`);
  await db.pool.query(sql.unsafe`
    CREATE TRIGGER refuse_user_4002 BEFORE INSERT ON events FOR EACH ROW
    WHEN (NEW.stream_id = 'user-4002') EXECUTE FUNCTION refuse_user_4002()`);
  clock.advance(2 * HOUR);

  try {
    expect(await a.timer.tick()).toEqual({ due: 3, expired: 2, failedUsers: 1 });
    expect(a.errors).toEqual([expect.objectContaining({ userId: 4002 })]);
    expect(await expiriesOf([4001, 4002, 4003])).toEqual([`4001 AVITO_DISCOUNT_30 ${expiresAt}`, `4003 AVITO_DISCOUNT_30 ${expiresAt}`]);
  } finally {
    await db.pool.query(sql.unsafe`DROP TRIGGER refuse_user_4002 ON events`);
  }
  await waitUntilProjected();
  clock.advance(HOUR);
  expect(await a.timer.tick()).toEqual({ due: 1, expired: 1, failedUsers: 0 });
  expect(await expiriesOf([4002])).toEqual([`4002 AVITO_DISCOUNT_30 ${expiresAt}`]);
});

it('when the event store does not answer, the tick ends at once instead of failing every user in turn', async () => {
  const userIds = range(5001, 5040);
  await a.users.updateSegmentMembers({ slug: 'AVITO_VOICE_MESSAGES', add: userIds, remove: [], expiry: { ttlSeconds: 60 } }, meta);
  const expiresAt = new Date(clock.now().getTime() + 60_000).toISOString();
  await waitUntilProjected();
  clock.advance(HOUR);

  // The read model answers; the event store sits behind a proxy that is cut.
  const target = new URL(db.url);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  const cutOff = await instance(await createDatabasePool(viaProxy.toString(), { maximumPoolSize: 2 }), viaProxy.toString());
  try {
    await proxy.cut();
    const started = Date.now();
    const failure = await expireDueMemberships({ ...cutOff.deps, pool: db.pool }, clock.now()).catch((error: unknown) => error);
    expect(isConnectionError(failure)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(cutOff.errors).toEqual([]);
    expect(await expiriesOf(userIds)).toEqual([]);

    await proxy.restore();
    expect(await expireDueMemberships({ ...cutOff.deps, pool: db.pool }, clock.now())).toEqual({ due: 40, expired: 40, failedUsers: 0 });
    expect(await expiriesOf(userIds)).toEqual(userIds.map((id) => `${id} AVITO_VOICE_MESSAGES ${expiresAt}`).sort());
  } finally {
    await cutOff.store.close();
    await closePool(cutOff.pool);
    await proxy.close();
  }
  await waitUntilProjected();
});

it('the read model ends up with the last expiry whether the add and its renewals arrive in one batch or in several', async () => {
  const expiryOf = async (userId: number) =>
    db.pool.maybeOneFirst(sql.type(z.object({ expires_at: z.date().nullable() }))`
      SELECT expires_at FROM memberships WHERE user_id = ${userId} AND slug = 'AVITO_DISCOUNT_30'`);
  const renew = (userId: number, ttlSeconds: number) =>
    a.users.updateUserSegments({ userId, add: [{ slug: 'AVITO_DISCOUNT_30', expiry: { ttlSeconds } }], remove: [] }, meta);

  // One batch: add, renew twice; and add, renew, remove.
  await runner.stop();
  await renew(6001, 60);
  await renew(6001, 120);
  await renew(6001, 180);
  await renew(6002, 60);
  await renew(6002, 120);
  await a.users.updateUserSegments({ userId: 6002, add: [], remove: ['AVITO_DISCOUNT_30'] }, meta);
  runner.start();
  await waitUntilProjected();
  expect(await expiryOf(6001)).toEqual(new Date(clock.now().getTime() + 180_000));
  expect(await expiryOf(6002)).toBeNull();
  expect(await db.pool.oneFirst(sql.type(count)`SELECT count(*) AS n FROM memberships WHERE user_id = 6002`)).toBe(0);

  // Several batches: a renewal of a row already in the read model, then making it permanent.
  await renew(6001, 240);
  await waitUntilProjected();
  expect(await expiryOf(6001)).toEqual(new Date(clock.now().getTime() + 240_000));
  await a.users.updateUserSegments({ userId: 6001, add: [{ slug: 'AVITO_DISCOUNT_30', expiry: { expiresAt: null } }], remove: [] }, meta);
  await waitUntilProjected();
  expect(await expiryOf(6001)).toBeNull();
  const audit = await db.pool.oneFirst(sql.type(count)`SELECT count(*) AS n FROM membership_audit WHERE user_id = 6001`);
  expect(audit).toBe(1); // one entry, no exit: renewals are not history entries
});
