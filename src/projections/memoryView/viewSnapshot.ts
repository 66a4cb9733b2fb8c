// Loads the in-memory view from the PostgreSQL read model: the tables and the checkpoint they were
// written with, read in one repeatable-read transaction, so the view starts exactly at a position
// of the global order and follows the event feed from there (memoryView/viewFollower.ts).
//
// The memberships stream through COPY as plain numbers: at a million users that is three million
// rows, which must neither sit in memory at once nor each become a row object.
import { types as pgTypes, type Pool, type PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Position } from '../../eventstore/eventStore';
import { READ_MODEL_PROJECTION } from '../readModel/readModelProjection';
import { MembershipView } from './membershipView';

export interface ViewSnapshot {
  view: MembershipView;
  /** The read model's checkpoint the tables were read at; null before its first batch. */
  position: Position | null;
}

const FETCH_ROWS = 20_000;
/** The order segments are loaded in, which numbers them in the view. */
const SEGMENT_ORDER = 'ORDER BY created_at, segment_id';

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
    // Compiling the big scan costs more than it saves.
    await client.query('SET LOCAL jit = off');
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
    `SELECT segment_id::text, slug, rollout_seed, auto_assign_percent, deleted_at IS NOT NULL FROM segments ${SEGMENT_ORDER}`,
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
  // COPY streams the rows while PostgreSQL produces them, and four integers a row are parsed
  // straight from the bytes: no row objects, no strings. The segment comes as its index in the
  // view, numbered in the order loadSegments loaded them, in the same snapshot.
  const stream = client.query(
    copyTo(`COPY (
      SELECT m.user_id, s.ord, ${MS('m.added_at')}, coalesce(${MS('m.expires_at')}, -1)
      FROM memberships m
      JOIN (SELECT segment_id, (row_number() OVER (${SEGMENT_ORDER}) - 1)::int AS ord FROM segments) s USING (segment_id)
    ) TO STDOUT`),
  );
  const parser = new MembershipRows(view, onProgress);
  for await (const chunk of stream as AsyncIterable<Buffer>) parser.push(chunk);
  parser.end();
}

/**
 * ms since the epoch of a timestamp. The read model's timestamps come from events, which carry
 * whole milliseconds; the half-µs added keeps a float's rounding error from taking one off.
 */
const MS = (column: string) => `floor(date_part('epoch', ${column}) * 1000 + 0.0005)::int8`;

/** Rows of COPY's text format: fields split by tabs, rows by newlines; here all integers. */
class MembershipRows {
  private readonly fields = [0, 0, 0, 0];
  private field = 0;
  private value = 0;
  private negative = false;
  private userId: number | undefined;
  private entries: number[] = [];
  private rows = 0;

  constructor(
    private readonly view: MembershipView,
    private readonly onProgress?: (memberships: number) => void,
  ) {}

  push(chunk: Buffer): void {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte >= DIGIT_0 && byte <= DIGIT_9) {
        this.value = this.value * 10 + (byte - DIGIT_0);
        continue;
      }
      if (byte === MINUS) {
        this.negative = true;
        continue;
      }
      this.fields[this.field] = this.negative ? -this.value : this.value;
      this.value = 0;
      this.negative = false;
      if (byte === TAB) this.field++;
      else if (byte === NEWLINE) this.row();
      else throw new Error(`unexpected byte ${byte} in the memberships' COPY data`);
    }
  }

  end(): void {
    this.flush();
  }

  private row(): void {
    const [userId, segmentIndex, addedAt, expiresAt] = this.fields as [number, number, number, number];
    this.field = 0;
    if (userId !== this.userId) {
      this.flush();
      this.userId = userId;
      this.entries = [];
    }
    this.entries.push(segmentIndex, addedAt, expiresAt === -1 ? Infinity : expiresAt);
    if (++this.rows % 500_000 === 0) this.onProgress?.(this.rows);
  }

  private flush(): void {
    // A copy of exactly its length: the array grown by push holds spare capacity.
    if (this.userId !== undefined) this.view.loadUser(this.userId, this.entries.slice());
  }
}

const [DIGIT_0, DIGIT_9, MINUS, TAB, NEWLINE] = [48, 57, 45, 9, 10];

async function forEachRow(client: PoolClient, text: string, each: (row: unknown[]) => void): Promise<void> {
  await client.query(`DECLARE view_rows NO SCROLL CURSOR FOR ${text}`);
  for (;;) {
    const { rows } = await query(client, `FETCH ${FETCH_ROWS} FROM view_rows`);
    for (const row of rows) each(row);
    if (rows.length < FETCH_ROWS) break;
  }
  await client.query('CLOSE view_rows');
}
