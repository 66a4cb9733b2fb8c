// Loads the in-memory view from the PostgreSQL read model: the tables and the checkpoint they were
// written with, read in one repeatable-read transaction, so the view starts exactly at a position
// of the global order and follows the event feed from there (memoryView/viewFollower.ts).
//
// The memberships come through a cursor in batches, ordered by user, as plain numbers: at a
// million users that is three million rows, which must neither sit in memory at once nor each
// become a row object.
import { types as pgTypes, type Pool, type PoolClient } from 'pg';
import type { Position } from '../../eventstore/eventStore';
import { READ_MODEL_PROJECTION } from '../readModel/readModelProjection';
import { MembershipView } from './membershipView';

export interface ViewSnapshot {
  view: MembershipView;
  /** The read model's checkpoint the tables were read at; null before its first batch. */
  position: Position | null;
}

const FETCH_ROWS = 20_000;

const INT8 = 20;
const FLOAT8 = 701;
const NUMERIC = 1700;

/** int8, float8 and numeric as numbers (user ids stay below 2^53); the rest as node-postgres parses it. */
const types = {
  getTypeParser: (oid: number) =>
    oid === INT8 || oid === FLOAT8 || oid === NUMERIC ? Number : pgTypes.getTypeParser(oid, 'text'),
};

const query = (client: PoolClient, text: string, values: unknown[] = []) =>
  client.query<unknown[]>({ text, values, rowMode: 'array', types: types as never });

export async function loadViewSnapshot(pool: Pick<Pool, 'connect'>, onProgress?: (memberships: number) => void): Promise<ViewSnapshot> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const view = new MembershipView();
    const checkpoint = await query(
      client,
      'SELECT commit_position::text, prepare_position::text FROM projection_checkpoints WHERE projection = $1',
      [READ_MODEL_PROJECTION],
    );
    const [commit, prepare] = (checkpoint.rows[0] ?? []) as [string?, string?];
    const position = commit === undefined || prepare === undefined ? null : { commit: BigInt(commit), prepare: BigInt(prepare) };

    await loadSegments(client, view);
    await loadOptOuts(client, view);
    await loadMemberships(client, view, onProgress);
    await client.query('COMMIT');
    return { view, position };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

async function loadSegments(client: PoolClient, view: MembershipView): Promise<void> {
  const changes = await query(
    client,
    'SELECT segment_id::text, percent, deleted, at FROM percentage_changes ORDER BY segment_id, global_position',
  );
  const timelines = new Map<string, Array<{ at: Date; percent: number | null; deleted: boolean }>>();
  for (const [segmentId, percent, deleted, at] of changes.rows as Array<[string, number | null, boolean, Date]>) {
    const timeline = timelines.get(segmentId) ?? [];
    timeline.push({ at, percent, deleted });
    timelines.set(segmentId, timeline);
  }
  const segments = await query(
    client,
    'SELECT segment_id::text, slug, rollout_seed, auto_assign_percent, deleted_at IS NOT NULL FROM segments ORDER BY created_at, segment_id',
  );
  for (const [segmentId, slug, rolloutSeed, percent, deleted] of segments.rows as Array<[string, string, string, number | null, boolean]>) {
    view.loadSegment({ segmentId, slug, rolloutSeed, percent, deleted, changes: timelines.get(segmentId) ?? [] });
  }
}

async function loadOptOuts(client: PoolClient, view: MembershipView): Promise<void> {
  await forEachRow(client, 'SELECT user_id, segment_id::text, reason, opted_out_at FROM auto_membership_opt_outs', (row) => {
    const [userId, segmentId, reason, at] = row as [number, string, 'manual' | 'bulk', Date];
    view.loadOptOut(userId, { segmentId, at, reason });
  });
}

async function loadMemberships(client: PoolClient, view: MembershipView, onProgress?: (memberships: number) => void): Promise<void> {
  let userId: number | undefined;
  let entries: number[] = [];
  let loaded = 0;
  const flush = () => {
    // A copy of exactly its length: the array grown by push holds spare capacity.
    if (userId !== undefined) view.loadUser(userId, entries.slice());
  };
  // ms since the epoch, truncated as node-postgres truncates a timestamp's microseconds into a Date.
  const text = `
    SELECT user_id, segment_id::text,
      floor(extract(epoch FROM added_at) * 1000)::float8,
      coalesce(floor(extract(epoch FROM expires_at) * 1000)::float8, 'Infinity'::float8)
    FROM memberships ORDER BY user_id`;
  await forEachRow(client, text, (row) => {
    const [rowUser, segmentId, addedAt, expiresAt] = row as [number, string, number, number];
    if (rowUser !== userId) {
      flush();
      userId = rowUser;
      entries = [];
    }
    entries.push(view.segmentIndexOf(segmentId)!, addedAt, expiresAt);
    if (++loaded % 500_000 === 0) onProgress?.(loaded);
  });
  flush();
}

async function forEachRow(client: PoolClient, text: string, each: (row: unknown[]) => void): Promise<void> {
  await client.query(`DECLARE view_rows NO SCROLL CURSOR FOR ${text}`);
  for (;;) {
    const { rows } = await query(client, `FETCH ${FETCH_ROWS} FROM view_rows`);
    for (const row of rows) each(row);
    if (rows.length < FETCH_ROWS) break;
  }
  await client.query('CLOSE view_rows');
}
