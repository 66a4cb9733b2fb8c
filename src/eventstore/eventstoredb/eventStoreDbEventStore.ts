// The EventStoreDB adapter of the event-store port, on @eventstore/db-client (gRPC).
import {
  BACKWARDS,
  END,
  FORWARDS,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type EventStoreDBClient,
  type JSONType,
} from '@eventstore/db-client';
import {
  EventStoreUnavailableError,
  WrongExpectedRevisionError,
  type AppendManyOptions,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type ReadStreamsOptions,
  type RecordedEvent,
  type StreamWrite,
  type SubscribeOptions,
} from '../eventStore';
import { comparePositions } from '../position';
import { pauseAfterDrop, type ResubscribeOptions } from '../resubscribe';
import { SEGMENT_STREAM_PREFIX, USER_STREAM_PREFIX } from '../../events/streams';
import { appendInRounds } from './appendInRounds';
import { isUnreachable } from './isUnreachable';
import { toRecorded, toServerExpected } from './recordedEvent';
import { mapWithConcurrency } from './mapWithConcurrency';
import { SubscriptionFeed } from './subscriptionFeed';

export interface EventStoreDbOptions extends ResubscribeOptions {
  /**
   * Prepended to every stream name on the server and removed from names read back, so that
   * several deployments or test runs can share one server. Empty by default.
   */
  streamPrefix?: string;
  /** Stream-name prefixes (before `streamPrefix`) the subscription to $all asks the server for. */
  subscribedPrefixes?: readonly string[];
  /** Streams read or appended at once by readStreams and appendMany. */
  concurrency?: number;
}

/** Client error types after which resubscribing is pointless. */
const FATAL_ERROR_TYPES = new Set<unknown>(['access-denied', 'invalid-argument', 'unsupported']);

