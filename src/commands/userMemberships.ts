// The user aggregate: a user's explicit memberships and opt-outs of percentage segments, decided
// from the user's stream and the segments the command names.
import { ExpiryNotInFutureError, UnknownSegmentsError } from '../domain/errors';
import { isInRollout } from '../domain/percentageRollout';
import type { AddReason, MembershipEvent, MembershipRemoved } from '../events/membershipEvents';
import { bySlug } from '../domain/order';

export interface Membership {
  segmentId: string;
  slug: string;
  addedAt: string;
  expiresAt: string | null;
}

export interface UserState {
  /** Keyed by segmentId: a re-created slug is a different segment. */
  memberships: ReadonlyMap<string, Membership>;
  /** Percentage segments (by segmentId) this user was explicitly removed from: never auto again. */
  optedOut: ReadonlySet<string>;
}

export const initialUserState: UserState = { memberships: new Map(), optedOut: new Set() };

/** A segment as the command sees it: live now, with its current id. */
export interface LiveSegment {
  segmentId: string;
  slug: string;
  /** Set when the segment takes a percentage of all users automatically. */
  rollout?: { seed: string; percent: number } | null;
}

/** Whether the percentage of this segment includes the user now (and the user has not opted out). */
export function isAutoMember(state: UserState, segment: LiveSegment, userId: number): boolean {
  if (!segment.rollout || state.optedOut.has(segment.segmentId)) return false;
  return isInRollout(segment.rollout.seed, segment.rollout.percent, userId);
}

/** How an add sets the membership's end: a TTL counted from the decision, or a moment (null: never). */
export type ExpirySpec = { ttlSeconds: number } | { expiresAt: string | null };

export interface AddEntry {
  slug: string;
  /** Absent: a new membership is permanent, an active one keeps its expiry. */
  expiry?: ExpirySpec;
}

export interface UpdateUserSegments {
  type: 'UpdateUserSegments';
  data: { userId: number; add: readonly AddEntry[]; remove: readonly string[]; reason: AddReason };
}

export interface RemoveDeletedSegmentMember {
  type: 'RemoveDeletedSegmentMember';
  data: { userId: number; segmentId: string; slug: string; deletedAt: string };
}

/** The timer found these memberships due in the read model; expire each one the stream still agrees on. */
export interface ExpireMemberships {
  type: 'ExpireMemberships';
  data: { userId: number; due: ReadonlyArray<{ segmentId: string; expiresAt: string }> };
}

export type UserCommand = UpdateUserSegments | RemoveDeletedSegmentMember | ExpireMemberships;

export interface UserDecisionContext {
  now: Date;
  /** Live segments by slug; a slug the command names and this lacks does not exist. */
  segments: ReadonlyMap<string, LiveSegment>;
}

export function isActive(membership: Membership, now: Date): boolean {
  return membership.expiresAt === null || Date.parse(membership.expiresAt) > now.getTime();
}

export function decideUser(command: UserCommand, state: UserState, context: UserDecisionContext): MembershipEvent[] {
  switch (command.type) {
    case 'UpdateUserSegments':
      return decideUpdate(command.data, state, context);
    case 'RemoveDeletedSegmentMember': {
      const { userId, segmentId, slug, deletedAt } = command.data;
      const membership = state.memberships.get(segmentId);
      if (!membership) return [];
      // A membership that expired before the deletion ended then, not at the deletion.
      if (!isActive(membership, new Date(deletedAt))) return [expiry(userId, membership)];
      // An add that raced with the deletion may carry a later time than the deletion: the removal
      // then takes effect at the add, so history never shows the user in the segment afterwards.
      const effectiveAt = Date.parse(membership.addedAt) > Date.parse(deletedAt) ? membership.addedAt : deletedAt;
      return [{ type: 'MembershipRemoved', data: { userId, segmentId, slug, reason: 'segment_deleted', effectiveAt } }];
    }
    case 'ExpireMemberships':
      return command.data.due.flatMap(({ segmentId, expiresAt }) => {
        const membership = state.memberships.get(segmentId);
        // Removed, renewed or made permanent since the read model was read: that expiry is void.
        if (!membership || membership.expiresAt === null || Date.parse(membership.expiresAt) !== Date.parse(expiresAt)) return [];
        if (isActive(membership, context.now)) return [];
        return [expiry(command.data.userId, membership)];
      });
    default: {
      const unhandled: never = command;
      throw new Error(`unknown command ${JSON.stringify(unhandled)}`);
    }
  }
}

