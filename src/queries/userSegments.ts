// A user's active segments: explicit memberships from the read model and the percentage segments
// that include the user, in one indexed query plus in-memory hashing.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { OptOut } from './autoMembership';
import { PercentageSegmentCache, percentageVersion } from './percentageSegments';

const row = z.object({
  kind: z.enum(['manual', 'opt_out', 'version']),
  segment_id: z.string().nullable(),
  slug: z.string().nullable(),
  at: z.date().nullable(),
  expires_at: z.date().nullable(),
  reason: z.string().nullable(),
  version: z.string().nullable(),
});

export interface UserSegment {
  slug: string;
  source: 'manual' | 'auto';
  addedAt: Date;
  expiresAt: Date | null;
}

export async function activeSegmentsOf(
  db: CommonQueryMethods,
  userId: number,
  now: Date,
  percentageSegments?: PercentageSegmentCache,
): Promise<UserSegment[]> {
  const rows = await db.any(sql.type(row)`
    SELECT 'manual' AS kind, segment_id::text, slug, added_at AS at, expires_at, NULL AS reason, NULL AS version
    FROM memberships
    WHERE user_id = ${userId} AND (expires_at IS NULL OR expires_at > ${now.toISOString()}::timestamptz)
    UNION ALL
    SELECT 'opt_out', segment_id::text, slug, opted_out_at, NULL, reason, NULL
    FROM auto_membership_opt_outs WHERE user_id = ${userId}
    UNION ALL
    SELECT 'version', NULL, NULL, NULL, NULL, NULL, ${percentageVersion}`);

  const manual: UserSegment[] = [];
  const manualIds = new Set<string>();
  const optOuts: OptOut[] = [];
  let version = '0';
  for (const r of rows) {
    if (r.kind === 'manual') {
      manual.push({ slug: r.slug!, source: 'manual', addedAt: r.at!, expiresAt: r.expires_at });
      manualIds.add(r.segment_id!);
    } else if (r.kind === 'opt_out') {
      optOuts.push({ segmentId: r.segment_id!, at: r.at!, reason: r.reason as OptOut['reason'] });
    } else {
      version = r.version!;
    }
  }
  // An explicit membership wins over the percentage: one entry per segment, source manual.
  const auto: UserSegment[] = percentageSegments
    ? PercentageSegmentCache.autoMembershipsOf(userId, await percentageSegments.at(version), optOuts, manualIds).map((m) => ({
        slug: m.slug,
        source: 'auto',
        addedAt: m.addedAt,
        expiresAt: null,
      }))
    : [];
  return [...manual, ...auto].sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
}