export class EventStoreDbEventStore implements EventStore {
  private readonly prefix: string;
  private readonly subscribedPrefixes: string[];
  private readonly concurrency: number;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly options: EventStoreDbOptions = {},
  ) {
    this.prefix = options.streamPrefix ?? '';
    this.subscribedPrefixes = [...(options.subscribedPrefixes ?? [SEGMENT_STREAM_PREFIX, USER_STREAM_PREFIX])].map(
      (prefix) => this.prefix + prefix,
    );
    this.concurrency = options.concurrency ?? 32;
  }

  async append(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) throw new Error(`nothing to append to ${stream}`);
    const result = await this.call(() =>
      this.client.appendToStream(
        this.prefix + stream,
        events.map((event) =>
          jsonEvent({ id: event.id, type: event.type, data: event.data as JSONType, metadata: event.metadata }),
        ),
        { expectedRevision: toServerExpected(expected) },
      ),
    ).catch((error: unknown) => {
      if (error instanceof WrongExpectedVersionError) throw new WrongExpectedRevisionError(stream, expected);
      throw error;
    });
    const revision = result.nextExpectedRevision;
    // The port answers the position of the last event appended, which read-your-writes waits for.
    // The server's answer is the position of the write: for one event that is the event's, for
    // several it is read back from the last one. The server also leaves the position out when it
    // recognised the append as a repeat of one it had stored (same ids at the same revision).
    const reported = events.length === 1 && result.position && result.position.commit >= 0n ? result.position : undefined;
    const position = reported ?? (await this.call(() => this.positionOf(stream, revision)));
    return { stream, revision: Number(revision), position };
  }

  /** One stream after another (EventStoreDB has no multi-stream transactions): each all or nothing. */
  async appendMany(writes: StreamWrite[], options: AppendManyOptions = {}): Promise<AppendResult[]> {
    return appendInRounds(writes, options.redecide, (pending) =>
      mapWithConcurrency(pending, this.concurrency, (write) =>
        this.append(write.stream, write.events, write.expected).catch((error: unknown) => {
          // Without redecide the first conflict ends the append, as before any redeciding existed.
          if (error instanceof WrongExpectedRevisionError && options.redecide) return error;
          throw error;
        }),
      ),
    );
  }

  async readStream(stream: string, fromRevision = 0): Promise<RecordedEvent[]> {
    return this.call(async () => {
      const events: RecordedEvent[] = [];
      const fromPosition = fromRevision > 0 ? BigInt(fromRevision) : START;
      try {
        for await (const resolved of this.client.readStream(this.prefix + stream, { fromRevision: fromPosition, direction: FORWARDS })) {
          const recorded = toRecorded(resolved, this.prefix);
          if (recorded) events.push(recorded);
        }
      } catch (error) {
        if (error instanceof StreamNotFoundError) return [];
        throw error;
      }
      return events;
    });
  }

  async readStreams(streams: readonly string[], options: ReadStreamsOptions = {}): Promise<Map<string, RecordedEvent[]>> {
    const unique = [...new Set(streams)];
    const histories = await mapWithConcurrency(unique, this.concurrency, (stream) =>
      this.readStream(stream, options.fromRevisions?.get(stream) ?? 0),
    );
    return new Map(unique.map((stream, index) => [stream, histories[index]!]));
  }

  async readAll(options: { from?: Position; limit: number }): Promise<RecordedEvent[]> {
    return this.call(async () => {
      const events: RecordedEvent[] = [];
      if (options.limit <= 0) return events;
      const read = this.client.readAll({ fromPosition: options.from ?? START, direction: FORWARDS });
      try {
        for await (const resolved of read) {
          const recorded = toRecorded(resolved, this.prefix);
          if (!recorded || !this.isOurs(resolved)) continue;
          // Reading $all from a position includes the event at that position; the port excludes it.
          if (options.from && comparePositions(recorded.position, options.from) <= 0) continue;
          events.push(recorded);
          if (events.length >= options.limit) break;
        }
      } finally {
        await read.cancel().catch(() => undefined);
      }
      return events;
    });
  }

  /**
   * A catch-up subscription to $all, filtered on the server to this service's stream prefixes.
   * When it drops, it resubscribes from the last event delivered, pausing longer after each
   * consecutive failure; it ends only when the signal aborts.
   */
  async *subscribeToAll(options: SubscribeOptions): AsyncIterable<RecordedEvent[]> {
    let from = options.from;
    let failures = 0;
    while (!options.signal.aborted) {
      const feed = new SubscriptionFeed(
        this.client.subscribeToAll({
          fromPosition: from ?? START,
          filter: streamNameFilter({ prefixes: this.subscribedPrefixes }),
        }),
        options.batchSize * 2,
      );
      let dropped: Error | undefined;
      try {
        for (;;) {
          const item = await feed.next(options.batchSize, options.signal);
          if (!item) break;
          if (item.kind === 'dropped') {
            dropped = item.error;
            break;
          }
          const batch: RecordedEvent[] = [];
          for (const resolved of item.events) {
            const recorded = toRecorded(resolved, this.prefix);
            // Guard against a server that repeats the event at the starting position.
            if (!recorded || (from && comparePositions(recorded.position, from) <= 0)) continue;
            batch.push(recorded);
          }
          if (batch.length > 0) {
            failures = 0;
            from = batch[batch.length - 1]!.position;
            yield batch;
          }
          if (item.events.length === 0 && item.caughtUp) yield [];
        }
      } finally {
        await feed.close();
      }
      if (!dropped || options.signal.aborted) break;
      // Refusals that a new subscription would meet again go to the consumer.
      if (FATAL_ERROR_TYPES.has((dropped as { type?: unknown }).type)) throw dropped;
      failures++;
      await pauseAfterDrop(this.options, dropped, failures, options.signal);
    }
  }

  async ping(): Promise<void> {
    try {
      const read = this.client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1, deadline: 3_000 });
      for await (const _ of read) break;
    } catch (error) {
      throw new EventStoreUnavailableError('EventStoreDB does not answer', { cause: error });
    }
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }

  private async positionOf(stream: string, revision: bigint): Promise<Position> {
    const read = this.client.readStream(this.prefix + stream, { fromRevision: revision, direction: FORWARDS, maxCount: 1 });
    for await (const resolved of read) {
      const recorded = toRecorded(resolved, this.prefix);
      if (recorded) return recorded.position;
    }
    throw new Error(`event ${revision} of ${stream} was appended but cannot be read back`);
  }

  private isOurs(resolved: AllStreamResolvedEvent): boolean {
    const name = resolved.event?.streamId;
    return name !== undefined && this.subscribedPrefixes.some((prefix) => name.startsWith(prefix));
  }

  /** Runs a client call, turning "the server did not answer" into the port's unavailable error. */
  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (isUnreachable(error)) throw new EventStoreUnavailableError('EventStoreDB does not answer', { cause: error });
      throw error;
    }
  }
}