function decideUpdate(
  { userId, add, remove, reason }: UpdateUserSegments['data'],
  state: UserState,
  { now, segments }: UserDecisionContext,
): MembershipEvent[] {
  const unknown = [...add.map((entry) => entry.slug), ...remove].filter((slug) => !segments.has(slug));
  if (unknown.length > 0) throw new UnknownSegmentsError([...new Set(unknown)]);

  const events: MembershipEvent[] = [];
  // Each segment is decided once per command, even if a caller names it twice.
  const decided = new Set<string>();
  const activeMembershipOf = (segment: LiveSegment): Membership | undefined => {
    const membership = state.memberships.get(segment.segmentId);
    if (membership && !isActive(membership, now)) {
      // Expired but not yet swept by the timer: record the expiry at its true moment first.
      events.push(expiry(userId, membership));
      return undefined;
    }
    return membership;
  };

  for (const slug of remove) {
    const segment = segments.get(slug)!;
    if (decided.has(segment.segmentId)) continue;
    decided.add(segment.segmentId);
    const membership = activeMembershipOf(segment);
    const auto = isAutoMember(state, segment, userId);
    if (membership) {
      events.push({
        type: 'MembershipRemoved',
        data: { userId, segmentId: segment.segmentId, slug, reason, effectiveAt: now.toISOString() },
      });
    }
    // Removing a user from a percentage segment they are in keeps them out for good, also when a
    // later raise of the percentage would take their bucket in again.
    if ((membership || auto) && segment.rollout && !state.optedOut.has(segment.segmentId)) {
      events.push({
        type: 'AutoMembershipOptedOut',
        data: { userId, segmentId: segment.segmentId, slug, reason, effectiveAt: now.toISOString() },
      });
    }
  }
  for (const { slug, expiry: spec } of add) {
    const segment = segments.get(slug)!;
    if (decided.has(segment.segmentId)) continue;
    decided.add(segment.segmentId);
    const expiresAt = spec === undefined ? undefined : resolveExpiry(slug, spec, now);
    const active = activeMembershipOf(segment);
    if (active) {
      // A re-add is not a new membership: only a different expiry changes anything.
      if (expiresAt === undefined || sameMoment(expiresAt, active.expiresAt)) continue;
      events.push({
        type: 'MembershipExpiryChanged',
        data: {
          userId,
          segmentId: segment.segmentId,
          slug,
          expiresAt,
          previousExpiresAt: active.expiresAt,
          changedAt: now.toISOString(),
        },
      });
      continue;
    }
    events.push({
      type: 'MembershipAdded',
      data: { userId, segmentId: segment.segmentId, slug, expiresAt: expiresAt ?? null, reason, addedAt: now.toISOString() },
    });
  }
  return events;
}

function resolveExpiry(slug: string, spec: ExpirySpec, now: Date): string | null {
  if ('ttlSeconds' in spec) return new Date(now.getTime() + spec.ttlSeconds * 1000).toISOString();
  if (spec.expiresAt === null) return null;
  // The route checks this against its clock; the decision checks again at its own moment.
  if (Date.parse(spec.expiresAt) <= now.getTime()) throw new ExpiryNotInFutureError(slug, spec.expiresAt);
  return new Date(spec.expiresAt).toISOString();
}

function sameMoment(a: string | null, b: string | null): boolean {
  return a === null || b === null ? a === b : Date.parse(a) === Date.parse(b);
}

function expiry(userId: number, membership: Membership): MembershipRemoved {
  return {
    type: 'MembershipRemoved',
    data: {
      userId,
      segmentId: membership.segmentId,
      slug: membership.slug,
      reason: 'expired',
      effectiveAt: membership.expiresAt!,
    },
  };
}

export function evolveUser(state: UserState, event: MembershipEvent): UserState {
  if (event.type === 'AutoMembershipOptedOut') {
    return { ...state, optedOut: new Set(state.optedOut).add(event.data.segmentId) };
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

/**
 * What a decision changed for the caller: segments the user was not in before and is now
 * (`added`), and segments they were in, manually or by percentage, and left at their request
 * (`removed`). An explicit add of a user the percentage already includes is not listed.
 */
export function changedSegments(
  events: readonly MembershipEvent[],
  before: UserState,
  segments: ReadonlyMap<string, LiveSegment>,
  userId: number,
): { added: string[]; removed: string[] } {
  const bySegmentId = new Map([...segments.values()].map((segment) => [segment.segmentId, segment]));
  const added: string[] = [];
  const removed = new Set<string>();
  for (const event of events) {
    if (event.type === 'MembershipAdded') {
      const segment = bySegmentId.get(event.data.segmentId);
      if (!segment || !isAutoMember(before, segment, userId)) added.push(event.data.slug);
    } else if (
      (event.type === 'MembershipRemoved' || event.type === 'AutoMembershipOptedOut') &&
      (event.data.reason === 'manual' || event.data.reason === 'bulk')
    ) {
      removed.add(event.data.slug);
    }
  }
  return { added, removed: [...removed] };
}

/** The user's active memberships at `now`, sorted by slug. */
export function activeMemberships(state: UserState, now: Date): Membership[] {
  return [...state.memberships.values()]
    .filter((membership) => isActive(membership, now))
    .sort(bySlug);
}
