// The PostgreSQL adapter of the event-store port: one `events` table, see infra/sql/schema.sql.
import type { Pool } from 'pg';
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { createReadPool } from '../../platform/database';
import { Limiter } from '../../platform/limiter';
import { sleep } from '../../platform/sleep';
import { isConnectionError, uniqueViolationConstraint } from '../../platform/pgErrors';
import {
  EventStoreUnavailableError,
  WrongExpectedRevisionError,
  type AppendManyOptions,
  type AppendResult,
  type EventStore,
  type EventsTable,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type ReadStreamsOptions,
  type RecordedEvent,
  type StreamWrite,
  type SubscribeOptions,
} from '../eventStore';
import { appendAll, appendRedeciding, checkWrites } from './appendEvents';
import { AppendListener } from './appendListener';
import { pauseAfterDrop, type ResubscribeOptions } from '../resubscribe';
import { readGlobalOrder, StuckHorizon, type GlobalOrderRead } from './globalOrderRead';
import { READ_STREAMS } from './readStatements';
import {
  appendedRow,
  expectedAsRevision,
  resultsOf,
  storedIdRow,
  toRecorded,
  type RecordedPgRow,
} from './eventRows';

/** The longest pause of a subscriber while committed events wait behind a running transaction. */
const HELD_BACK_POLL_MS = 10;

export interface PostgresEventStoreOptions extends ResubscribeOptions {
  /** Used for LISTEN; the pool cannot hold a connection for notifications. */
  connectionString: string;
  /**
   * node-postgres pool for the hot statements (appends, stream reads), sent as named prepared
   * statements; the composition root shares its read pool. Without one, the store opens its own
   * from `connectionString` and ends it on close.
   */
  statementPool?: Pool;
  /** How often a subscriber looks for new events when no notification arrives. */
  pollIntervalMs?: number;
}

export class PostgresEventStore implements EventStore {
  /** The promise, not the listener: two first subscribers at once (a projector and a read view) share one. */
  private listener: Promise<AppendListener> | undefined;
  private readonly pollIntervalMs: number;
  private readonly statements: Pool;
  private readonly ownsStatements: boolean;
  private readonly redecidingAppends: Limiter;

  constructor(
    private readonly pool: DatabasePool,
    private readonly options: PostgresEventStoreOptions,
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.ownsStatements = options.statementPool === undefined;
    this.statements = options.statementPool ?? createReadPool(options.connectionString);
    this.redecidingAppends = new Limiter(Math.max(1, Math.floor(this.statements.options.max / 2)));
  }

  async append(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const [result] = await this.appendMany([{ stream, events, expected }]);
    return result!;
  }

  /** All writes in one statement, so in one transaction: every stream gets its events, or none does. */
  async appendMany(writes: StreamWrite[], options: AppendManyOptions = {}): Promise<AppendResult[]> {
    checkWrites(writes);
    try {
      if (!options.redecide) return await appendAll(this.statements, writes);
      // `redecide` reads through the same pool while the transaction holds a connection: fewer
      // such transactions than connections, so that they cannot take every one and wait forever.
      const redecide = options.redecide;
      return await this.redecidingAppends.run(() => appendRedeciding(this.statements, writes, redecide));
    } catch (error) {
      const conflict = error instanceof WrongExpectedRevisionError ? error : this.conflictFrom(writes, uniqueViolationConstraint(error));
      if (!conflict) throw error;
      // A retry of an append that was stored already (same event ids, same places) succeeds
      // with the stored result, as EventStoreDB answers one; anything else is the conflict.
      const earlier = await this.earlierAppend(writes);
      if (earlier) return earlier;
      throw conflict;
    }
  }

  async readStream(stream: string): Promise<RecordedEvent[]> {
    return (await this.readStreams([stream])).get(stream) ?? [];
  }

  async readStreams(streams: readonly string[], options: ReadStreamsOptions = {}): Promise<Map<string, RecordedEvent[]>> {
    const result = new Map<string, RecordedEvent[]>(streams.map((stream) => [stream, []]));
    if (streams.length === 0) return result;
    const names = [...result.keys()];
    const from = names.map((stream) => options.fromRevisions?.get(stream) ?? 0);
    // One index range scan per stream. A plain `stream_id = ANY(…)` is planned from the table's
    // statistics, which at millions of streams misjudge a few short streams as tens of thousands
    // of rows and choose a parallel bitmap scan (hundreds of ms); the lateral join cannot.
    const { rows } = await this.statements.query<RecordedPgRow>({ ...READ_STREAMS, values: [names, from] });
    for (const row of rows) result.get(row.stream_id)!.push(toRecorded(row));
    return result;
  }

  /**
   * While committed events wait behind a transaction still running, a short page would look like
   * the end of the log to a reader that pages through it (an audit replay, a report): wait with
   * them instead, looking again after 2, 4, 8 and then every 10 ms.
   */
  async readAll(options: { from?: Position; limit: number }): Promise<RecordedEvent[]> {
    const stuck = new StuckHorizon();
    let lookPastOtherDatabases = false;
    for (let polls = 1; ; polls++) {
      const read = await readGlobalOrder(this.statements, { ...options, lookPastOtherDatabases });
      if (read.events.length === options.limit || !read.heldBack) return read.events;
      lookPastOtherDatabases = stuck.lookPastOtherDatabases(read);
      await sleep(Math.min(2 ** polls, HELD_BACK_POLL_MS));
    }
  }

