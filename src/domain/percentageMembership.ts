// Membership by percentage over time: when a percentage segment took a user in and when it let
// them go, from the segment's percentage timeline, the user's bucket and the user's opt-outs.
// It has no per-user events; reads, `?at=` and history all compute it from here.
import { bySlug } from './order';
import { bucketOf, thresholdOf } from './percentage';

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

/** Why an interval of membership by percentage ended. */
export type PercentageEnd = { by: 'percentage' } | { by: 'opt_out'; reason: 'manual' | 'bulk' } | { by: 'segment_deleted' };

export interface PercentageInterval {
  segmentId: string;
  slug: string;
  /** Inclusive. */
  from: Date;
  /** Exclusive; null while it lasts. */
  to: Date | null;
  end: PercentageEnd | null;
}

/**
 * The intervals [from, to) in which the percentage of each segment included the user. A user is
 * in from the change that puts their bucket below the threshold (the creation or a raise) until the
 * change that puts it above (a lower, or turning the percentage off), the segment's deletion, or
 * their opt-out, whichever comes first; after an opt-out never again.
 */
export function percentageIntervals(
  userId: number,
  timelines: readonly PercentageTimeline[],
  optOuts: readonly OptOut[],
): PercentageInterval[] {
  const intervals: PercentageInterval[] = [];
  for (const timeline of timelines) {
    const bucket = bucketOf(timeline.rolloutSeed, userId);
    const optOut = optOuts.find((candidate) => candidate.segmentId === timeline.segmentId);
    let open: PercentageInterval | null = null;
    const close = (at: Date, end: PercentageEnd) => {
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

/** The intervals that contain `at`: the segments whose percentage included the user then. */
export function percentageIntervalsAt(intervals: readonly PercentageInterval[], at: Date): PercentageInterval[] {
  return intervals.filter((interval) => interval.from <= at && (interval.to === null || at < interval.to));
}

export interface PercentageHistoryEntry {
  slug: string;
  operation: 'added' | 'removed';
  /** `auto` when the percentage took the user in or out; otherwise what ended it. */
  reason: 'auto' | 'manual' | 'bulk' | 'segment_deleted';
  at: Date;
}

/**
 * The history entries of the intervals with `from` ≤ at < `to`, in time order (a removal before an
 * add at the same moment): to be combined with the entries of explicit memberships.
 */
export function percentageHistoryEntries(
  intervals: readonly PercentageInterval[],
  range: { from?: Date; to?: Date } = {},
): PercentageHistoryEntry[] {
  // Every interval's end is an entry, also an opt-out that coincides with the removal of an
  // explicit membership: combining the two histories (membershipHistory.ts) keeps one of them.
  const entries: PercentageHistoryEntry[] = [];
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
