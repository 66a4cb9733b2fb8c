// Appending to the `events` table: one INSERT for any number of streams, each checked against
// its expected revision, and the redeciding append that retries only the streams that moved.
//
// These run on node-postgres as named prepared statements (the statement pool): the INSERT with
// its CTE costs PostgreSQL more to plan than to run, and a named statement is planned once per
// connection. Several streams go in one transaction on one connection of that pool.
import type { Pool, PoolClient } from 'pg';
import { WrongExpectedRevisionError, type AppendResult, type StreamWrite } from '../eventStore';
import { expectedAsRevision, resultsOf, type AppendedRow } from './eventRows';

/** Rounds of redeciding before the append gives up with a conflict. */
const MAX_ROUNDS = 25;

type Queryable = Pick<Pool | PoolClient, 'query'>;

const insertText = (onConflict: string) => `
  WITH input AS (
    SELECT i.stream_id, i.expected, i.step, i.event_id, i.type, i.data, i.metadata, i.ordinal
    FROM unnest($1::text[], $2::int8[], $3::int4[], $4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[])
      WITH ORDINALITY AS i(stream_id, expected, step, event_id, type, data, metadata, ordinal)
  ),
  current AS (
    SELECT s.stream_id,
           coalesce((SELECT max(e.stream_position) FROM events e WHERE e.stream_id = s.stream_id), -1) AS revision
    FROM (SELECT DISTINCT stream_id FROM input) s
  )
  INSERT INTO events (event_id, stream_id, stream_position, type, data, metadata)
  SELECT i.event_id, i.stream_id, c.revision + i.step, i.type, i.data, i.metadata
  FROM input i JOIN current c USING (stream_id)
  WHERE i.expected IS NULL OR c.revision = i.expected
  ORDER BY i.ordinal
  ${onConflict}
  RETURNING stream_id, stream_position::float8 AS stream_position, global_position::float8 AS global_position,
            transaction_id::text AS transaction_id`;

const INSERT = { name: 'events_append_v1', text: insertText('') };
const INSERT_SKIPPING_TAKEN = { name: 'events_append_skip_taken_v1', text: insertText('ON CONFLICT (stream_id, stream_position) DO NOTHING') };
const DELETE_OWN = { name: 'events_delete_own_v1', text: 'DELETE FROM events WHERE event_id = ANY($1::uuid[])' };

export function checkWrites(writes: readonly StreamWrite[]): void {
  const streams = new Set<string>();
  for (const write of writes) {
    if (write.events.length === 0) throw new Error(`nothing to append to ${write.stream}`);
    if (streams.has(write.stream)) throw new Error(`stream ${write.stream} is written twice in one append`);
    streams.add(write.stream);
  }
}

/**
 * Inserts each write's events after its stream's current revision where that revision is the
 * expected one; a stream that moved gets no row. With `skipTaken`, a place another transaction
 * took meanwhile (it committed while this statement waited for it) is skipped instead of failing
 * the statement: that stream's write may then be partly inserted, and the caller removes it.
 */
export async function insertEvents(
  connection: Queryable,
  writes: readonly StreamWrite[],
  options: { skipTaken: boolean },
): Promise<AppendedRow[]> {
  const columns: [string[], Array<number | null>, number[], string[], string[], string[], string[]] = [[], [], [], [], [], [], []];
  for (const write of writes) {
    const expected = expectedAsRevision(write.expected);
    write.events.forEach((event, index) => {
      columns[0].push(write.stream);
      columns[1].push(expected);
      columns[2].push(index + 1);
      columns[3].push(event.id);
      columns[4].push(event.type);
      columns[5].push(JSON.stringify(event.data));
      columns[6].push(JSON.stringify(event.metadata));
    });
  }
  const statement = options.skipTaken ? INSERT_SKIPPING_TAKEN : INSERT;
  return (await connection.query<AppendedRow>({ ...statement, values: columns })).rows;
}

/** The writes not wholly inserted. */
export function incompleteWrites(writes: readonly StreamWrite[], inserted: readonly AppendedRow[]): StreamWrite[] {
  const counts = new Map<string, number>();
  for (const row of inserted) counts.set(row.stream_id, (counts.get(row.stream_id) ?? 0) + 1);
  return writes.filter((write) => counts.get(write.stream) !== write.events.length);
}

/** Runs `work` in a transaction on one connection of the pool. */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** All writes or none: one statement for one stream, a transaction for several. */
export async function appendAll(pool: Pool, writes: readonly StreamWrite[]): Promise<AppendResult[]> {
  const insert = async (connection: Queryable) => {
    const inserted = await insertEvents(connection, writes, { skipTaken: false });
    const short = incompleteWrites(writes, inserted)[0];
    if (short) throw new WrongExpectedRevisionError(short.stream, short.expected);
    return resultsOf(writes, inserted);
  };
  return writes.length === 1 ? insert(pool) : inTransaction(pool, insert);
}

/**
 * One transaction: insert every write that still fits its stream, hand the others to `redecide`,
 * insert what it returns, and so on until every stream has its events. Streams already inserted
 * stay claimed meanwhile (a concurrent writer to one of them waits for this transaction and then
 * finds its revision taken), so each round has only the few streams written during the last.
 * Writes are inserted in stream order, so two redeciding appends lock streams in the same order.
 */
export async function appendRedeciding(
  pool: Pool,
  writes: readonly StreamWrite[],
  redecide: (conflicted: readonly StreamWrite[]) => Promise<StreamWrite[]>,
): Promise<AppendResult[]> {
  const byStream = (a: StreamWrite, b: StreamWrite) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0);
  return inTransaction(pool, async (client) => {
    const done: Array<{ write: StreamWrite; rows: AppendedRow[] }> = [];
    let pending = [...writes].sort(byStream);
    for (let round = 1; pending.length > 0; round++) {
      const inserted = await insertEvents(client, pending, { skipTaken: true });
      const incomplete = incompleteWrites(pending, inserted);
      const failed = new Set(incomplete.map((write) => write.stream));
      if (inserted.some((row) => failed.has(row.stream_id))) {
        await client.query({ ...DELETE_OWN, values: [incomplete.flatMap((write) => write.events.map((event) => event.id))] });
      }
      const rowsByStream = new Map<string, AppendedRow[]>();
      for (const row of inserted) {
        if (failed.has(row.stream_id)) continue;
        const rows = rowsByStream.get(row.stream_id);
        if (rows) rows.push(row);
        else rowsByStream.set(row.stream_id, [row]);
      }
      for (const write of pending) {
        if (!failed.has(write.stream)) done.push({ write, rows: rowsByStream.get(write.stream)! });
      }
      if (incomplete.length === 0) break;
      if (round >= MAX_ROUNDS) throw new WrongExpectedRevisionError(incomplete[0]!.stream, incomplete[0]!.expected);
      pending = (await redecide(incomplete)).sort(byStream);
      checkWrites(pending);
    }
    return resultsOf(
      done.map(({ write }) => write),
      done.flatMap(({ rows }) => rows),
    );
  });
}
