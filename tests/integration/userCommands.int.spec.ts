// The user command handlers against a real PostgreSQL: a write reads only the events after the
// user's snapshot, however long the stream, and a bulk change that single-user writes race decides
// again only the users they wrote to, instead of starting over.
import { sql } from 'slonik';
import { createSegmentCommands } from '../../src/commands/segmentCommands';
import { createUserCommands, type UserCommands } from '../../src/commands/userCommands';
import { SNAPSHOT_EVERY } from '../../src/commands/userStates';
import { createReadPool } from '../../src/platform/database';
import { createUserSnapshots } from '../../src/commands/userSnapshots';
import { evolveUser, initialUserState } from '../../src/domain/userMemberships';
import type { AppendManyOptions, EventStore, ReadStreamsOptions, StreamWrite } from '../../src/eventstore/eventStore';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgresEventStore';
import type { MembershipEvent } from '../../src/events/membershipEvents';
import { userStream } from '../../src/events/streams';
import { systemClock } from '../../src/platform/clock';
import { createTestDatabase, type TestDatabase } from '../support/database';

const meta = { actor: 'tests', source: 'api' } as const;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

let db: TestDatabase;
let store: PostgresEventStore;

/** The store, with every readStreams call and every conflicted write handed to redecide on record. */
function recordingStore(inner: EventStore, beforeAppendMany?: () => Promise<void>) {
  const reads: Array<{ streams: readonly string[]; options?: ReadStreamsOptions }> = [];
  const redecided: string[][] = [];
  const recording: EventStore = Object.assign(Object.create(inner) as EventStore, {
    readStreams(streams: readonly string[], options?: ReadStreamsOptions) {
      reads.push({ streams, options });
      return inner.readStreams(streams, options);
    },
    async appendMany(writes: StreamWrite[], options: AppendManyOptions = {}) {
      await beforeAppendMany?.();
      const redecide = options.redecide;
      return inner.appendMany(writes, {
        redecide: redecide && ((conflicted: readonly StreamWrite[]) => (redecided.push(conflicted.map((write) => write.stream)), redecide(conflicted))),
      });
    },
  });
  return { store: recording, reads, redecided };
}

function commandsOver(eventStore: EventStore): UserCommands {
  return createUserCommands({ store: eventStore, snapshots: createUserSnapshots(db.pool, createReadPool(db.url)), clock: systemClock });
}

async function stateFromWholeStream(userId: number) {
  const events = await store.readStream(userStream(userId));
  return events.reduce((state, event) => evolveUser(state, { type: event.type, data: event.data } as MembershipEvent), initialUserState);
}

beforeAll(async () => {
  db = await createTestDatabase();
  store = new PostgresEventStore(db.pool, { connectionString: db.url });
  const segments = createSegmentCommands({ store, clock: systemClock });
  for (const slug of ['AVITO_DISCOUNT_30', 'AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS']) {
    await segments.createSegment({ slug, description: null, autoAssignPercent: null }, meta);
  }
});

afterAll(async () => {
  await store.close();
  await db.drop();
});

describe('a user with a long history', () => {
  const USER = 1000;

  it(`user 1000, added to and removed from AVITO_DISCOUNT_30 ${3 * SNAPSHOT_EVERY} times, is written after reading only the events since the last snapshot`, async () => {
    const users = commandsOver(store);
    for (let i = 0; i < (3 * SNAPSHOT_EVERY) / 2; i++) {
      await users.updateUserSegments({ userId: USER, add: [{ slug: 'AVITO_DISCOUNT_30' }], remove: [] }, meta);
      await users.updateUserSegments({ userId: USER, add: [], remove: ['AVITO_DISCOUNT_30'] }, meta);
    }
    const recorded = recordingStore(store);
    const result = await commandsOver(recorded.store).updateUserSegments({ userId: USER, add: [{ slug: 'AVITO_VOICE_MESSAGES' }], remove: [] }, meta);

    const read = recorded.reads.find(({ streams }) => streams.includes(userStream(USER)))!;
    const from = read.options?.fromRevisions?.get(userStream(USER));
    expect(from).toBeGreaterThanOrEqual(2 * SNAPSHOT_EVERY);
    expect(result.version).toBe(3 * SNAPSHOT_EVERY + 1);
    expect(result.added).toEqual(['AVITO_VOICE_MESSAGES']);
    expect(result.state).toEqual(await stateFromWholeStream(USER));
  });

  it('a snapshot in a format this version does not know is ignored: the stream is read whole', async () => {
    await db.pool.query(sql.unsafe`UPDATE user_state_snapshots SET state = '{"format": 0}' WHERE user_id = ${USER}`);
    const recorded = recordingStore(store);
    const result = await commandsOver(recorded.store).updateUserSegments({ userId: USER, add: [], remove: ['AVITO_VOICE_MESSAGES'] }, meta);
    expect(recorded.reads[0]!.options?.fromRevisions?.has(userStream(USER))).toBe(false);
    expect(result.removed).toEqual(['AVITO_VOICE_MESSAGES']);
    expect(result.state).toEqual(await stateFromWholeStream(USER));
  });
});

describe('a bulk change raced by single-user writes', () => {
  const BULK = range(5001, 8000);
  const RACED = BULK.filter((_, index) => index % 300 === 7);

  it('adds all 3,000 users to AVITO_PERFORMANCE_VAS, deciding again only the 10 written to meanwhile', async () => {
    const singles = commandsOver(store); // another instance: its own queue, so it races for real
    let raced = false;
    const recorded = recordingStore(store, async () => {
      if (raced) return;
      raced = true;
      // Between the bulk's reads and its append, each raced user gets a write of their own.
      for (const userId of RACED) await singles.updateUserSegments({ userId, add: [{ slug: 'AVITO_VOICE_MESSAGES' }], remove: [] }, meta);
    });
    const result = await commandsOver(recorded.store).updateSegmentMembers({ slug: 'AVITO_PERFORMANCE_VAS', add: BULK, remove: [] }, meta);

    expect(result.added).toBe(BULK.length);
    expect(recorded.redecided).toEqual([RACED.map(userStream).sort()]);
    // The users were read once for the bulk, then only the raced ones again.
    const bulkReads = recorded.reads.filter(({ streams }) => streams.some((stream) => stream.startsWith('user-')));
    expect(bulkReads.reduce((total, { streams }) => total + streams.length, 0)).toBe(BULK.length + RACED.length);
    for (const userId of RACED) {
      expect((await store.readStream(userStream(userId))).map((event) => (event.data as { slug: string }).slug)).toEqual([
        'AVITO_VOICE_MESSAGES',
        'AVITO_PERFORMANCE_VAS',
      ]);
    }
    const members = await db.pool.oneFirst(sql.unsafe`
      SELECT count(DISTINCT stream_id) FROM events WHERE type = 'MembershipAdded' AND data->>'slug' = 'AVITO_PERFORMANCE_VAS'`);
    expect(Number(members)).toBe(BULK.length);
  });
});
