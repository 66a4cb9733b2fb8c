// The behaviour every event-store adapter must show, written once and run against each adapter
// by eventStore.contract.spec.ts. Streams are named like the service's (user-…, segment-…),
// because the EventStoreDB adapter subscribes to those prefixes only.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  WrongExpectedRevisionError,
  type EventStore,
  type NewEvent,
  type Position,
  type RecordedEvent,
} from '../../src/eventstore/eventStore';
import { comparePositions, formatPosition } from '../../src/eventstore/position';

export interface ContractSubject {
  /** The adapter under test; its connections pass through a proxy the test can cut. */
  store: EventStore;
  /** A second client of the same store that does not go through the proxy. */
  direct: EventStore;
  /** Whether appendMany commits several streams in one transaction. */
  multiStreamAtomic: boolean;
  /** Drops every connection of `store` and refuses new ones until restored. */
  cutConnections(): Promise<void>;
  restoreConnections(): Promise<void>;
  /** How often `store` has reported a dropped subscription so far. */
  droppedSubscriptions(): number;
  close(): Promise<void>;
}

const run = randomBytes(4).toString('hex');
let streamCounter = 0;
const newStream = (kind: 'user' | 'segment' = 'user') => `${kind}-c${run}x${++streamCounter}`;

const event = (type: string, data: Record<string, unknown> = {}): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: { actor: 'contract', occurredAt: new Date().toISOString() },
});

/** Collects what a subscription delivers until `done` says stop or the time runs out. */
async function collect(
  store: EventStore,
  from: Position | undefined,
  done: (seen: RecordedEvent[]) => boolean,
  options: { batchSize?: number; timeoutMs?: number; onBatch?: (batch: RecordedEvent[]) => Promise<void> | void } = {},
): Promise<{ seen: RecordedEvent[]; caughtUpSignals: number }> {
  const controller = new AbortController();
  const timeout = setTimeout(() => controller.abort(), options.timeoutMs ?? 15_000);
  const seen: RecordedEvent[] = [];
  let caughtUpSignals = 0;
  try {
    for await (const batch of store.subscribeToAll({ from, batchSize: options.batchSize ?? 50, signal: controller.signal })) {
      if (batch.length === 0) caughtUpSignals++;
      seen.push(...batch);
      await options.onBatch?.(batch);
      if (done(seen)) break;
    }
  } finally {
    clearTimeout(timeout);
    controller.abort();
  }
  return { seen, caughtUpSignals };
}

const ofIds = (ids: ReadonlySet<string>) => (events: readonly RecordedEvent[]) => events.filter((e) => ids.has(e.id));

function expectIncreasing(events: readonly RecordedEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    const before = events[i - 1]!.position;
    const after = events[i]!.position;
    if (comparePositions(before, after) >= 0) {
      throw new Error(`positions not increasing at ${i}: ${formatPosition(before)} then ${formatPosition(after)}`);
    }
  }
}

