// Shared by the command handlers: turning decided events into stored ones, and retrying a
// load-decide-append cycle when another writer got to the stream first.
import { TooMuchContentionError } from '../domain/errors';
import { WrongExpectedRevisionError, type ExpectedRevision, type NewEvent, type RecordedEvent } from '../eventstore/eventStore';
import type { EventMetadata } from '../events/metadata';
import { eventIdFor } from './eventIds';

export interface DecidedEvent {
  type: string;
  data: unknown;
}

/** Stored events for an append of `events` to `stream` at `expected`; ids as in eventIds.ts. */
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

/** The expected revision for appending after these events. */
export function expectedAfter(events: readonly RecordedEvent[]): ExpectedRevision {
  return events.length === 0 ? 'no_stream' : events[events.length - 1]!.revision;
}

export function foldEvents<State, Event>(
  events: readonly RecordedEvent[],
  initial: State,
  evolve: (state: State, event: Event) => State,
): State {
  let state = initial;
  for (const event of events) state = evolve(state, { type: event.type, data: event.data } as Event);
  return state;
}

const MAX_ATTEMPTS = 25;

/** Re-runs `attempt` while the append loses a race; the state is reloaded each time. */
export async function retryOnConflict<T>(stream: string, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      if (tries >= MAX_ATTEMPTS) throw new TooMuchContentionError(stream);
      // Jittered, growing pause so that racing writers spread out.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** tries, 50)));
    }
  }
}
