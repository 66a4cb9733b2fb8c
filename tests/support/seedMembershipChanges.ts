// Writes many membership changes straight into the events table, in the shape the commands
// append, for report tests and the report benchmark. Nothing else (segments, read model) is made,
// so run it without a projector.
import { sql, type DatabasePool } from 'slonik';
import type { Period } from '../../src/reports/period';

/** Changes per user: add, remove, add, … of one segment. */
export const CHANGES_PER_USER = 10;

/**
 * `count` changes spread over the period, their moments shuffled against the append order so a
 * report has to sort. Users are firstUserId, firstUserId + 1, …, each with CHANGES_PER_USER changes.
 * Inserted in chunks of 100,000 rows.
 */
export async function seedMembershipChanges(
  pool: DatabasePool,
  options: { period: Period; count: number; firstUserId?: number; slug?: string },
): Promise<void> {
  const firstUserId = options.firstUserId ?? 1;
  const slug = options.slug ?? 'SEEDED';
  const stepMs = (options.period.end.getTime() - options.period.start.getTime()) / options.count;
  const chunk = 100_000;
  for (let from = 0; from < options.count; from += chunk) {
    const to = Math.min(options.count, from + chunk) - 1;
    await pool.query(sql.unsafe`
      INSERT INTO events (stream_id, stream_position, event_id, type, data, metadata)
      SELECT 'user-' || u, r, gen_random_uuid(),
             CASE WHEN r % 2 = 0 THEN 'MembershipAdded' ELSE 'MembershipRemoved' END,
             CASE WHEN r % 2 = 0
               THEN jsonb_build_object('userId', u, 'segmentId', '00000000-0000-4000-8000-000000000001', 'slug', ${slug}::text,
                                       'expiresAt', NULL, 'reason', 'bulk', 'addedAt', moment)
               ELSE jsonb_build_object('userId', u, 'segmentId', '00000000-0000-4000-8000-000000000001', 'slug', ${slug}::text,
                                       'reason', 'bulk', 'effectiveAt', moment)
             END,
             '{"actor": "seed", "source": "cli"}'::jsonb
      FROM generate_series(${from}::int8, ${to}::int8) AS i,
           LATERAL (SELECT ${firstUserId}::int8 + i / ${CHANGES_PER_USER}::int8 AS u, i % ${CHANGES_PER_USER}::int8 AS r) AS k,
           LATERAL (SELECT to_char(
                      (${options.period.start.toISOString()}::timestamptz
                        + ((i * 7919) % ${options.count}::int8) * ${stepMs}::float8 * interval '1 millisecond') AT TIME ZONE 'UTC',
                      'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS moment) AS m`);
  }
}
