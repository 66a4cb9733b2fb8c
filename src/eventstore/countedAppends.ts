// The event store as the service's parts see it, counting what each append stored (for GET
// /metrics): every other call goes to the store unchanged, and the store itself stays unaware.
import type { AppendManyOptions, EventStore, NewEvent, StreamWrite } from './eventStore';

export interface AppendMetrics {
  /** Called once an append has stored these events. */
  appended(events: readonly Pick<NewEvent, 'type'>[]): void;
}

export function withAppendCounts(store: EventStore, metrics: AppendMetrics): EventStore {
  const counted: EventStore = {
    async append(stream, events, expected) {
      const result = await store.append(stream, events, expected);
      metrics.appended(events);
      return result;
    },
    async appendMany(writes, options: AppendManyOptions = {}) {
      // A write that conflicted is replaced by what `redecide` returns for its stream (possibly
      // nothing); what is stored in the end is the writes that went through and the replacements.
      let stored: readonly StreamWrite[] = writes;
      const redecide = options.redecide;
      const counting: AppendManyOptions = redecide
        ? {
            ...options,
            async redecide(conflicted) {
              const replacements = await redecide(conflicted);
              const again = new Set(conflicted.map((write) => write.stream));
              stored = [...stored.filter((write) => !again.has(write.stream)), ...replacements];
              return replacements;
            },
          }
        : options;
      const results = await store.appendMany(writes, counting);
      metrics.appended(stored.flatMap((write) => write.events));
      return results;
    },
    readStream: (stream) => store.readStream(stream),
    readStreams: (streams, options) => store.readStreams(streams, options),
    readAll: (options) => store.readAll(options),
    subscribeToAll: (options) => store.subscribeToAll(options),
    ping: () => store.ping(),
    get eventsTable() {
      return store.eventsTable;
    },
    close: () => store.close(),
  };
  // Optional in the port: callers ask whether the store can count, so the wrapper can only where the store can.
  if (store.countEventsAfter) counted.countEventsAfter = (from, limit) => store.countEventsAfter!(from, limit);
  return counted;
}
