// Membership changes of one month, read from the event store's `events` table (not the read
// model) in the order they took effect, a batch at a time through a server-side cursor.
//
// A change's moment is `addedAt` for MembershipAdded and `effectiveAt` for MembershipRemoved and
// for AutoMembershipOptedOut (the explicit removal of an automatic member, a `removed` row). A
// removal can be appended long after its moment (an expiry noticed after downtime, the sweep
// after a segment deletion), so the log order is not the time order. PostgreSQL sorts by moment
// instead (spilling to disk when the month is large); the Node.js side holds one batch at a time.
// See docs/architecture.md, "History reports".
import { randomBytes } from 'node:crypto';
import { sql, type DatabasePool, type DatabaseTransactionConnection, type FragmentSqlToken } from 'slonik';
import type { EventStore, Position } from '../eventstore/eventStore';
import { userStream } from '../events/streams';
import type { Period } from './period';

export interface MembershipChange {
  userId: number;
  slug: string;
  operation: 'added' | 'removed';
  /** RFC 3339 UTC with milliseconds. */
  at: string;
}

/** The events that are a row of the report: adds, removals and opt-outs (a removal too). */
const CHANGE_TYPES = ['MembershipAdded', 'MembershipRemoved', 'AutoMembershipOptedOut'] as const;
const CHANGE_TYPE_SET: ReadonlySet<string> = new Set(CHANGE_TYPES);

type OnBatch = (changes: MembershipChange[]) => Promise<void>;
type ReadOptions = { onTotal?: (total: number) => void };

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
  onBatch: OnBatch,
  options: ReadOptions = {},
): Promise<number> {
  const { start, end } = query.period;
  const appendedSince = new Date(start.getTime() - CLOCK_SKEW_ALLOWANCE_MS).toISOString();
  const streamFilter = query.userId === undefined ? sql.fragment`TRUE` : sql.fragment`stream_id = ${userStream(query.userId)}`;
  const changes = sql.fragment`
    SELECT global_position, data->>'userId' AS user_id, data->>'slug' AS slug,
           CASE type WHEN 'MembershipAdded' THEN 'added' ELSE 'removed' END AS operation,
           (CASE type WHEN 'MembershipAdded' THEN data->>'addedAt' ELSE data->>'effectiveAt' END)::timestamptz AS moment
    FROM events
    WHERE type = ANY(${sql.array([...CHANGE_TYPES], 'text')})
      AND created_at >= ${appendedSince}::timestamptz
      AND ${streamFilter}`;
  const inPeriod = sql.fragment`moment >= ${start.toISOString()}::timestamptz AND moment < ${end.toISOString()}::timestamptz`;

  return pool.transaction(async (tx) => {
    // One snapshot for the count and the cursor.
    await tx.query(sql.unsafe`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    return fetchSorted(tx, sql.fragment`(${changes}) c WHERE ${inPeriod}`, onBatch, options);
  });
}

/**
 * Counts the rows of `source` (with `onTotal`), then hands them to `onBatch` ordered by
 * (moment, global_position) through a cursor, a batch at a time. `source` is a FROM item with the
 * columns user_id, slug, operation, moment and global_position.
 */
async function fetchSorted(
  tx: DatabaseTransactionConnection,
  source: FragmentSqlToken,
  onBatch: OnBatch,
  options: ReadOptions,
): Promise<number> {
  // A month of changes is sorted once, by the first FETCH; the pool's 60 s limit is for requests.
  await tx.query(sql.unsafe`SET LOCAL statement_timeout = '15min'`);
  if (options.onTotal) {
    const total = await tx.oneFirst(sql.unsafe`SELECT count(*) AS total FROM ${source}`);
    options.onTotal(Number(total));
  }
  await tx.query(sql.unsafe`
    DECLARE membership_changes NO SCROLL CURSOR FOR
    SELECT user_id, slug, operation, to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
    FROM ${source}
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
}

const READ_PAGE = 1_000;

/**
 * The same, from any event store through the port: for a store whose events are not in this
 * PostgreSQL (EventStoreDB). It walks the whole global order (`readAll`, no index by time there),
 * keeps the month's membership changes, and lets PostgreSQL sort them in a scratch table of the
 * read-model database, so memory still holds one page or one batch. Each append is read whole or
 * not at all, as the store commits it. The scratch table is an ordinary unlogged table named per
 * report and dropped afterwards (a temporary one would tie the whole read to one connection, and
 * the store may read through the same pool); a crash can leave one behind, named report_changes_*.
 */
export async function readMembershipChangesFromStore(
  store: EventStore,
  pool: DatabasePool,
  query: MembershipChangeQuery,
  onBatch: OnBatch,
  options: ReadOptions = {},
): Promise<number> {
  const { start, end } = query.period;
  const table = sql.identifier([`report_changes_${randomBytes(8).toString('hex')}`]);
  await pool.query(sql.unsafe`
    CREATE UNLOGGED TABLE ${table} (global_position bigint, user_id bigint, slug text, operation text, moment timestamptz)`);
  try {
    let order = 0;
    let from: Position | undefined;
    for (;;) {
      const page = await store.readAll({ from, limit: READ_PAGE });
      const rows: Array<[number, number, string, string, string]> = [];
      for (const event of page) {
        order += 1;
        if (!CHANGE_TYPE_SET.has(event.type)) continue;
        const data = event.data as { userId: number; slug: string; addedAt?: string; effectiveAt?: string };
        if (query.userId !== undefined && data.userId !== query.userId) continue;
        const moment = new Date((event.type === 'MembershipAdded' ? data.addedAt : data.effectiveAt) ?? NaN);
        if (!(moment >= start && moment < end)) continue;
        rows.push([order, data.userId, data.slug, event.type === 'MembershipAdded' ? 'added' : 'removed', moment.toISOString()]);
      }
      if (rows.length > 0) {
        await pool.query(sql.unsafe`
          INSERT INTO ${table} (global_position, user_id, slug, operation, moment)
          SELECT * FROM ${sql.unnest(rows, ['int8', 'int8', 'text', 'text', 'timestamptz'])}`);
      }
      if (page.length < READ_PAGE) break;
      from = page[page.length - 1]!.position;
    }
    return await pool.transaction(async (tx) => fetchSorted(tx, sql.fragment`${table}`, onBatch, options));
  } finally {
    await pool.query(sql.unsafe`DROP TABLE IF EXISTS ${table}`);
  }
}

/** Where a report's rows come from; see the two readers above. */
export type MembershipChangeSource = (query: MembershipChangeQuery, onBatch: OnBatch, options?: ReadOptions) => Promise<number>;

/**
 * The reader for `store`: its `events` table directly when it has one (the PostgreSQL store), the
 * store's global order otherwise, sorted in a scratch table of the read model's database (`pool`).
 */
export function membershipChangeSource(store: EventStore, pool: DatabasePool): MembershipChangeSource {
  const table = store.eventsTable;
  return table
    ? (query, onBatch, options) => readMembershipChanges(table.pool, query, onBatch, options)
    : (query, onBatch, options) => readMembershipChangesFromStore(store, pool, query, onBatch, options);
}
