// Projection checkpoints: where each projection stands in the global order.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { Position } from '../eventstore/eventStore';

const checkpointRow = z.object({
  projection: z.string(),
  commit_position: z.string(),
  prepare_position: z.string(),
  events_applied: z.number(),
  updated_at: z.date(),
});

export interface Checkpoint {
  projection: string;
  position: Position;
  eventsApplied: number;
  updatedAt: Date;
}

function toCheckpoint(row: z.infer<typeof checkpointRow>): Checkpoint {
  return {
    projection: row.projection,
    position: { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) },
    eventsApplied: row.events_applied,
    updatedAt: row.updated_at,
  };
}

export async function readCheckpoint(db: CommonQueryMethods, projection: string): Promise<Checkpoint | undefined> {
  const row = await db.maybeOne(sql.type(checkpointRow)`
    SELECT projection, commit_position::text, prepare_position::text, events_applied, updated_at
    FROM projection_checkpoints WHERE projection = ${projection}`);
  return row ? toCheckpoint(row) : undefined;
}

export async function readCheckpoints(db: CommonQueryMethods): Promise<Checkpoint[]> {
  const rows = await db.any(sql.type(checkpointRow)`
    SELECT projection, commit_position::text, prepare_position::text, events_applied, updated_at
    FROM projection_checkpoints ORDER BY projection`);
  return rows.map(toCheckpoint);
}

export async function writeCheckpoint(db: CommonQueryMethods, projection: string, position: Position, applied: number): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO projection_checkpoints (projection, commit_position, prepare_position, events_applied, updated_at)
    VALUES (${projection}, ${position.commit.toString()}::numeric, ${position.prepare.toString()}::numeric, ${applied}, now())
    ON CONFLICT (projection) DO UPDATE SET
      commit_position = excluded.commit_position,
      prepare_position = excluded.prepare_position,
      events_applied = projection_checkpoints.events_applied + excluded.events_applied,
      updated_at = excluded.updated_at`);
}
