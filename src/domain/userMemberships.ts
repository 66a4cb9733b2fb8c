// The user aggregate's state: a user's explicit memberships and opt-outs of percentage segments,
// folded from the user's stream. Its decisions are in decideUser.ts.
import type { AddReason, MembershipEvent } from '../events/membershipEvents';
import { bySlug } from './order';
import { isInPercentage } from './percentage';

export interface Membership {
  segmentId: string;
  slug: string;
  addedAt: string;
  expiresAt: string | null;
}

/** An explicit removal from a percentage segment: from `at` on, its percentage never includes the user. */
export interface OptedOut {
  at: string;
  reason: AddReason;
}

export interface UserState {
  /** Keyed by segmentId: a re-created slug is a different segment. */
  memberships: ReadonlyMap<string, Membership>;
  /** Percentage segments (by segmentId) this user was explicitly removed from: never in by percentage again. */
  optedOut: ReadonlyMap<string, OptedOut>;
}

export const initialUserState: UserState = { memberships: new Map(), optedOut: new Map() };

/** A segment as the command sees it: live now, with its current id. */
export interface LiveSegment {
  segmentId: string;
  slug: string;
  /** Set when the segment takes a percentage of all users automatically. */
  percentage?: { seed: string; percent: number } | null;
}

/** Whether the percentage of this segment includes the user now (and the user has not opted out). */
export function isPercentageMember(state: UserState, segment: LiveSegment, userId: number): boolean {
  if (!segment.percentage || state.optedOut.has(segment.segmentId)) return false;
  return isInPercentage(segment.percentage.seed, segment.percentage.percent, userId);
}

export function isActive(membership: Membership, now: Date): boolean {
  return membership.expiresAt === null || Date.parse(membership.expiresAt) > now.getTime();
}

/** The user's active memberships at `now`, sorted by slug. */
export function activeMemberships(state: UserState, now: Date): Membership[] {
  return [...state.memberships.values()].filter((membership) => isActive(membership, now)).sort(bySlug);
}

export function evolveUser(state: UserState, event: MembershipEvent): UserState {
  if (event.type === 'AutoMembershipOptedOut') {
    const { segmentId, effectiveAt, reason } = event.data;
    return { ...state, optedOut: new Map(state.optedOut).set(segmentId, { at: effectiveAt, reason }) };
  }
  const memberships = new Map(state.memberships);
  switch (event.type) {
    case 'MembershipAdded': {
      const { segmentId, slug, addedAt, expiresAt } = event.data;
      memberships.set(segmentId, { segmentId, slug, addedAt, expiresAt });
      break;
    }
    case 'MembershipRemoved':
      memberships.delete(event.data.segmentId);
      break;
    case 'MembershipExpiryChanged': {
      const membership = memberships.get(event.data.segmentId);
      if (membership) memberships.set(event.data.segmentId, { ...membership, expiresAt: event.data.expiresAt });
      break;
    }
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
  return { ...state, memberships };
}
