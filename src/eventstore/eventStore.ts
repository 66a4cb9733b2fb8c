// The event-store port: what commands, projections and reports need from any event store.
import type { DatabasePool } from 'slonik';

/** A place in the global order of all events: (commit, prepare), compared in that order. */
export interface Position {
  readonly commit: bigint;
  readonly prepare: bigint;
}

/**
 * What the writer believes the stream holds: `no_stream`, the revision (0-based) of its last event,
 * or `any` to skip the check.
 */
export type ExpectedRevision = 'no_stream' | 'any' | number;

export interface NewEvent {
  /** Unique per event; a retried append with the same ids is not stored twice. */
  id: string;
  type: string;
  data: unknown;
  metadata: Record<string, unknown>;
}

export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string;
  stream: string;
  /** 0-based index of the event in its stream. */
  revision: number;
  position: Position;
  type: Type;
  data: Data;
  metadata: Record<string, unknown>;
  recordedAt: Date;
}

export interface StreamWrite {
  stream: string;
  events: NewEvent[];
  expected: ExpectedRevision;
}

export interface AppendResult {
  stream: string;
  /** Revision of the last event now in the stream. */
  revision: number;
  /** Position of the last event appended. */
  position: Position;
}

export interface AppendManyOptions {
  /**
   * Decides again the writes whose streams moved since the writer read them, from fresh reads:
   * it gets those writes and returns their replacements (leaving a stream out appends nothing to
   * it). The store appends them with the rest, in the same transaction where it has one, so a
   * large append retries only what conflicted instead of starting over. Without it, a conflict
   * fails the whole append with WrongExpectedRevisionError.
   */
  redecide?: (conflicted: readonly StreamWrite[]) => Promise<StreamWrite[]>;
}

export interface ReadStreamsOptions {
  /** The first revision (0-based) to read, per stream; from the start for a stream not named. */
  fromRevisions?: ReadonlyMap<string, number>;
}

export interface SubscribeOptions {
  /** Deliver events after this position; from the start when absent. */
  from?: Position;
  batchSize: number;
  signal: AbortSignal;
}

export interface EventStore {
  /** Appends all events to one stream, or none. */
  append(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;
  /**
   * Appends to several streams. The PostgreSQL store applies all writes or none; a store without
   * multi-stream transactions applies them one stream at a time (each one still all or nothing).
   */
  appendMany(writes: StreamWrite[], options?: AppendManyOptions): Promise<AppendResult[]>;
  readStream(stream: string): Promise<RecordedEvent[]>;
  /**
   * Several streams in one round trip where the store allows it; absent streams map to []. A
   * stream named in `fromRevisions` is read from that revision on (a caller that holds a snapshot
   * of the stream's state reads only what came after it).
   */
  readStreams(streams: readonly string[], options?: ReadStreamsOptions): Promise<Map<string, RecordedEvent[]>>;
  /**
   * Up to `limit` events after `from` in global order; never skips an event committed later. A
   * page shorter than `limit` holds every event committed before the call (the PostgreSQL store
   * waits for a running transaction that committed events wait behind).
   */
  readAll(options: { from?: Position; limit: number }): Promise<RecordedEvent[]>;
  /**
   * Batches of events after `from` in global order, as they are appended, until the signal aborts.
   * An empty batch says the subscriber has caught up with everything stored so far.
   */
  subscribeToAll(options: SubscribeOptions): AsyncIterable<RecordedEvent[]>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  /** Optional: how many events follow `from`, counting up to `limit`; absent where counting means reading them all. */
  countEventsAfter?(from: Position, limit: number): Promise<number>;
  /** Optional: set when the events are rows of an `events` table (infra/sql/schema.sql) in a PostgreSQL database. */
  readonly eventsTable?: EventsTable;
  close(): Promise<void>;
}

/** Where a store's `events` table can be queried with SQL, for readers the port's methods do not serve well. */
export interface EventsTable {
  pool: DatabasePool;
}

export class WrongExpectedRevisionError extends Error {
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
  ) {
    super(`stream ${stream} is not at the expected revision ${String(expected)}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

export class EventStoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventStoreUnavailableError';
  }
}
