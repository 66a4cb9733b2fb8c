// Membership changes of one month, read from the event store's `events` table (not the read
// model) in the order they took effect, a batch at a time through a server-side cursor.
//
// A change's moment is `addedAt` for MembershipAdded and `effectiveAt` for MembershipRemoved. A
// removal can be appended long after its moment (an expiry noticed after downtime, the sweep
// after a segment deletion), so the log order is not the time order. PostgreSQL sorts by moment
// instead (spilling to disk when the month is large); the Node.js side holds one batch at a time.
// See docs/architecture.md, "History reports".
import { sql, type DatabasePool } from 'slonik';
import { userStream } from '../events/streams';
import type { Period } from './period';

export interface MembershipChange {
  userId: number;
  slug: string;
  operation: 'added' | 'removed';
  /** RFC 3339 UTC with milliseconds. */
  at: string;
}

export interface MembershipChangeQuery {
  period: Period;
  userId?: number;
}

/**
 * No change is appended before its moment, give or take the difference between the service's
 * clock and the database's; events appended earlier than this before the month are not read.
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 60 * 60 * 1000;

/** Rows per FETCH; the statement below spells the number out (FETCH takes no parameter). */
const BATCH_ROWS = 5_000;

interface ChangeRow {
  user_id: string;
  slug: string;
  operation: 'added' | 'removed';
  at: string;
}

/**
 * Calls `onBatch` with the month's changes in time order (ties in append order), awaiting each
 * call before fetching the next batch. One transaction, so one snapshot: a change appended while
 * the report runs is either wholly in it or wholly out of it. Returns the number of changes.
 */
export async function readMembershipChanges(
  pool: DatabasePool,
  query: MembershipChangeQuery,
  onBatch: (changes: MembershipChange[]) => Promise<void>,
  options: { onTotal?: (total: number) => void } = {},
): Promise<number> {
  const { start, end } = query.period;
  const appendedSince = new Date(start.getTime() - CLOCK_SKEW_ALLOWANCE_MS).toISOString();
  const streamFilter = query.userId === undefined ? sql.fragment`TRUE` : sql.fragment`stream_id = ${userStream(query.userId)}`;
  const changes = sql.fragment`
    SELECT global_position, data->>'userId' AS user_id, data->>'slug' AS slug,
           CASE type WHEN 'MembershipAdded' THEN 'added' ELSE 'removed' END AS operation,
           (CASE type WHEN 'MembershipAdded' THEN data->>'addedAt' ELSE data->>'effectiveAt' END)::timestamptz AS moment
    FROM events
    WHERE type IN ('MembershipAdded', 'MembershipRemoved')
      AND created_at >= ${appendedSince}::timestamptz
      AND ${streamFilter}`;
  const inPeriod = sql.fragment`moment >= ${start.toISOString()}::timestamptz AND moment < ${end.toISOString()}::timestamptz`;

  return pool.transaction(async (tx) => {
    // One snapshot for the count and the cursor.
    await tx.query(sql.unsafe`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    // A month of changes is sorted once, by the first FETCH; the pool's 60 s limit is for requests.
    await tx.query(sql.unsafe`SET LOCAL statement_timeout = '15min'`);
    if (options.onTotal) {
      const total = await tx.oneFirst(sql.unsafe`SELECT count(*) AS total FROM (${changes}) c WHERE ${inPeriod}`);
      options.onTotal(Number(total));
    }
    await tx.query(sql.unsafe`
      DECLARE membership_changes NO SCROLL CURSOR FOR
      SELECT user_id, slug, operation, to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
      FROM (${changes}) c
      WHERE ${inPeriod}
      ORDER BY moment, global_position`);
    let count = 0;
    for (;;) {
      const result = await tx.query(sql.unsafe`FETCH 5000 FROM membership_changes`);
      const rows = result.rows as unknown as ChangeRow[];
      if (rows.length === 0) break;
      count += rows.length;
      await onBatch(rows.map((row) => ({ userId: Number(row.user_id), slug: row.slug, operation: row.operation, at: row.at })));
      if (rows.length < BATCH_ROWS) break;
    }
    await tx.query(sql.unsafe`CLOSE membership_changes`);
    return count;
  });
}
