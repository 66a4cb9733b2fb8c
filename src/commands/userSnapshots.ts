// Snapshots of users' states for the command side (user_state_snapshots): a command folds only
// the events after a user's snapshot, so a write costs the same for a stream of 10 events and
// one of 10,000. A snapshot is a cache of the stream: it is written after the append it covers,
// only moves forward, and one that is missing or unreadable means a full read, never a wrong state.
import type { Pool } from 'pg';
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import type { Membership, OptedOut, UserState } from '../domain/userMemberships';
import type { Position } from '../eventstore/eventStore';

export interface UserSnapshot {
  userId: number;
  /** The stream's last event folded into `state` (0-based). */
  revision: number;
  /** That event's position. */
  position: Position;
  state: UserState;
}

/** Bump when UserState's shape changes: snapshots of another version are ignored, then replaced. */
const FORMAT = 1;

interface StoredState {
  format: number;
  memberships: Membership[];
  optedOut: Array<[string, OptedOut]>;
}

const snapshotRow = z.object({
  user_id: z.number(),
  revision: z.number(),
  commit_position: z.string(),
  prepare_position: z.string(),
  state: z.custom<StoredState>((value) => typeof value === 'object' && value !== null),
});

function toSnapshot(row: z.infer<typeof snapshotRow>): UserSnapshot | undefined {
  if (row.state.format !== FORMAT) return undefined;
  return {
    userId: row.user_id,
    revision: row.revision,
    position: { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) },
    state: {
      memberships: new Map(row.state.memberships.map((membership) => [membership.segmentId, membership])),
      optedOut: new Map(row.state.optedOut),
    },
  };
}

export interface UserSnapshots {
  load(userIds: readonly number[]): Promise<Map<number, UserSnapshot>>;
  /** Stores each snapshot unless a later one of the same user is stored already. */
  save(snapshots: readonly UserSnapshot[]): Promise<void>;
}

/** Loaded on every command: a named statement on node-postgres, planned once per connection. */
const LOAD = {
  name: 'user_state_snapshots_load_v1',
  text: `
    SELECT user_id::float8 AS user_id, revision::float8 AS revision, commit_position::text AS commit_position,
           prepare_position::text AS prepare_position, state
    FROM user_state_snapshots WHERE user_id = ANY($1::int8[])`,
};

export function createUserSnapshots(pool: DatabasePool, readPool: Pick<Pool, 'query'>): UserSnapshots {
  return {
    async load(userIds) {
      const found = new Map<number, UserSnapshot>();
      if (userIds.length === 0) return found;
      const { rows } = await readPool.query<z.infer<typeof snapshotRow>>({ ...LOAD, values: [userIds] });
      for (const row of rows) {
        const snapshot = toSnapshot(row);
        if (snapshot) found.set(snapshot.userId, snapshot);
      }
      return found;
    },
    async save(snapshots) {
      if (snapshots.length === 0) return;
      const rows = snapshots.map((snapshot) => {
        const stored: StoredState = {
          format: FORMAT,
          memberships: [...snapshot.state.memberships.values()],
          optedOut: [...snapshot.state.optedOut],
        };
        return [snapshot.userId, snapshot.revision, snapshot.position.commit.toString(), snapshot.position.prepare.toString(), JSON.stringify(stored)];
      });
      await pool.query(sql.unsafe`
        INSERT INTO user_state_snapshots (user_id, revision, commit_position, prepare_position, state)
        SELECT * FROM ${sql.unnest(rows, ['int8', 'int8', 'numeric', 'numeric', 'jsonb'])}
        ON CONFLICT (user_id) DO UPDATE SET
          revision = excluded.revision, commit_position = excluded.commit_position,
          prepare_position = excluded.prepare_position, state = excluded.state, updated_at = now()
        WHERE user_state_snapshots.revision < excluded.revision`);
    },
  };
}