export function describeEventStoreContract(
  name: string,
  factory: () => Promise<ContractSubject>,
  options: { skip?: boolean } = {},
): void {
  (options.skip ? describe.skip : describe)(`event store contract: ${name}`, () => {
    let subject: ContractSubject;
    let store: EventStore;

    beforeAll(async () => {
      subject = await factory();
      store = subject.store;
    });
    afterAll(async () => {
      await subject?.close();
    });

    describe('appending and reading a stream', () => {
      it('appends to a new stream and reads back ids, types, data, metadata and revisions in order', async () => {
        const stream = newStream();
        const events = [event('MembershipAdded', { n: 1 }), event('MembershipRemoved', { n: 2, nested: { big: '9007199254740993' } })];
        const result = await store.append(stream, events, 'no_stream');
        expect(result).toMatchObject({ stream, revision: 1 });

        const read = await store.readStream(stream);
        expect(read.map((e) => [e.id, e.stream, e.revision, e.type, e.data])).toEqual([
          [events[0]!.id, stream, 0, 'MembershipAdded', { n: 1 }],
          [events[1]!.id, stream, 1, 'MembershipRemoved', { n: 2, nested: { big: '9007199254740993' } }],
        ]);
        expect(read[1]!.metadata).toEqual(events[1]!.metadata);
        expect(read[1]!.recordedAt).toBeInstanceOf(Date);
        expect(read.at(-1)!.position).toEqual(result.position);
        expect(typeof result.position.commit).toBe('bigint');
      });

      it('reads a stream that does not exist as empty, alone and among others', async () => {
        const existing = newStream();
        const missing = newStream();
        await store.append(existing, [event('A')], 'no_stream');
        expect(await store.readStream(missing)).toEqual([]);
        const both = await store.readStreams([existing, missing]);
        expect(both.get(missing)).toEqual([]);
        expect(both.get(existing)).toHaveLength(1);
      });

      it('appends the writes that fit and decides again only the streams that moved (appendMany with redecide)', async () => {
        const moved = newStream();
        const untouched = newStream();
        await store.append(moved, [event('First')], 'no_stream');
        await store.append(moved, [event('Raced')], 0); // another writer got there after our read
        const asked: string[][] = [];
        const results = await store.appendMany(
          [
            { stream: moved, events: [event('Ours')], expected: 0 },
            { stream: untouched, events: [event('Ours')], expected: 'no_stream' },
          ],
          {
            redecide: async (conflicted) => {
              asked.push(conflicted.map((write) => write.stream));
              const revision = (await store.readStream(moved)).length - 1;
              return conflicted.map((write) => ({ ...write, events: [event('Ours', { again: true })], expected: revision }));
            },
          },
        );
        expect(asked).toEqual([[moved]]);
        expect(new Map(results.map((result) => [result.stream, result.revision]))).toEqual(new Map([[moved, 2], [untouched, 0]]));
        expect((await store.readStream(moved)).map((recorded) => [recorded.type, recorded.data])).toEqual([
          ['First', {}],
          ['Raced', {}],
          ['Ours', { again: true }],
        ]);
        expect((await store.readStream(untouched)).map((recorded) => recorded.type)).toEqual(['Ours']);
      });

      it('without redecide, a stream that moved fails appendMany with the typed conflict', async () => {
        const moved = newStream();
        await store.append(moved, [event('First'), event('Raced')], 'no_stream');
        await expect(store.appendMany([{ stream: moved, events: [event('Ours')], expected: 0 }])).rejects.toBeInstanceOf(
          WrongExpectedRevisionError,
        );
        expect(await store.readStream(moved)).toHaveLength(2);
      });

      it('reads streams from a revision, each from its own, the rest from the start', async () => {
        const long = newStream();
        const short = newStream();
        await store.append(long, Array.from({ length: 5 }, (_, i) => event('Tick', { i })), 'no_stream');
        await store.append(short, [event('A'), event('B')], 'no_stream');
        const read = await store.readStreams([long, short], { fromRevisions: new Map([[long, 3]]) });
        expect(read.get(long)!.map((recorded) => [recorded.revision, recorded.data])).toEqual([
          [3, { i: 3 }],
          [4, { i: 4 }],
        ]);
        expect(read.get(short)!.map((recorded) => recorded.revision)).toEqual([0, 1]);
        expect((await store.readStreams([long], { fromRevisions: new Map([[long, 5]]) })).get(long)).toEqual([]);
      });

      it('keeps the events of one append together and in order in the global order', async () => {
        const stream = newStream();
        const start = await store.append(newStream(), [event('Marker')], 'no_stream');
        const events = Array.from({ length: 5 }, (_, i) => event('Tick', { i }));
        await Promise.all([
          store.append(stream, events, 'no_stream'),
          ...Array.from({ length: 4 }, () => store.append(newStream(), [event('Other'), event('Other')], 'no_stream')),
        ]);
        const ids = new Set(events.map((e) => e.id));
        const { seen } = await collect(store, start.position, (s) => s.filter((e) => e.stream === stream).length >= 5);
        const ours = seen.filter((e) => e.stream === stream);
        expect(ours.map((e) => e.id)).toEqual(events.map((e) => e.id));
        const first = seen.indexOf(ours[0]!);
        expect(seen.slice(first, first + 5).every((e) => ids.has(e.id))).toBe(true);
      });
    });

    describe('expected revisions', () => {
      it('refuses no_stream on an existing stream and a wrong exact revision with the typed conflict, storing nothing', async () => {
        const stream = newStream();
        await store.append(stream, [event('A')], 'no_stream');

        const noStream = store.append(stream, [event('B'), event('C')], 'no_stream');
        await expect(noStream).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await expect(noStream).rejects.toMatchObject({ stream, expected: 'no_stream' });
        await expect(store.append(stream, [event('B'), event('C')], 5)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await expect(store.append(newStream(), [event('B')], 0)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['A']);
      });

      it('appends at the exact revision, and with any whatever the stream holds', async () => {
        const stream = newStream();
        await store.append(stream, [event('A')], 'no_stream');
        expect((await store.append(stream, [event('B')], 0)).revision).toBe(1);
        expect((await store.append(stream, [event('C')], 'any')).revision).toBe(2);
        expect((await store.append(newStream(), [event('D')], 'any')).revision).toBe(0);
        expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['A', 'B', 'C']);
      });

      it('lets exactly one of several writers at the same revision win', async () => {
        const stream = newStream();
        await store.append(stream, [event('A')], 'no_stream');
        const results = await Promise.allSettled(
          Array.from({ length: 5 }, (_, i) => store.append(stream, [event('B', { writer: i })], 0)),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof WrongExpectedRevisionError)).toHaveLength(4);
        expect(await store.readStream(stream)).toHaveLength(2);
      });

      it('stores a retried append (same event ids, same expected revision) once and answers as the first time', async () => {
        const stream = newStream();
        const first = [event('A'), event('B')];
        const stored = await store.append(stream, first, 'no_stream');
        expect(await store.append(stream, first, 'no_stream')).toEqual(stored);

        const second = [event('C')];
        const next = await store.append(stream, second, 1);
        expect(await store.append(stream, second, 1)).toEqual(next);
        expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['A', 'B', 'C']);

        // Different events at a revision that has passed remain a conflict.
        await expect(store.append(stream, [event('D')], 1)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      });

      it('reports a conflict in a multi-stream append naming the stream, each stream all or nothing', async () => {
        const fresh = newStream();
        const taken = newStream();
        await store.append(taken, [event('A')], 'no_stream');
        const attempt = store.appendMany([
          { stream: fresh, events: [event('B'), event('C')], expected: 'no_stream' },
          { stream: taken, events: [event('D'), event('E')], expected: 'no_stream' },
        ]);
        await expect(attempt).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await expect(attempt).rejects.toMatchObject({ stream: expect.stringContaining(taken) });
        expect((await store.readStream(taken)).map((e) => e.type)).toEqual(['A']);
        const freshEvents = await store.readStream(fresh);
        if (subject.multiStreamAtomic) expect(freshEvents).toEqual([]);
        else expect([0, 2]).toContain(freshEvents.length);
      });

      it('appends to several streams and answers each stream its revision and position', async () => {
        const a = newStream();
        const b = newStream('segment');
        await store.append(b, [event('A')], 'no_stream');
        const results = await store.appendMany([
          { stream: a, events: [event('B')], expected: 'no_stream' },
          { stream: b, events: [event('C'), event('D')], expected: 0 },
        ]);
        expect(results.map((r) => [r.stream, r.revision])).toEqual([
          [a, 0],
          [b, 2],
        ]);
        expect(results[1]!.position).toEqual((await store.readStream(b)).at(-1)!.position);
      });
    });

    describe('the global order', () => {
      it('delivers every event of concurrent appenders exactly once, in increasing positions, each stream in revision order', async () => {
        const start = await store.append(newStream(), [event('Marker')], 'no_stream');
        const appenders = 6;
        const perAppender = 20;
        const appended = new Set<string>();
        const subscription = collect(store, start.position, (seen) => ofIds(appended)(seen).length >= appenders * perAppender, {
          batchSize: 7,
        });
        await Promise.all(
          Array.from({ length: appenders }, async (_, a) => {
            const stream = newStream();
            for (let i = 0; i < perAppender; i++) {
              const e = event('Tick', { a, i });
              appended.add(e.id);
              await store.append(stream, [e], i === 0 ? 'no_stream' : i - 1);
            }
          }),
        );
        const { seen } = await subscription;
        const ours = ofIds(appended)(seen);
        expect(new Set(ours.map((e) => e.id)).size).toBe(ours.length);
        expect(ours).toHaveLength(appenders * perAppender);
        expectIncreasing(seen);
        const byStream = new Map<string, number[]>();
        for (const e of ours) byStream.set(e.stream, [...(byStream.get(e.stream) ?? []), e.revision]);
        for (const revisions of byStream.values()) expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
      });

      it('reads the global order after a position, up to a limit', async () => {
        const start = await store.append(newStream(), [event('Marker')], 'no_stream');
        const stream = newStream();
        const events = [event('A'), event('B'), event('C')];
        await store.append(stream, events, 'no_stream');
        // A reader of the global order may hold committed events back while an older transaction
        // is still open (with PostgreSQL: anywhere on the server, e.g. another test file's write),
        // never skip them; so wait for them to show rather than expect them at once.
        let page = await store.readAll({ from: start.position, limit: 2 });
        for (const deadline = Date.now() + 10_000; page.length < 2 && Date.now() < deadline; ) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          page = await store.readAll({ from: start.position, limit: 2 });
        }
        expect(page.map((e) => e.id)).toEqual(events.slice(0, 2).map((e) => e.id));
        const rest = await store.readAll({ from: page[1]!.position, limit: 10 });
        expect(rest.map((e) => e.id)).toContain(events[2]!.id);
        expect(rest.map((e) => e.id)).not.toContain(events[1]!.id);
      });
    });

    describe('subscriptions', () => {
      it('resumes after a checkpoint: nothing at or before it, everything after, then live events', async () => {
        const stream = newStream();
        const events = Array.from({ length: 5 }, (_, i) => event('Tick', { i }));
        await store.append(stream, events.slice(0, 3), 'no_stream');
        await store.append(stream, events.slice(3), 2);
        const checkpoint = (await store.readStream(stream))[2]!.position;
        const live = event('Live');
        const ids = new Set([...events.map((e) => e.id), live.id]);

        let liveAppended = false;
        const { seen, caughtUpSignals } = await collect(store, checkpoint, (s) => ofIds(ids)(s).length >= 3, {
          onBatch: async (batch) => {
            // Caught up (an empty batch): append one more, which must arrive as a live event.
            if (batch.length === 0 && !liveAppended) {
              liveAppended = true;
              await subject.direct.append(stream, [live], 4);
            }
          },
        });
        expect(ofIds(ids)(seen).map((e) => e.id)).toEqual([events[3]!.id, events[4]!.id, live.id]);
        expect(seen.every((e) => comparePositions(e.position, checkpoint) > 0)).toBe(true);
        expect(caughtUpSignals).toBeGreaterThanOrEqual(1);
      });

      it('resubscribes after its connections drop and delivers what was appended meanwhile, exactly once', async () => {
        const start = await store.append(newStream(), [event('Marker')], 'no_stream');
        const stream = newStream();
        const before = [event('Before1'), event('Before2')];
        const during = [event('During1'), event('During2')];
        const after = [event('After')];
        const ids = new Set([...before, ...during, ...after].map((e) => e.id));
        await store.append(stream, before, 'no_stream');

        // The outage runs beside the subscriber, which keeps reading (and failing) meanwhile.
        let outage: Promise<void> | undefined;
        const { seen } = await collect(store, start.position, (s) => ofIds(ids)(s).length >= 5, {
          batchSize: 1,
          timeoutMs: 25_000,
          onBatch: (batch) => {
            if (outage || !batch.some((e) => e.id === before[1]!.id)) return;
            outage = (async () => {
              await subject.cutConnections();
              await subject.direct.append(stream, during, 1);
              await new Promise((resolve) => setTimeout(resolve, 1_000));
              await subject.restoreConnections();
              await subject.direct.append(stream, after, 3);
            })();
          },
        });
        await outage;
        expect(outage).toBeDefined();
        expect(subject.droppedSubscriptions()).toBeGreaterThan(0);
        expect(ofIds(ids)(seen).map((e) => e.type)).toEqual(['Before1', 'Before2', 'During1', 'During2', 'After']);
      });
    });
  });
}
