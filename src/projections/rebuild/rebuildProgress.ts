// Where a rebuild stands, for every process to see (GET /projections, the CLI that started it): one
// row in its own schema, written in the transaction of each batch it applies. The schema of the
// latest rebuild stays behind with this row once it is done, until the next rebuild starts.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { Position } from '../../eventstore/eventStore';
import { sqlStateOf } from './scratchTables';

export type RebuildState = 'building' | 'indexing' | 'catching_up' | 'swapping' | 'finished' | 'failed';

export interface RebuildProgress {
  projection: string;
  /** `running` is false for a rebuild whose process went away before it ended (the lock is free). */
  state: RebuildState;
  running: boolean;
  startedAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  /** The last event applied to the new tables. */
  position: Position | null;
  eventsDone: number;
  /** Events to apply in all, as far as known: the count at the start, recounted when passed. */
  eventsTotal: number | null;
  error: string | null;
}

export const rebuildSchemaPrefix = (projection: string): string => `${projection}_rebuild_`;
export const rebuildLockName = (projection: string): string => `projection-rebuild:${projection}`;

export async function createProgressRow(db: CommonQueryMethods, schema: string, projection: string, eventsTotal: number | null): Promise<void> {
  await db.query(sql.unsafe`
    CREATE TABLE ${sql.identifier([schema, 'rebuild_progress'])} (
      projection text NOT NULL, state text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz,
      commit_position numeric(20, 0), prepare_position numeric(20, 0),
      events_done bigint NOT NULL DEFAULT 0, events_total bigint, error text)`);
  await db.query(sql.unsafe`
    INSERT INTO ${sql.identifier([schema, 'rebuild_progress'])} (projection, state, events_total)
    VALUES (${projection}, 'building', ${eventsTotal})`);
}

export interface ProgressChange {
  state: RebuildState;
  position?: Position;
  eventsDone?: number;
  eventsTotal?: number | null;
  error?: string;
}

export async function writeProgress(db: CommonQueryMethods, schema: string, change: ProgressChange): Promise<void> {
  const ended = change.state === 'finished' || change.state === 'failed';
  await db.query(sql.unsafe`
    UPDATE ${sql.identifier([schema, 'rebuild_progress'])} SET
      state = ${change.state},
      updated_at = now(),
      finished_at = ${ended ? sql.fragment`now()` : sql.fragment`NULL`},
      commit_position = coalesce(${change.position?.commit.toString() ?? null}::numeric, commit_position),
      prepare_position = coalesce(${change.position?.prepare.toString() ?? null}::numeric, prepare_position),
      events_done = coalesce(${change.eventsDone ?? null}::int8, events_done),
      events_total = ${change.eventsTotal === undefined ? sql.fragment`events_total` : sql.fragment`${change.eventsTotal}::int8`},
      error = ${change.error ?? null}`);
}

const progressRow = z.object({
  projection: z.string(),
  state: z.enum(['building', 'indexing', 'catching_up', 'swapping', 'finished', 'failed']),
  started_at: z.date(),
  updated_at: z.date(),
  finished_at: z.date().nullable(),
  commit_position: z.string().nullable(),
  prepare_position: z.string().nullable(),
  events_done: z.number(),
  events_total: z.number().nullable(),
  error: z.string().nullable(),
  running: z.boolean(),
});

/** The latest rebuild of the projection, running or not; undefined when there was none since the last cleanup. */
export async function readLatestRebuild(db: CommonQueryMethods, projection: string): Promise<RebuildProgress | undefined> {
  const schema = await db.maybeOneFirst(sql.type(z.object({ nspname: z.string() }))`
    SELECT n.nspname::text AS nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
    WHERE starts_with(n.nspname, ${rebuildSchemaPrefix(projection)}) AND c.relname = 'rebuild_progress'
    ORDER BY n.nspname DESC LIMIT 1`);
  if (!schema) return undefined;
  // The next rebuild may drop the schema between the two reads: then there is nothing to show yet.
  const row = await db
    .maybeOne(sql.type(progressRow)`
      SELECT projection, state, started_at, updated_at, finished_at, commit_position::text, prepare_position::text,
             events_done, events_total, error, ${lockHeld(rebuildLockName(projection))} AS running
      FROM ${sql.identifier([schema, 'rebuild_progress'])}`)
    .catch((error: unknown) => {
      if (['42P01', '3F000'].includes(sqlStateOf(error) ?? '')) return null;
      throw error;
    });
  if (!row) return undefined;
  return {
    projection: row.projection,
    state: row.state,
    running: row.running,
    startedAt: row.started_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    position: row.commit_position && row.prepare_position ? { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) } : null,
    eventsDone: row.events_done,
    eventsTotal: row.events_total,
    error: row.error,
  };
}

/** Whether some session of this database holds the advisory lock `name` as withTryAdvisoryLock takes it (not shared, as a verify does). */
function lockHeld(name: string) {
  return sql.fragment`EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.mode = 'ExclusiveLock' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::int8 << 32) | l.objid::int8) = hashtextextended(${name}, 0))`;
}
