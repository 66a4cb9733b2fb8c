// The user aggregate's decisions: what a command changes in a user's memberships, decided from
// the user's state and the segments the command names.
import type { AddReason, MembershipEvent, MembershipRemoved } from '../events/membershipEvents';
import { ExpiryNotInFutureError, UnknownSegmentsError } from './errors';
import { isActive, isPercentageMember, type LiveSegment, type Membership, type UserState } from './userMemberships';

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
    const auto = isPercentageMember(state, segment, userId);
    if (membership) {
      events.push({
        type: 'MembershipRemoved',
        data: { userId, segmentId: segment.segmentId, slug, reason, effectiveAt: now.toISOString() },
      });
    }
    // Removing a user from a percentage segment they are in keeps them out for good, also when a
    // later raise of the percentage would take their bucket in again.
    if ((membership || auto) && segment.percentage && !state.optedOut.has(segment.segmentId)) {
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
      if (!segment || !isPercentageMember(before, segment, userId)) added.push(event.data.slug);
    } else if (
      (event.type === 'MembershipRemoved' || event.type === 'AutoMembershipOptedOut') &&
      (event.data.reason === 'manual' || event.data.reason === 'bulk')
    ) {
      removed.add(event.data.slug);
    }
  }
  return { added, removed: [...removed] };
}
