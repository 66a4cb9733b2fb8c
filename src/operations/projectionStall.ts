// Whether the read model's projection has stopped advancing while events wait for it: what an API
// process without a projector of its own can only learn from the checkpoint row. Events pending at
// an unchanged checkpoint for longer than `stallAfterMs` mean no projector applies them anywhere
// (none runs, or the active one is stuck); reads then go on answering from an aging read model.
import type { DatabasePool } from 'slonik';
import type { EventStore, Position } from '../eventstore/eventStore';
import { comparePositions, START_POSITION } from '../eventstore/position';
import type { Clock } from '../platform/clock';
import { readCheckpoint } from '../projections/checkpoints';

export interface ProjectionStall {
  /** Milliseconds the projection has not advanced with events pending; 0 when it keeps up. */
  stalledForMs(): Promise<number>;
}

export function createProjectionStallWatch(deps: { pool: DatabasePool; store: EventStore; projection: string; clock: Clock }): ProjectionStall {
  const { pool, store, projection, clock } = deps;
  /** The checkpoint at which events were first seen pending, and when. */
  let waiting: { position: Position; since: number } | undefined;
  return {
    async stalledForMs() {
      if (!store.countEventsAfter) return 0; // the store cannot count cheaply: not watched
      const position = (await readCheckpoint(pool, projection))?.position ?? START_POSITION;
      const pending = await store.countEventsAfter(position, 1);
      const now = clock.now().getTime();
      if (pending === 0) {
        waiting = undefined;
        return 0;
      }
      if (!waiting || comparePositions(waiting.position, position) !== 0) waiting = { position, since: now };
      return now - waiting.since;
    },
  };
}
