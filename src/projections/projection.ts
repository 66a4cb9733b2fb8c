// What the runner needs from a projection: a name and a way to apply a batch in a transaction.
import type { DatabaseTransactionConnection } from 'slonik';
import type { RecordedEvent } from '../eventstore/eventStore';

/**
 * What a projection reads of an event: all of it but the metadata (who asked, the request id),
 * which no read model uses. A replay of the whole log does not read it: it is half of what a row
 * of the events table weighs.
 */
export type ProjectedEvent = Omit<RecordedEvent, 'metadata'>;

export interface Projection {
  readonly name: string;
  /** Applies the events in order, inside the runner's transaction that also moves the checkpoint. */
  applyBatch(tx: DatabaseTransactionConnection, events: readonly ProjectedEvent[]): Promise<void>;
}
