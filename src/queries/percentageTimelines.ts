// Membership by percentage from the read model: the segments' percentage timelines
// (`percentage_changes`) and a user's opt-outs, and what the domain computes from them.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import {
  percentageHistoryEntries,
  percentageIntervals,
  type OptOut,
  type PercentageChange,
  type PercentageHistoryEntry,
  type PercentageTimeline,
} from '../domain/percentageMembership';
import { userSegmentsAt, type UserSegment } from '../domain/userSegments';

const changeRow = z.object({
  segment_id: z.string(),
  slug: z.string(),
  rollout_seed: z.string(),
  percent: z.string().nullable(),
  deleted: z.boolean(),
  at: z.date(),
});

/** Groups rows ordered by (segment, position) into timelines. */
function toTimelines(rows: readonly z.infer<typeof changeRow>[]): PercentageTimeline[] {
  const bySegment = new Map<string, { segmentId: string; slug: string; rolloutSeed: string; changes: PercentageChange[] }>();
  for (const row of rows) {
    let timeline = bySegment.get(row.segment_id);
    if (!timeline) {
      timeline = { segmentId: row.segment_id, slug: row.slug, rolloutSeed: row.rollout_seed, changes: [] };
      bySegment.set(row.segment_id, timeline);
    }
    timeline.changes.push({ at: row.at, percent: row.percent === null ? null : Number(row.percent), deleted: row.deleted });
  }
  return [...bySegment.values()];
}

/**
 * Percentage timelines from the `percentage_changes` table: of every segment that ever had a
 * percentage, or with `liveOnly` of the live segments that have one now.
 */
export async function loadPercentageTimelines(db: CommonQueryMethods, options: { liveOnly?: boolean } = {}): Promise<PercentageTimeline[]> {
  const rows = await db.any(sql.type(changeRow)`
    SELECT c.segment_id::text, s.slug, s.rollout_seed, c.percent::text, c.deleted, c.at
    FROM percentage_changes c JOIN segments s USING (segment_id)
    ${options.liveOnly ? sql.fragment`WHERE s.deleted_at IS NULL AND s.auto_assign_percent IS NOT NULL` : sql.fragment``}
    ORDER BY c.segment_id, c.global_position`);
  return toTimelines(rows);
}

const optOutRow = z.object({
  segment_id: z.string(),
  reason: z.enum(['manual', 'bulk']),
  opted_out_at: z.date(),
});

export async function loadOptOuts(db: CommonQueryMethods, userId: number): Promise<OptOut[]> {
  const rows = await db.any(sql.type(optOutRow)`
    SELECT o.segment_id::text, o.reason, o.opted_out_at
    FROM auto_membership_opt_outs o WHERE o.user_id = ${userId}`);
  return rows.map((row) => ({ segmentId: row.segment_id, at: row.opted_out_at, reason: row.reason }));
}

/** Every percentage timeline and the user's opt-outs: what the past of their percentage memberships needs. */
export async function loadPercentageFacts(db: CommonQueryMethods, userId: number) {
  const [timelines, optOuts] = await Promise.all([loadPercentageTimelines(db), loadOptOuts(db, userId)]);
  return { timelines, optOuts };
}

/**
 * The user's history entries of membership by percentage with `from` ≤ at < `to`, in time order:
 * to be combined with the entries of explicit memberships (membership_audit).
 */
export async function percentageHistoryOf(
  db: CommonQueryMethods,
  userId: number,
  range: { from?: Date; to?: Date } = {},
): Promise<PercentageHistoryEntry[]> {
  const { timelines, optOuts } = await loadPercentageFacts(db, userId);
  return percentageHistoryEntries(percentageIntervals(userId, timelines, optOuts), range);
}

/** The percentage segments that included the user at `at`, sorted by slug. */
export async function percentageSegmentsAt(db: CommonQueryMethods, userId: number, at: Date): Promise<UserSegment[]> {
  return userSegmentsAt({ userId, memberships: [], ...(await loadPercentageFacts(db, userId)) }, at);
}
