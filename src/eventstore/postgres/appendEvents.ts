// Appending to the `events` table: one INSERT for any number of streams, each checked against
// its expected revision, and the redeciding append that retries only the streams that moved.
import { AsyncResource } from 'node:async_hooks';
import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import type { z } from 'zod';
import { WrongExpectedRevisionError, type AppendResult, type StreamWrite } from '../eventStore';
import { appendedRow, expectedAsRevision, resultsOf } from './eventRows';

type AppendedRow = z.infer<typeof appendedRow>;

/** Rounds of redeciding before the append gives up with a conflict. */
const MAX_ROUNDS = 25;

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
  connection: CommonQueryMethods,
  writes: readonly StreamWrite[],
  options: { skipTaken: boolean },
): Promise<readonly AppendedRow[]> {
  const rows: Array<[string, number | null, number, string, string, string, string]> = [];
  for (const write of writes) {
    const expected = expectedAsRevision(write.expected);
    write.events.forEach((event, index) =>
      rows.push([write.stream, expected, index + 1, event.id, event.type, JSON.stringify(event.data), JSON.stringify(event.metadata)]),
    );
  }
  return connection.any(sql.type(appendedRow)`
    WITH input AS (
      SELECT i.*, row_number() OVER () AS ordinal
      FROM ${sql.unnest(rows, ['text', 'int8', 'int4', 'uuid', 'text', 'jsonb', 'jsonb'])}
        AS i(stream_id, expected, step, event_id, type, data, metadata)
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
    ${options.skipTaken ? sql.fragment`ON CONFLICT (stream_id, stream_position) DO NOTHING` : sql.fragment``}
    RETURNING stream_id, stream_position, global_position, transaction_id::text`);
}

/** The writes not wholly inserted. */
export function incompleteWrites(writes: readonly StreamWrite[], inserted: readonly AppendedRow[]): StreamWrite[] {
  const counts = new Map<string, number>();
  for (const row of inserted) counts.set(row.stream_id, (counts.get(row.stream_id) ?? 0) + 1);
  return writes.filter((write) => counts.get(write.stream) !== write.events.length);
}

/**
 * One transaction: insert every write that still fits its stream, hand the others to `redecide`,
 * insert what it returns, and so on until every stream has its events. Streams already inserted
 * stay claimed meanwhile (a concurrent writer to one of them waits for this transaction and then
 * finds its revision taken), so each round has only the few streams written during the last.
 * Writes are inserted in stream order, so two redeciding appends lock streams in the same order.
 */
export async function appendRedeciding(
  pool: DatabasePool,
  writes: readonly StreamWrite[],
  redecide: (conflicted: readonly StreamWrite[]) => Promise<StreamWrite[]>,
): Promise<AppendResult[]> {
  const byStream = (a: StreamWrite, b: StreamWrite) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0);
  // `redecide` reads through the pool while this transaction is open; bound to the caller's
  // context, it does not run as part of the transaction (which slonik would refuse).
  const redecideOutside = AsyncResource.bind(redecide);
  return pool.transaction(async (tx) => {
    const done: Array<{ write: StreamWrite; rows: AppendedRow[] }> = [];
    let pending = [...writes].sort(byStream);
    for (let round = 1; pending.length > 0; round++) {
      const inserted = await insertEvents(tx, pending, { skipTaken: true });
      const incomplete = incompleteWrites(pending, inserted);
      const failed = new Set(incomplete.map((write) => write.stream));
      const partial = inserted.filter((row) => failed.has(row.stream_id));
      if (partial.length > 0) {
        const ids = incomplete.flatMap((write) => write.events.map((event) => event.id));
        await tx.query(sql.unsafe`DELETE FROM events WHERE event_id = ANY(${sql.array(ids, 'uuid')})`);
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
      pending = (await redecideOutside(incomplete)).sort(byStream);
      checkWrites(pending);
    }
    return resultsOf(
      done.map(({ write }) => write),
      done.flatMap(({ rows }) => rows),
    );
  });
}
