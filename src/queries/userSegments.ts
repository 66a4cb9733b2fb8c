// A user's segments now: explicit memberships and opt-outs from the read model in one indexed
// statement, the live percentage timelines from the cache, and the domain's one rule over them.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { OptOut } from '../domain/percentageMembership';
import { userSegmentsAt, type ExplicitMembership, type UserSegment } from '../domain/userSegments';
import type { PercentageSegmentCache } from './percentageSegments';

export type { UserSegment } from '../domain/userSegments';

const row = z.object({
  kind: z.enum(['manual', 'opt_out', 'version']),
  segment_id: z.string().nullable(),
  slug: z.string().nullable(),
  at: z.date().nullable(),
  expires_at: z.date().nullable(),
  reason: z.string().nullable(),
  version: z.string().nullable(),
});

export async function activeSegmentsOf(
  db: CommonQueryMethods,
  userId: number,
  now: Date,
  percentageSegments?: PercentageSegmentCache,
): Promise<UserSegment[]> {
  // One statement (infra/sql/schema.sql, user_segment_rows): memberships, opt-outs, version.
  const rows = await db.any(sql.type(row)`
    SELECT kind, segment_id, slug, at, expires_at, reason, version
    FROM user_segment_rows(${userId}, ${now.toISOString()}::timestamptz)`);

  const memberships: ExplicitMembership[] = [];
  const optOuts: OptOut[] = [];
  let version = '0';
  for (const r of rows) {
    if (r.kind === 'manual') {
      memberships.push({ segmentId: r.segment_id!, slug: r.slug!, addedAt: r.at!, expiresAt: r.expires_at });
    } else if (r.kind === 'opt_out') {
      optOuts.push({ segmentId: r.segment_id!, at: r.at!, reason: r.reason as OptOut['reason'] });
    } else {
      version = r.version!;
    }
  }
  const timelines = percentageSegments ? await percentageSegments.at(version) : [];
  return userSegmentsAt({ userId, memberships, timelines, optOuts }, now);
}
