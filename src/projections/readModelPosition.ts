// Read-your-writes: waiting until the read model has applied a position.
import type { DatabasePool } from 'slonik';
import type { Position } from '../eventstore/eventStore';
import { comparePositions } from '../eventstore/position';
import { sleep } from '../platform/sleep';
import { readCheckpoint } from './checkpoints';
import type { ProjectionRunner } from './runner';

/** Resolves true once the read model has applied `position`, false after `timeoutMs`. */
export type WaitForReadModel = (position: Position, timeoutMs: number) => Promise<boolean>;

export function createReadModelWaiter(pool: DatabasePool, projection: string, runner: ProjectionRunner | undefined): WaitForReadModel {
  return async (position, timeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    const applied = (reached: Position | null | undefined) => reached != null && comparePositions(reached, position) >= 0;
    for (;;) {
      // This process's projector, when it is the active one, knows first and alone: it sets its
      // position right after committing the checkpoint. Otherwise (standby, failing, no projector
      // here) the checkpoint row written by the active instance is the truth.
      const local = runner?.status();
      if (applied(local?.position)) return true;
      const activeHere = local?.state === 'live' || local?.state === 'catching_up';
      if (!activeHere && applied((await readCheckpoint(pool, projection))?.position)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(5);
    }
  };
}
