// Event ids derived from the request that decided them, so that the same append sent twice (a
// retry after a lost answer) carries the same ids and is stored once by either event store.
import { createHash, randomUUID } from 'node:crypto';
import type { ExpectedRevision } from '../eventstore/eventStore';

/** Namespace of this service's name-based (version 5) event ids. */
const EVENT_ID_NAMESPACE = '5b1f0d2e-9a7c-4c3e-8f61-2d4b6a8c0e13';

/** A version 5 (SHA-1, name-based) UUID, RFC 9562 section 5.5. */
export function uuidV5(name: string, namespace: string = EVENT_ID_NAMESPACE): string {
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(name, 'utf8')
    .digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

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
  return uuidV5([input.requestId, input.stream, String(input.expected), input.index, input.type, subject].join('\n'));
}
