// How far the read model on a streaming replica (READ_DATABASE_URL) is behind the one on the
// primary, for the readiness of an API process that reads from the replica. Each look notes the
// primary's read-model checkpoint and when it was seen; the lag is the age of the oldest noted
// checkpoint the replica has not reached yet. The measure is thus as fine as readiness is probed
// often, and two traps of the usual ones do not apply: an idle primary does not look like lag (as
// `now() - pg_last_xact_replay_timestamp()` does), nor does a replica that keeps replaying just
// behind a busy primary (its received and replayed WAL positions never meet).
import type { DatabasePool } from 'slonik';
import type { Position } from '../eventstore/eventStore';
import { comparePositions, START_POSITION } from '../eventstore/position';
import type { Clock } from '../platform/clock';
import { isConnectionError } from '../platform/pgErrors';
import { readCheckpoint } from '../projections/checkpoints';

export interface ReplicaLag {
  /** Milliseconds the replica is behind the primary's read model; throws when the replica does not answer. */
  lagMs(): Promise<number>;
}

/** A replica stuck for long is probed many times; the oldest unreached look is the one that counts. */
const MAX_LOOKS = 1_000;

export function createReplicaLagWatch(deps: { primary: DatabasePool; replica: DatabasePool; projection: string; clock: Clock }): ReplicaLag {
  const { primary, replica, projection, clock } = deps;
  const looks: Array<{ position: Position; at: number }> = [];
  return {
    async lagMs() {
      const replayed = (await readCheckpoint(replica, projection))?.position ?? START_POSITION;
      // The primary's own failure is the database check's to report; without it the older looks still count.
      const written = await readCheckpoint(primary, projection).then((checkpoint) => checkpoint?.position ?? START_POSITION, () => undefined);
      const now = clock.now().getTime();
      if (written) looks.push({ position: written, at: now });
      if (looks.length > MAX_LOOKS) looks.splice(1, 1);
      while (looks.length > 0 && comparePositions(looks[0]!.position, replayed) <= 0) looks.shift();
      return looks.length === 0 ? 0 : now - looks[0]!.at;
    },
  };
}

/** The readiness of reading from the replica: it answers, and it is at most `limitMs` behind. */
export async function replicaReadiness(lag: ReplicaLag, limitMs: number, logger: { warn(object: object, message: string): void }) {
  let lagMs: number;
  try {
    lagMs = await lag.lagMs();
  } catch (error) {
    logger.warn({ err: error, check: 'read replica' }, 'readiness check failed');
    return { name: 'read replica', ok: false, detail: isConnectionError(error) ? 'does not answer' : 'failing' };
  }
  if (lagMs === 0) return { name: 'read replica', ok: true };
  return { name: 'read replica', ok: lagMs <= limitMs, detail: `${(lagMs / 1000).toFixed(1)} s behind the primary` };
}
