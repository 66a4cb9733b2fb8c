// Automatic (percentage) membership over time: when a percentage segment took a user in and when
// it let them go, derived from the segment's percentage timeline, the user's bucket and the
// user's opt-outs. Automatic membership has no per-user events; history computes it from here.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { bucketOf, thresholdOf } from '../domain/percentageRollout';
import { bySlug } from '../domain/order';

/** One step of a segment's percentage: set (a number), turned off (null), or the segment deleted. */
export interface PercentageChange {
  at: Date;
  percent: number | null;
  deleted: boolean;
}

export interface PercentageTimeline {
  segmentId: string;
  slug: string;
  rolloutSeed: string;
  /** In event order; the first is the creation (or the first PATCH that set a percentage). */
  changes: readonly PercentageChange[];
}

export interface OptOut {
  segmentId: string;
  at: Date;
  reason: 'manual' | 'bulk';
}

/** Why an interval of automatic membership ended. */
export type AutoEnd = { by: 'percentage' } | { by: 'opt_out'; reason: 'manual' | 'bulk' } | { by: 'segment_deleted' };

export interface AutoInterval {
  segmentId: string;
  slug: string;
  /** Inclusive. */
  from: Date;
  /** Exclusive; null while it lasts. */
  to: Date | null;
  end: AutoEnd | null;
}

/**
 * The intervals [from, to) in which the percentage of each segment included the user. A user is
 * in from the change that puts their bucket below the threshold (the creation or a raise) until the
 * change that puts it above (a lower, or turning the percentage off), the segment's deletion, or
 * their opt-out, whichever comes first; after an opt-out never again.
 */
export function autoMembershipIntervals(
  userId: number,
  timelines: readonly PercentageTimeline[],
  optOuts: readonly OptOut[],
): AutoInterval[] {
  const intervals: AutoInterval[] = [];
  for (const timeline of timelines) {
    const bucket = bucketOf(timeline.rolloutSeed, userId);
    const optOut = optOuts.find((candidate) => candidate.segmentId === timeline.segmentId);
    let open: AutoInterval | null = null;
    const close = (at: Date, end: AutoEnd) => {
      if (!open) return;
      intervals.push({ ...open, to: at, end });
      open = null;
    };
    for (const change of timeline.changes) {
      if (optOut && change.at.getTime() >= optOut.at.getTime()) break;
      if (change.deleted) {
        close(change.at, { by: 'segment_deleted' });
        break;
      }
      const included = change.percent !== null && bucket < thresholdOf(change.percent);
      if (included && !open) open = { segmentId: timeline.segmentId, slug: timeline.slug, from: change.at, to: null, end: null };
      else if (!included) close(change.at, { by: 'percentage' });
    }
    if (open && optOut) close(optOut.at, { by: 'opt_out', reason: optOut.reason });
    if (open) intervals.push(open);
  }
  return intervals.sort((a, b) => a.from.getTime() - b.from.getTime() || bySlug(a, b));
}

// ---------------------------------------------------------------- loading from the read model

const changeRow = z.object({
  segment_id: z.string(),
  slug: z.string(),
  rollout_seed: z.string(),
  percent: z.string().nullable(),
  deleted: z.boolean(),
  at: z.date(),
});

/** Groups rows ordered by (segment, position) into timelines. */
export function toTimelines(rows: readonly z.infer<typeof changeRow>[]): PercentageTimeline[] {
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

async function loadOptOuts(db: CommonQueryMethods, userId: number): Promise<OptOut[]> {
  const rows = await db.any(sql.type(optOutRow)`
    SELECT o.segment_id::text, o.reason, o.opted_out_at
    FROM auto_membership_opt_outs o WHERE o.user_id = ${userId}`);
  return rows.map((row) => ({ segmentId: row.segment_id, at: row.opted_out_at, reason: row.reason }));
}

/** The user's intervals of automatic membership, from every percentage timeline and their opt-outs. */
async function autoIntervalsOf(db: CommonQueryMethods, userId: number): Promise<AutoInterval[]> {
  const [timelines, optOuts] = await Promise.all([loadPercentageTimelines(db), loadOptOuts(db, userId)]);
  return autoMembershipIntervals(userId, timelines, optOuts);
}

export interface AutoHistoryEntry {
  slug: string;
  operation: 'added' | 'removed';
  /** `auto` when the percentage took the user in or out; otherwise what ended it. */
  reason: 'auto' | 'manual' | 'bulk' | 'segment_deleted';
  at: Date;
}

/**
 * The user's history entries of automatic membership with `from` ≤ at < `to`, in time order: to
 * be merged with the entries of explicit memberships (membership_audit) by time.
 */
export async function autoHistoryEntries(
  db: CommonQueryMethods,
  userId: number,
  range: { from?: Date; to?: Date } = {},
): Promise<AutoHistoryEntry[]> {
  const intervals = await autoIntervalsOf(db, userId);
  // Every interval's end is an entry, also an opt-out that coincides with the removal of an
  // explicit membership: combining the two histories (src/queries/history.ts) keeps one of them.
  const entries: AutoHistoryEntry[] = [];
  for (const interval of intervals) {
    entries.push({ slug: interval.slug, operation: 'added', reason: 'auto', at: interval.from });
    if (!interval.to || !interval.end) continue;
    const reason = interval.end.by === 'percentage' ? 'auto' : interval.end.by === 'opt_out' ? interval.end.reason : 'segment_deleted';
    entries.push({ slug: interval.slug, operation: 'removed', reason, at: interval.to });
  }
  const inRange = (at: Date) => (!range.from || at >= range.from) && (!range.to || at < range.to);
  return entries
    .filter((entry) => inRange(entry.at))
    .sort((a, b) => a.at.getTime() - b.at.getTime() || (a.operation === b.operation ? 0 : a.operation === 'removed' ? -1 : 1));
}

export interface AutoSegmentAt {
  slug: string;
  source: 'auto';
  addedAt: Date;
  expiresAt: null;
}

/** The percentage segments that included the user at `at`, sorted by slug (the `?at=` read). */
export async function autoSegmentsAt(db: CommonQueryMethods, userId: number, at: Date): Promise<AutoSegmentAt[]> {
  return (await autoIntervalsOf(db, userId))
    .filter((interval) => interval.from <= at && (interval.to === null || at < interval.to))
    .map((interval) => ({ slug: interval.slug, source: 'auto' as const, addedAt: interval.from, expiresAt: null }))
    .sort(bySlug);
}
