// No EventStoreDB server can run on our build machines, so the subscription logic of the adapter
// (batching, the caught-up signal, resubscribing after a drop, backpressure) runs here against a
// STAND-IN for the client: real Node object streams shaped like the client's subscription (a
// Transform emitting resolved events, 'caughtUp', and errors). The contract suite runs the real
// client against a real server when EVENTSTORE_CONNECTION_STRING is set.
import { PassThrough } from 'node:stream';
import type { AllStreamResolvedEvent, EventStoreDBClient, SubscribeToAllOptions } from '@eventstore/db-client';
import type { Position, RecordedEvent } from '../../src/eventstore/eventStore';
import { EventStoreDbEventStore } from '../../src/eventstore/eventstoredb/eventStoreDbEventStore';
import { SubscriptionFeed } from '../../src/eventstore/eventstoredb/subscriptionFeed';

type StandInSubscription = PassThrough & { unsubscribe(): Promise<void> };

function standInSubscription(): StandInSubscription {
  const stream = new PassThrough({ objectMode: true }) as StandInSubscription;
  stream.unsubscribe = async () => {
    stream.end();
  };
  return stream;
}

const resolved = (stream: string, revision: number, commit: number, type = 'MembershipAdded'): AllStreamResolvedEvent => ({
  event: {
    streamId: stream,
    id: `00000000-0000-4000-8000-${String(commit).padStart(12, '0')}`,
    isJson: true,
    revision: BigInt(revision),
    type,
    created: new Date('2026-11-23T10:00:00.000Z'),
    data: { n: revision },
    metadata: { actor: 'test' },
    position: { commit: BigInt(commit), prepare: BigInt(commit) },
  },
  commitPosition: BigInt(commit),
});

/** A client stand-in whose subscribeToAll hands out the prepared subscriptions in turn. */
function standInClient(subscriptions: Array<StandInSubscription | (() => StandInSubscription)>) {
  const calls: SubscribeToAllOptions[] = [];
  const client = {
    subscribeToAll(options: SubscribeToAllOptions) {
      calls.push(options);
      const next = subscriptions.shift();
      if (!next) throw new Error('no more stand-in subscriptions');
      return typeof next === 'function' ? next() : next;
    },
    dispose: async () => undefined,
  } as unknown as EventStoreDBClient;
  return { client, calls };
}

async function take(store: EventStoreDbEventStore, from: Position | undefined, count: number, batchSize = 10) {
  const controller = new AbortController();
  const batches: RecordedEvent[][] = [];
  const timeout = setTimeout(() => controller.abort(), 5_000);
  try {
    for await (const batch of store.subscribeToAll({ from, batchSize, signal: controller.signal })) {
      batches.push(batch);
      if (batches.flat().length >= count) break;
    }
  } finally {
    clearTimeout(timeout);
    controller.abort();
  }
  return batches;
}

describe('EventStoreDB subscription (with a stand-in for the client, no server here)', () => {
  it('asks the server to filter on the service prefixes after the stream prefix, from the checkpoint', async () => {
    const first = standInSubscription();
    const { client, calls } = standInClient([first]);
    const store = new EventStoreDbEventStore(client, { streamPrefix: 'staging.' });
    first.write(resolved('staging.user-1000', 0, 120));
    const batches = await take(store, { commit: 100n, prepare: 100n }, 1);
    expect(calls[0]!.fromPosition).toEqual({ commit: 100n, prepare: 100n });
    expect(calls[0]!.filter).toMatchObject({ filterOn: 'streamName', prefixes: ['staging.segment-', 'staging.user-'] });
    expect(batches.flat().map((e) => [e.stream, e.revision, e.position])).toEqual([
      ['user-1000', 0, { commit: 120n, prepare: 120n }],
    ]);
  });

  it('resubscribes after a drop from the last event delivered, with a growing pause, and skips nothing', async () => {
    const unavailable = () => Object.assign(new Error('14 UNAVAILABLE'), { code: 14 });
    const first = () => {
      const subscription = standInSubscription();
      subscription.write(resolved('user-1', 0, 10));
      subscription.write(resolved('user-1', 1, 20));
      setTimeout(() => subscription.destroy(unavailable()), 20);
      return subscription;
    };
    // The second subscription drops before delivering anything: the pause grows.
    const second = () => {
      const subscription = standInSubscription();
      setImmediate(() => subscription.destroy(unavailable()));
      return subscription;
    };
    // A server may repeat the event at the starting position; it must not be delivered twice.
    const third = standInSubscription();
    third.write(resolved('user-1', 1, 20));
    third.write(resolved('user-2', 0, 30));
    const { client, calls } = standInClient([first, second, third]);
    const drops: Array<[number, number]> = [];
    const store = new EventStoreDbEventStore(client, {
      resubscribeBackoff: { initialMs: 10, maxMs: 15 },
      onSubscriptionDropped: (_error, attempt, delayMs) => drops.push([attempt, delayMs]),
    });

    const events = (await take(store, undefined, 3)).flat();
    expect(events.map((e) => e.position.commit)).toEqual([10n, 20n, 30n]);
    expect(calls.map((c) => c.fromPosition)).toEqual(['start', { commit: 20n, prepare: 20n }, { commit: 20n, prepare: 20n }]);
    expect(drops).toEqual([
      [1, 10],
      [2, 15],
    ]);
  });

  it('ends instead of resubscribing when the server refuses access', async () => {
    const refused = () => {
      const subscription = standInSubscription();
      setImmediate(() => subscription.destroy(Object.assign(new Error('access denied'), { type: 'access-denied' })));
      return subscription;
    };
    const { client, calls } = standInClient([refused]);
    const store = new EventStoreDbEventStore(client, { resubscribeBackoff: { initialMs: 1, maxMs: 1 } });
    await expect(take(store, undefined, 1)).rejects.toThrow('access denied');
    expect(calls).toHaveLength(1);
  });
});

describe('SubscriptionFeed (over a stand-in subscription stream)', () => {
  it('signals caught up only after the events the server sent before saying so', async () => {
    const subscription = standInSubscription();
    const feed = new SubscriptionFeed(subscription as never, 100);
    const signal = new AbortController().signal;
    subscription.write(resolved('user-1', 0, 10));
    subscription.write(resolved('user-1', 1, 20));
    await new Promise((resolve) => setImmediate(resolve));
    subscription.emit('caughtUp');
    const first = await feed.next(1, signal);
    expect(first).toMatchObject({ kind: 'events', caughtUp: false });
    const second = await feed.next(1, signal);
    expect(second).toMatchObject({ kind: 'events', caughtUp: true });
    expect(await feed.next(1, signal)).toEqual({ kind: 'events', events: [], caughtUp: true });
    await feed.close();
  });

  it('pauses the subscription while its buffer is full and resumes it when drained', async () => {
    const subscription = standInSubscription();
    const feed = new SubscriptionFeed(subscription as never, 4);
    const signal = new AbortController().signal;
    for (let i = 0; i < 10; i++) subscription.write(resolved('user-1', i, 10 + i));
    await new Promise((resolve) => setImmediate(resolve));
    expect(subscription.isPaused()).toBe(true);
    const taken: bigint[] = [];
    while (taken.length < 10) {
      const item = await feed.next(3, signal);
      if (item?.kind !== 'events') throw new Error('expected events');
      taken.push(...item.events.map((e) => e.event!.position.commit));
    }
    expect(taken).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(10 + i)));
    await feed.close();
  });
});
