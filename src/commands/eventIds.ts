// Decided events as the store keeps them, with ids derived from the request that decided them, so
// that the same append sent twice (a retry after a lost answer) carries the same ids and is
// stored once by either event store.
import { randomUUID } from 'node:crypto';
import { v5 as uuidV5 } from 'uuid';
import type { ExpectedRevision, NewEvent } from '../eventstore/eventStore';
import type { EventMetadata } from '../events/metadata';

/** Namespace of this service's name-based (version 5) event ids. */
const EVENT_ID_NAMESPACE = '5b1f0d2e-9a7c-4c3e-8f61-2d4b6a8c0e13';

export interface EventIdInput {
  /** The request (or command) that decided the events; random ids without one. */
  requestId: string | undefined;
  stream: string;
  expected: ExpectedRevision;
  index: number;
  type: string;
  data: unknown;
}

/**
 * The id of one decided event. Only a repetition of the same request at the same revision of the
 * same stream, deciding an event of the same type on the same subject, gets the same id. Time
 * fields (`…At`) are left out, because a retry decides them anew; the rest of the payload is in,
 * so that a request id a client reuses for a different change cannot pass for a retry.
 */
export function eventIdFor(input: EventIdInput): string {
  if (input.requestId === undefined) return randomUUID();
  const subject = JSON.stringify(input.data, (key, value: unknown) => (key.endsWith('At') ? undefined : value));
  return uuidV5([input.requestId, input.stream, String(input.expected), input.index, input.type, subject].join('\n'), EVENT_ID_NAMESPACE);
}

export interface DecidedEvent {
  type: string;
  data: unknown;
}

/** Stored events for an append of `events` to `stream` at `expected`. */
export function toNewEvents(
  events: readonly DecidedEvent[],
  metadata: EventMetadata,
  target: { stream: string; expected: ExpectedRevision },
): NewEvent[] {
  return events.map((event, index) => ({
    id: eventIdFor({ requestId: metadata.requestId, ...target, index, type: event.type, data: event.data }),
    type: event.type,
    data: event.data,
    metadata: { ...metadata },
  }));
}
