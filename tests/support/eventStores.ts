// The event stores tests run against. PostgreSQL always; EventStoreDB when
// EVENTSTORE_CONNECTION_STRING names a server (tests then set EVENT_STORE=eventstoredb to run the
// service on it). Each test gets a stream prefix of its own, so runs never see each other's streams.
import { randomBytes } from 'node:crypto';
import { EventStoreDBClient } from '@eventstore/db-client';
import type { AppendResult, EventStore, NewEvent, Position, StreamWrite, ExpectedRevision } from '../../src/eventstore/eventStore';
import { EventStoreDbEventStore, type EventStoreDbOptions } from '../../src/eventstore/eventstoredb/eventStoreDbEventStore';
import { comparePositions } from '../../src/eventstore/position';

export const eventStoreDbConnectionString: string | undefined = process.env.EVENTSTORE_CONNECTION_STRING || undefined;

/** Which store the service under test uses: EVENT_STORE=eventstoredb (with a server) or PostgreSQL. */
export const serviceEventStore: 'postgres' | 'eventstoredb' = process.env.EVENT_STORE === 'eventstoredb' ? 'eventstoredb' : 'postgres';

if (serviceEventStore === 'eventstoredb' && !eventStoreDbConnectionString) {
  throw new Error('EVENT_STORE=eventstoredb needs EVENTSTORE_CONNECTION_STRING for the tests');
}

export const newStreamPrefix = (): string => `test${randomBytes(6).toString('hex')}.`;

export function createEventStoreDbForTests(
  connectionString: string,
  options: EventStoreDbOptions & { streamPrefix: string },
): EventStoreDbEventStore {
  return new EventStoreDbEventStore(EventStoreDBClient.connectionString(connectionString), options);
}

/** Passes everything through and remembers what was appended, for settle() and snapshots. */
export class RecordingEventStore implements EventStore {
  appendedEvents = 0;
  lastPosition: Position | undefined;

  /** `sink`: another recorder that also hears of these appends (a second client of one store). */
  constructor(
    private readonly inner: EventStore,
    private readonly sink?: RecordingEventStore,
  ) {}

  async append(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    return this.record(await this.inner.append(stream, events, expected), events.length);
  }
  async appendMany(writes: StreamWrite[]): Promise<AppendResult[]> {
    const results = await this.inner.appendMany(writes);
    results.forEach((result, index) => this.record(result, writes[index]!.events.length));
    return results;
  }
  readStream = (stream: string) => this.inner.readStream(stream);
  readStreams: EventStore['readStreams'] = (streams, options) => this.inner.readStreams(streams, options);
  readAll = (options: { from?: Position; limit: number }) => this.inner.readAll(options);
  subscribeToAll: EventStore['subscribeToAll'] = (options) => this.inner.subscribeToAll(options);
  ping = () => this.inner.ping();
  close = () => this.inner.close();

  record(result: AppendResult, count: number): AppendResult {
    this.appendedEvents += count;
    if (!this.lastPosition || comparePositions(result.position, this.lastPosition) > 0) this.lastPosition = result.position;
    this.sink?.record(result, count);
    return result;
  }
}
