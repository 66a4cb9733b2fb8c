// The global order, read in large batches, each batch handed on while the next one is already
// being read: PostgreSQL sends the next rows while the last ones are applied.
import type { Position } from '../../eventstore/eventStore';
import type { ProjectedEvent } from '../projection';
import { comparePositions, START_POSITION } from '../../eventstore/position';
import { sleep } from '../../platform/sleep';
import type { ReadGlobalOrder } from './globalOrder';

const HELD_BACK_PAUSE_MS = 10;

export interface ReplayOptions {
  read: ReadGlobalOrder;
  /** After this position; from the first event when absent. */
  from: Position | undefined;
  batchSize: number;
  /**
   * The last position to hand on, asked again before each batch (a live checkpoint moves on while
   * the replay runs). Without it the replay goes to the end of what is stored.
   */
  until?: () => Promise<Position>;
  apply(events: readonly ProjectedEvent[], last: Position): Promise<void>;
  signal?: AbortSignal;
}

/** Hands on every event after `from` up to the bound, in order; answers the last position handed on. */
export async function replay(options: ReplayOptions): Promise<Position | undefined> {
  const { read: readBatch, batchSize, signal } = options;
  let position = options.from;
  let reading: Promise<ProjectedEvent[]> | undefined = readBatch(position, batchSize);
  try {
    while (reading) {
      const read: ProjectedEvent[] = await reading;
      reading = undefined;
      signal?.throwIfAborted();
      const until = options.until ? await options.until() : undefined;
      const batch = until ? read.filter((event) => comparePositions(event.position, until) <= 0) : read;
      if (batch.length > 0) position = batch[batch.length - 1]!.position;
      if (read.length === batchSize && batch.length === read.length) reading = readBatch(position, batchSize);
      // A short read before the bound: the bound's events are committed, some still behind the
      // horizon of a transaction running in the meantime. Stopping here would leave them out.
      else if (until && comparePositions(position ?? START_POSITION, until) < 0) {
        const after: Position | undefined = position;
        reading = sleep(HELD_BACK_PAUSE_MS, signal).then(() => readBatch(after, batchSize));
      }
      if (batch.length > 0) await options.apply(batch, position!);
    }
  } finally {
    // A read ahead nobody waits for any more must not end as an unhandled rejection.
    reading?.catch(() => undefined);
  }
  return position;
}
