// A stream as a command handler loads it: the aggregate's state folded from its events, and the
// revision to expect when appending after them.
import type { ExpectedRevision, RecordedEvent } from '../eventstore/eventStore';

export function foldEvents<State, Event>(
  events: readonly RecordedEvent[],
  initial: State,
  evolve: (state: State, event: Event) => State,
): State {
  let state = initial;
  for (const event of events) state = evolve(state, { type: event.type, data: event.data } as Event);
  return state;
}

/** The expected revision for appending after these events. */
export function expectedAfter(events: readonly RecordedEvent[]): ExpectedRevision {
  return events.length === 0 ? 'no_stream' : events[events.length - 1]!.revision;
}