  /**
   * Polls the global order (woken early by notifications). When the database connection is lost
   * it keeps trying from the last event delivered, pausing longer after each consecutive failure;
   * any other error ends the subscription.
   */
  async *subscribeToAll(options: SubscribeOptions): AsyncIterable<RecordedEvent[]> {
    let from = options.from;
    const listener = await this.appendListener();
    let caughtUp = false;
    let failures = 0;
    let heldBackPolls = 0;
    const stuck = new StuckHorizon();
    let lookPastOtherDatabases = false;
    while (!options.signal.aborted) {
      const mark = listener.mark();
      let read: GlobalOrderRead;
      try {
        read = await readGlobalOrder(this.statements, { from, limit: options.batchSize, lookPastOtherDatabases });
        lookPastOtherDatabases = stuck.lookPastOtherDatabases(read);
        failures = 0;
      } catch (error) {
        if (!isConnectionError(error) || options.signal.aborted) throw error;
        failures++;
        await pauseAfterDrop(this.options, error as Error, failures, options.signal);
        continue;
      }
      const batch = read.events;
      if (batch.length > 0) {
        from = batch[batch.length - 1]!.position;
        const wasCaughtUp = caughtUp;
        caughtUp = batch.length < options.batchSize;
        yield batch;
        if (!caughtUp) continue;
        if (!wasCaughtUp) yield []; // the port's "caught up" signal, once
      } else if (!caughtUp) {
        caughtUp = true;
        yield batch;
      }
      // Events held back behind a running transaction become visible when it ends, which sends no
      // notification when it appends nothing (a projector's batch, say): look again soon, after
      // 2, 4, 8 and then every 10 ms, rather than at the next append or poll.
      heldBackPolls = read.heldBack ? heldBackPolls + 1 : 0;
      const pause = read.heldBack ? Math.min(2 ** heldBackPolls, HELD_BACK_POLL_MS, this.pollIntervalMs) : this.pollIntervalMs;
      await listener.waitAfter(mark, pause, options.signal);
    }
  }

  /** The events are rows of `events` in this pool's database: readers may query them directly. */
  get eventsTable(): EventsTable {
    return { pool: this.pool };
  }

  async countEventsAfter(from: Position, limit: number): Promise<number> {
    return this.pool.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int8 AS count FROM (
        SELECT 1 FROM events
        WHERE (transaction_id, global_position) > (${from.commit.toString()}::xid8, ${from.prepare.toString()}::int8)
        LIMIT ${limit}) pending`);
  }

  async ping(): Promise<void> {
    try {
      await this.pool.oneFirst(sql.type(z.object({ ok: z.number() }))`SELECT 1 AS ok`);
    } catch (error) {
      throw new EventStoreUnavailableError('the PostgreSQL event store does not answer', { cause: error });
    }
  }

  async close(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    await (await listener)?.close();
    if (this.ownsStatements) await this.statements.end().catch(() => undefined);
  }

  private appendListener(): Promise<AppendListener> {
    this.listener ??= AppendListener.connect(this.options.connectionString);
    return this.listener;
  }

  /** A unique violation, on either constraint, is a conflict: another append got there first. */
  private conflictFrom(writes: StreamWrite[], constraint: string | undefined): WrongExpectedRevisionError | undefined {
    if (constraint === undefined) return undefined;
    const write = writes[0]!;
    return new WrongExpectedRevisionError(writes.length === 1 ? write.stream : writes.map((w) => w.stream).join(', '), write.expected);
  }

  /**
   * The results of these writes if every one of them is stored already: each write's event ids,
   * in its stream, in order, right after the revision it expected.
   */
  private async earlierAppend(writes: StreamWrite[]): Promise<AppendResult[] | undefined> {
    const ids = writes.flatMap((write) => write.events.map((event) => event.id));
    const stored = await this.pool.any(sql.type(storedIdRow)`
      SELECT event_id::text, stream_id, stream_position, global_position, transaction_id::text
      FROM events WHERE event_id = ANY(${sql.array(ids, 'uuid')})`);
    if (stored.length !== ids.length) return undefined;
    const byId = new Map(stored.map((row) => [row.event_id, row]));
    const rows: z.infer<typeof appendedRow>[] = [];
    for (const write of writes) {
      // With `any` the write could have landed anywhere; its events must still be consecutive.
      const before = expectedAsRevision(write.expected) ?? byId.get(write.events[0]!.id)!.stream_position - 1;
      for (const [index, event] of write.events.entries()) {
        const row = byId.get(event.id)!;
        if (row.stream_id !== write.stream || row.stream_position !== before + 1 + index) return undefined;
        rows.push(row);
      }
    }
    return resultsOf(writes, rows);
  }
}
