// What the runner needs from a projection: a name and a way to apply a batch in a transaction.
import type { DatabaseTransactionConnection } from 'slonik';
import type { RecordedEvent } from '../eventstore/eventStore';

export interface Projection {
  readonly name: string;
  /** Applies the events in order, inside the runner's transaction that also moves the checkpoint. */
  applyBatch(tx: DatabaseTransactionConnection, events: readonly RecordedEvent[]): Promise<void>;
}
