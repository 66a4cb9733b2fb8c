// Events as the port knows them, from and to the client's types; stream names carry the store's prefix.
import { ANY, NO_STREAM, type AllStreamResolvedEvent, type AppendExpectedRevision, type ResolvedEvent } from '@eventstore/db-client';
import type { ExpectedRevision, RecordedEvent } from '../eventStore';

/** The port's event, or undefined for an event that is not one of ours (another prefix, not JSON). */
export function toRecorded(resolved: ResolvedEvent | AllStreamResolvedEvent, prefix: string): RecordedEvent | undefined {
  const event = resolved.event;
  if (!event || !event.isJson || !event.streamId.startsWith(prefix)) return undefined;
  // Servers before 22.x leave positions out of stream reads; only $all reads need them exactly.
  const position = event.position ?? { commit: resolved.commitPosition ?? 0n, prepare: resolved.commitPosition ?? 0n };
  const metadata = event.metadata;
  return {
    id: event.id,
    stream: event.streamId.slice(prefix.length),
    revision: Number(event.revision),
    position: { commit: position.commit, prepare: position.prepare },
    type: event.type,
    data: event.data,
    metadata: isRecord(metadata) ? metadata : {},
    recordedAt: event.created,
  };
}

export function toServerExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === 'any') return ANY;
  if (expected === 'no_stream') return NO_STREAM;
  return BigInt(expected);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}
