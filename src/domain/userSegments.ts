// Which segments a user is in at a moment: the one rule behind every answer to that question
// (GET, `?at=`, the answer of a write, and the history, which lists where this answer changes).
import { bySlug } from './order';
import { percentageIntervals, percentageIntervalsAt, type OptOut, type PercentageTimeline } from './percentageMembership';

/** An explicit membership with the end in force at the moment asked about. */
export interface ExplicitMembership {
  segmentId: string;
  slug: string;
  addedAt: Date;
  /** null: permanent. */
  expiresAt: Date | null;
}

export interface UserSegment {
  slug: string;
  source: 'manual' | 'auto';
  addedAt: Date;
  expiresAt: Date | null;
}

/** What the answer is computed from; each path reads these from its own source. */
export interface UserSegmentFacts {
  userId: number;
  /** The user's explicit memberships as they stood at the moment (expired ones may be among them). */
  memberships: readonly ExplicitMembership[];
  /** The percentage timelines to consider: the live segments' for now, every segment's for the past. */
  timelines: readonly PercentageTimeline[];
  optOuts: readonly OptOut[];
}

/** How a user belongs to one segment, given both ways in: an explicit membership wins over the percentage. */
export function membershipSource(explicit: boolean, byPercentage: boolean): UserSegment['source'] | null {
  if (explicit) return 'manual';
  return byPercentage ? 'auto' : null;
}

export function isExplicitMemberAt(membership: ExplicitMembership, at: Date): boolean {
  return membership.expiresAt === null || membership.expiresAt.getTime() > at.getTime();
}

/**
 * The user's segments at `at`, sorted by slug: explicit memberships that have not expired by then,
 * and the percentage segments whose percentage included the user then and that they did not opt
 * out of; one entry per segment, an explicit membership winning.
 */
export function userSegmentsAt(facts: UserSegmentFacts, at: Date): UserSegment[] {
  const explicit = facts.memberships.filter((membership) => isExplicitMemberAt(membership, at));
  const explicitIds = new Set(explicit.map((membership) => membership.segmentId));
  const segments: UserSegment[] = [];
  for (const membership of explicit) {
    segments.push({ slug: membership.slug, source: 'manual', addedAt: membership.addedAt, expiresAt: membership.expiresAt });
  }
  for (const interval of percentageIntervalsAt(percentageIntervals(facts.userId, facts.timelines, facts.optOuts), at)) {
    const source = membershipSource(explicitIds.has(interval.segmentId), true);
    if (source === 'auto') segments.push({ slug: interval.slug, source, addedAt: interval.from, expiresAt: null });
  }
  return segments.sort(bySlug);
}
