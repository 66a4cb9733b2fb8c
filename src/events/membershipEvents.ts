// Events of the user stream (`user-{userId}`): every change of a user's explicit memberships,
// and opt-outs of percentage segments.
export type AddReason = 'manual' | 'bulk';
export type RemovalReason = 'manual' | 'bulk' | 'expired' | 'segment_deleted';

export interface MembershipAdded {
  type: 'MembershipAdded';
  data: {
    userId: number;
    segmentId: string;
    slug: string;
    expiresAt: string | null;
    reason: AddReason;
    addedAt: string;
  };
}

export interface MembershipRemoved {
  type: 'MembershipRemoved';
  data: {
    userId: number;
    segmentId: string;
    slug: string;
    reason: RemovalReason;
    /** When the membership ended: the request time, the expiry moment, or the segment's deletion. */
    effectiveAt: string;
  };
}

/**
 * An active membership's expiry was replaced (a re-add with a new TTL, or `expiresAt: null` to make
 * it permanent). The membership goes on: history shows no new entry, only its end moves.
 */
export interface MembershipExpiryChanged {
  type: 'MembershipExpiryChanged';
  data: {
    userId: number;
    segmentId: string;
    slug: string;
    /** The new expiry; null makes the membership permanent. */
    expiresAt: string | null;
    previousExpiresAt: string | null;
    changedAt: string;
  };
}

/**
 * An explicit removal of a percentage segment the user was in: the percentage never includes
 * this user in this segment again, whatever later changes of the percentage.
 */
export interface AutoMembershipOptedOut {
  type: 'AutoMembershipOptedOut';
  data: {
    userId: number;
    segmentId: string;
    slug: string;
    reason: AddReason;
    effectiveAt: string;
  };
}

export type MembershipEvent = MembershipAdded | MembershipRemoved | MembershipExpiryChanged | AutoMembershipOptedOut;

export const MEMBERSHIP_EVENT_TYPES: ReadonlySet<string> = new Set<MembershipEvent['type']>([
  'MembershipAdded',
  'MembershipRemoved',
  'MembershipExpiryChanged',
  'AutoMembershipOptedOut',
]);
