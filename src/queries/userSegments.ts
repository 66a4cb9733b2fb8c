// A user's active segments: explicit memberships from the read model and the percentage segments
// that include the user, in one indexed query plus in-memory hashing.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { OptOut } from './autoMembership';
import { PercentageSegmentCache } from './percentageSegments';
import { bySlug } from '../domain/order';

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
  // One statement (infra/sql/schema.sql, user_segment_rows): memberships, opt-outs, version.
  const rows = await db.any(sql.type(row)`
    SELECT kind, segment_id, slug, at, expires_at, reason, version
    FROM user_segment_rows(${userId}, ${now.toISOString()}::timestamptz)`);

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
  return [...manual, ...auto].sort(bySlug);
}
