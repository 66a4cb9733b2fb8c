import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Client } from 'pg';
import { sql } from 'slonik';
import { z } from 'zod';
import { AppendListener } from '../../src/eventstore/postgres/appendListener';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgresEventStore';
import { WrongExpectedRevisionError, type NewEvent, type Position } from '../../src/eventstore/eventStore';
import { createTestDatabase, type TestDatabase } from '../support/database';

const event = (type: string, data: unknown = {}): NewEvent => ({ id: randomUUID(), type, data, metadata: {} });

/** An append whose transaction stays open on a connection of its own, until the caller commits or ends it. */
async function openAppend(databaseUrl: string, stream: string, type: string): Promise<Client> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`INSERT INTO events (event_id, stream_id, stream_position, type, data, metadata) VALUES ($1, $2, 0, $3, '{}', '{}')`, [
    randomUUID(),
    stream,
    type,
  ]);
  return client;
}

describe('PostgreSQL event store', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore(db.pool, { connectionString: db.url, pollIntervalMs: 50 });
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  /** The newest event stored so far, read from the table: a reader from there sees only what the test appends next. */
  const newestPosition = async (): Promise<Position | undefined> => {
    const newest = await db.pool.maybeOne(sql.type(z.object({ commit: z.string(), prepare: z.string() }))`
      SELECT transaction_id::text AS commit, global_position::text AS prepare FROM events
      ORDER BY transaction_id DESC, global_position DESC LIMIT 1`);
    return newest ? { commit: BigInt(newest.commit), prepare: BigInt(newest.prepare) } : undefined;
  };

  it('appends to a new stream and reads it back in order', async () => {
    const result = await store.append('s-1', [event('A', { n: 1 }), event('B', { n: 2 })], 'no_stream');
    expect(result.revision).toBe(1);
    const events = await store.readStream('s-1');
    expect(events.map((e) => [e.type, e.revision, e.data])).toEqual([
      ['A', 0, { n: 1 }],
      ['B', 1, { n: 2 }],
    ]);
  });

  it('rejects a wrong expected revision with a typed error and stores nothing', async () => {
    await store.append('s-2', [event('A')], 'no_stream');
    await expect(store.append('s-2', [event('B')], 'no_stream')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    await expect(store.append('s-2', [event('B')], 5)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    expect(await store.readStream('s-2')).toHaveLength(1);
  });

  it('a redeciding append waits for a write that took its place first, removes what it put after it, and decides that stream again', async () => {
    await store.append('race-x', [event('A')], 'no_stream');
    // Another writer has inserted revision 1 and not committed yet when the append starts.
    const other = new Client({ connectionString: db.url });
    await other.connect();
    await other.query('BEGIN');
    await other.query(
      `INSERT INTO events (event_id, stream_id, stream_position, type, data, metadata) VALUES ($1, 'race-x', 1, 'Other', '{}', '{}')`,
      [randomUUID()],
    );
    const asked: string[][] = [];
    const appending = store.appendMany(
      [
        { stream: 'race-x', events: [event('B1'), event('B2')], expected: 0 },
        { stream: 'race-y', events: [event('C')], expected: 'no_stream' },
      ],
      {
        redecide: async (conflicted) => {
          asked.push(conflicted.map((write) => write.stream));
          return conflicted.map((write) => ({ ...write, events: [event('B1'), event('B2')], expected: 1 }));
        },
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await other.query('COMMIT');
    await other.end();
    const results = await appending;
    expect(asked).toEqual([['race-x']]);
    expect(results.map((result) => [result.stream, result.revision]).sort()).toEqual([
      ['race-x', 3],
      ['race-y', 0],
    ]);
    expect((await store.readStream('race-x')).map((e) => [e.type, e.revision])).toEqual([
      ['A', 0],
      ['Other', 1],
      ['B1', 2],
      ['B2', 3],
    ]);
  });

  it('the append listener wakes a waiter at a notification, counts one that came before the wait, and keeps nothing of timed-out waits', async () => {
    const listener = await AppendListener.connect(db.url);
    const signal = new AbortController().signal;
    try {
      for (let i = 0; i < 20; i++) await listener.waitAfter(listener.mark(), 5, signal);
      expect(listener.waiting).toBe(0);

      const mark = listener.mark();
      const started = Date.now();
      const waiting = listener.waitAfter(mark, 10_000, signal);
      await store.append('s-listen', [event('A')], 'any');
      await waiting;
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(listener.waiting).toBe(0);

      // A notification between the mark and the wait is not missed: the wait returns at once.
      const before = listener.mark();
      await store.append('s-listen', [event('B')], 'any');
      while (listener.mark() === before) await new Promise((resolve) => setTimeout(resolve, 5));
      const again = Date.now();
      await listener.waitAfter(before, 10_000, signal);
      expect(Date.now() - again).toBeLessThan(1_000);
    } finally {
      await listener.close();
    }
  });

  it('closing the append listener while it reconnects ends the connection being opened too', async () => {
    // A proxy to the database that, once told to stall, holds new connections without an answer:
    // the listener's reconnect is then an open() in flight when close() comes.
    const target = new URL(db.url);
    const forwarded = new Set<net.Socket>();
    const stalled = new Set<net.Socket>();
    let stall = false;
    const proxy = net.createServer((socket) => {
      socket.on('error', () => undefined);
      if (stall) {
        stalled.add(socket);
        socket.on('close', () => stalled.delete(socket));
        socket.resume(); // reads and ignores the startup message, so that it sees the client go
        return;
      }
      const upstream = net.connect(Number(target.port), target.hostname);
      upstream.on('error', () => socket.destroy());
      forwarded.add(socket).add(upstream);
      socket.pipe(upstream).pipe(socket);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    try {
      const listener = await AppendListener.connect(viaProxy.toString());
      stall = true;
      for (const socket of forwarded) socket.destroy(); // the LISTEN connection drops; a reconnect follows in 1 s
      const deadline = Date.now() + 10_000;
      while (stalled.size === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(stalled.size).toBe(1);

      await listener.close();
      while (stalled.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect({ connectionsLeftOpen: stalled.size }).toEqual({ connectionsLeftOpen: 0 });
    } finally {
      for (const socket of [...forwarded, ...stalled]) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('a reader and a subscriber do not pass an event whose transaction is still open, and see it once it commits', async () => {
    const from = await newestPosition();
    const controller = new AbortController();
    const delivered: string[] = [];
    const subscription = (async () => {
      for await (const batch of store.subscribeToAll({ from, batchSize: 10, signal: controller.signal })) {
        delivered.push(...batch.map((recorded) => recorded.type));
      }
    })();
    // An append whose transaction stays open, then a later one that commits at once.
    const late = await openAppend(db.url, 'late-x', 'Late');
    try {
      await store.append('late-y', [event('Early')], 'no_stream');
      // A reader paging to the end waits: a short page must not end before a committed event.
      let read: string[] | undefined;
      const reading = store.readAll({ from, limit: 100 }).then((events) => (read = events.map((recorded) => recorded.type)));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(read).toBeUndefined();
      expect(delivered).toEqual([]);

      await late.query('COMMIT');
      await reading;
      expect(read).toEqual(['Late', 'Early']);
      const deadline = Date.now() + 10_000;
      while (delivered.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect((await store.readAll({ from, limit: 100 })).map((recorded) => recorded.type)).toEqual(['Late', 'Early']);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(delivered).toEqual(['Late', 'Early']);
    } finally {
      controller.abort();
      await subscription;
      await late.end();
    }
  });

  it('a transaction held open in another database of the server holds neither a reader nor a subscriber back', async () => {
    const from = await newestPosition();
    const other = await createTestDatabase({ poolSize: 1 });
    // Another service's append on the same server, its transaction still open: an older
    // transaction id than the append below, which the server-wide horizon would wait for.
    const elsewhere = await openAppend(other.url, 'other-x', 'Elsewhere');
    const controller = new AbortController();
    const delivered: string[] = [];
    let subscription: Promise<void> | undefined;
    try {
      await store.append('here-y', [event('Here')], 'no_stream');
      let timer: NodeJS.Timeout | undefined;
      const stillWaiting = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), 5_000)));
      const read = await Promise.race([store.readAll({ from, limit: 100 }), stillWaiting]).finally(() => clearTimeout(timer));
      expect(read === 'still waiting' ? read : read.map((recorded) => recorded.type)).toEqual(['Here']);

      subscription = (async () => {
        for await (const batch of store.subscribeToAll({ from, batchSize: 10, signal: controller.signal })) {
          delivered.push(...batch.map((recorded) => recorded.type));
        }
      })();
      const deadline = Date.now() + 5_000;
      while (delivered.length < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(delivered).toEqual(['Here']);
    } finally {
      controller.abort();
      await subscription;
      await elsewhere.end();
      await other.drop();
    }
  });

  it('appends to several streams all or nothing', async () => {
    await store.append('s-3', [event('A')], 'no_stream');
    await expect(
      store.appendMany([
        { stream: 's-4', events: [event('A')], expected: 'no_stream' },
        { stream: 's-3', events: [event('B')], expected: 'no_stream' },
      ]),
    ).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    expect(await store.readStream('s-4')).toEqual([]);
  });

  it('lets exactly one of two writers at the same revision win', async () => {
    await store.append('s-5', [event('A')], 'no_stream');
    const results = await Promise.allSettled([store.append('s-5', [event('B')], 0), store.append('s-5', [event('C')], 0)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof WrongExpectedRevisionError)).toHaveLength(1);
  });

  it('treats an event id stored elsewhere as a conflict, not as an internal error', async () => {
    const reused = event('A');
    await store.append('s-6', [reused], 'no_stream');
    await expect(store.append('s-7', [{ ...reused }], 'no_stream')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    expect(await store.readStream('s-7')).toEqual([]);
  });

  it('answers a retried multi-stream append with the stored results, storing nothing twice', async () => {
    const writes = [
      { stream: 's-8', events: [event('A'), event('B')], expected: 'no_stream' as const },
      { stream: 's-9', events: [event('C')], expected: 'no_stream' as const },
    ];
    const first = await store.appendMany(writes);
    expect(await store.appendMany(writes)).toEqual(first);
    expect(await store.readStream('s-8')).toHaveLength(2);
    expect(await store.readStream('s-9')).toHaveLength(1);
  });

  it('never lets a reader of the global order skip an event whose transaction committed late', async () => {
    const appenders = 8;
    const perAppender = 40;
    const seen: string[] = [];
    const controller = new AbortController();
    const expectedTotal = appenders * perAppender;
    // The newest stored event, read from the table itself: readAll may still hold back events that
    // committed while a transaction elsewhere on the server (xids are cluster-wide) was running.
    const newest = await db.pool.maybeOne(sql.type(z.object({ commit: z.string(), prepare: z.number() }))`
      SELECT transaction_id::text AS commit, global_position AS prepare FROM events
      ORDER BY transaction_id DESC, global_position DESC LIMIT 1`);
    const start = newest ? { commit: BigInt(newest.commit), prepare: BigInt(newest.prepare) } : undefined;
    const reading = (async () => {
      for await (const batch of store.subscribeToAll({ from: start, batchSize: 7, signal: controller.signal })) {
        for (const e of batch) seen.push(e.id);
        if (seen.length >= expectedTotal) controller.abort();
      }
    })();
    const appended: string[] = [];
    await Promise.all(
      Array.from({ length: appenders }, async (_, a) => {
        for (let i = 0; i < perAppender; i++) {
          const e = event('Tick', { a, i });
          appended.push(e.id);
          await store.append(`tick-${a}-${i}`, [e], 'no_stream');
        }
      }),
    );
    const timeout = setTimeout(() => controller.abort(), 10_000);
    await reading;
    clearTimeout(timeout);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.sort()).toEqual(appended.sort());
  });
});
