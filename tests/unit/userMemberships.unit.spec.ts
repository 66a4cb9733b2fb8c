// The user aggregate, given the user's past events, when a command arrives with the segments live
// at that moment, then these events (or this error).
import { decideUser, type AddEntry, type UpdateUserSegments, type UserCommand } from '../../src/domain/decideUser';
import { activeMemberships, evolveUser, initialUserState, type LiveSegment } from '../../src/domain/userMemberships';
import { ExpiryNotInFutureError, UnknownSegmentsError } from '../../src/domain/errors';
import type {
  MembershipAdded,
  MembershipEvent,
  MembershipExpiryChanged,
  MembershipRemoved,
  RemovalReason,
} from '../../src/events/membershipEvents';
import { givenFor } from '../support/decider';

const givenUser = givenFor({ initial: initialUserState, evolve: evolveUser, decide: decideUser });

/** The command's context: its moment and the segments live then, by slug. */
function given(history: MembershipEvent[]) {
  return {
    when: (command: UserCommand, now: Date, segments: readonly LiveSegment[] = []) =>
      givenUser(history).when(command, { now, segments: new Map(segments.map((segment) => [segment.slug, segment])) }),
  };
}

const USER = 1000;
const DISCOUNT_30: LiveSegment = { slug: 'AVITO_DISCOUNT_30', segmentId: '0b7a9c10-0000-4000-8000-000000000030' };
const DISCOUNT_50: LiveSegment = { slug: 'AVITO_DISCOUNT_50', segmentId: '0b7a9c10-0000-4000-8000-000000000050' };
const VOICE: LiveSegment = { slug: 'AVITO_VOICE_MESSAGES', segmentId: '0b7a9c10-0000-4000-8000-0000000000a1' };
/** AVITO_DISCOUNT_30 as it was before it was deleted and re-created under a new id. */
const OLD_DISCOUNT_30: LiveSegment = { slug: 'AVITO_DISCOUNT_30', segmentId: '0b7a9c10-0000-4000-8000-0000000000d0' };

const DAY = 24 * 60 * 60 * 1000;
const addedAt = new Date('2025-03-01T10:00:00.000Z');
const now = new Date('2025-03-10T12:00:00.000Z');

const update = (
  add: (string | AddEntry)[],
  remove: string[] = [],
  reason: UpdateUserSegments['data']['reason'] = 'manual',
): UserCommand => ({
  type: 'UpdateUserSegments',
  data: { userId: USER, add: add.map((entry) => (typeof entry === 'string' ? { slug: entry } : entry)), remove, reason },
});

const added = (segment: LiveSegment, at: Date, expiresAt: Date | null = null, reason: MembershipAdded['data']['reason'] = 'manual'): MembershipAdded => ({
  type: 'MembershipAdded',
  data: { userId: USER, segmentId: segment.segmentId, slug: segment.slug, expiresAt: expiresAt?.toISOString() ?? null, reason, addedAt: at.toISOString() },
});

const removed = (segment: LiveSegment, effectiveAt: Date, reason: RemovalReason = 'manual'): MembershipRemoved => ({
  type: 'MembershipRemoved',
  data: { userId: USER, segmentId: segment.segmentId, slug: segment.slug, reason, effectiveAt: effectiveAt.toISOString() },
});

const segmentDeleted = (segment: LiveSegment, deletedAt: Date): UserCommand => ({
  type: 'RemoveDeletedSegmentMember',
  data: { userId: USER, segmentId: segment.segmentId, slug: segment.slug, deletedAt: deletedAt.toISOString() },
});

describe('user memberships', () => {
  describe('adding and removing', () => {
    it('user 1000 added to AVITO_DISCOUNT_30 becomes a member', () => {
      given([]).when(update(['AVITO_DISCOUNT_30']), now, [DISCOUNT_30]).then([added(DISCOUNT_30, now)]);
    });

    it('user 1000 added to AVITO_DISCOUNT_30 and AVITO_VOICE_MESSAGES in one request joins both', () => {
      given([])
        .when(update(['AVITO_DISCOUNT_30', 'AVITO_VOICE_MESSAGES']), now, [DISCOUNT_30, VOICE])
        .then([added(DISCOUNT_30, now), added(VOICE, now)]);
    });

    it('user 1000 added to AVITO_DISCOUNT_30 by a bulk change records the reason bulk', () => {
      given([]).when(update(['AVITO_DISCOUNT_30'], [], 'bulk'), now, [DISCOUNT_30]).then([added(DISCOUNT_30, now, null, 'bulk')]);
    });

    it('user 1000 added again to AVITO_DISCOUNT_30 while a member: nothing happens', () => {
      given([added(DISCOUNT_30, addedAt)]).when(update(['AVITO_DISCOUNT_30']), now, [DISCOUNT_30]).then([]);
    });

    it('user 1000 added to AVITO_DISCOUNT_30 twice in one request joins it once', () => {
      given([]).when(update(['AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_30']), now, [DISCOUNT_30]).then([added(DISCOUNT_30, now)]);
    });

    it('user 1000 added to AVITO_DISCOUNT_30 while in AVITO_DISCOUNT_50 joins only the new one', () => {
      given([added(DISCOUNT_50, addedAt)])
        .when(update(['AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50']), now, [DISCOUNT_30, DISCOUNT_50])
        .then([added(DISCOUNT_30, now)]);
    });

    it('user 1000 removed from AVITO_DISCOUNT_30 leaves it at the moment of the request', () => {
      given([added(DISCOUNT_30, addedAt)]).when(update([], ['AVITO_DISCOUNT_30']), now, [DISCOUNT_30]).then([removed(DISCOUNT_30, now)]);
    });

    it('user 1000 removed from AVITO_DISCOUNT_30 it is not in: nothing happens', () => {
      given([]).when(update([], ['AVITO_DISCOUNT_30']), now, [DISCOUNT_30]).then([]);
    });

    it('user 1000 removed from AVITO_DISCOUNT_30 a second time: nothing happens', () => {
      given([added(DISCOUNT_30, addedAt), removed(DISCOUNT_30, addedAt)])
        .when(update([], ['AVITO_DISCOUNT_30']), now, [DISCOUNT_30])
        .then([]);
    });

    it('user 1000 removed from AVITO_DISCOUNT_30 and added again is a member again', () => {
      given([added(DISCOUNT_30, addedAt), removed(DISCOUNT_30, addedAt)])
        .when(update(['AVITO_DISCOUNT_30']), now, [DISCOUNT_30])
        .then([added(DISCOUNT_30, now)]);
    });

    it('user 1000 added to AVITO_DISCOUNT_30 and removed from AVITO_DISCOUNT_50 in one request: both happen', () => {
      given([added(DISCOUNT_50, addedAt)])
        .when(update(['AVITO_DISCOUNT_30'], ['AVITO_DISCOUNT_50']), now, [DISCOUNT_30, DISCOUNT_50])
        .then([removed(DISCOUNT_50, now), added(DISCOUNT_30, now)]);
    });
  });

  describe('unknown segments', () => {
    it('user 1000 added to AVITO_DISCOUNT_30 and two unknown segments fails naming both unknown slugs', () => {
      given([])
        .when(update(['AVITO_DISCOUNT_30', 'NO_SUCH_SEGMENT', 'ALSO_MISSING']), now, [DISCOUNT_30])
        .thenThrows(UnknownSegmentsError, (error) => expect([...error.slugs].sort()).toEqual(['ALSO_MISSING', 'NO_SUCH_SEGMENT']));
    });

    it('user 1000 removed from an unknown segment fails naming it', () => {
      given([added(DISCOUNT_30, addedAt)])
        .when(update([], ['AVITO_DISCOUNT_30', 'NO_SUCH_SEGMENT']), now, [DISCOUNT_30])
        .thenThrows(UnknownSegmentsError, (error) => expect(error.slugs).toEqual(['NO_SUCH_SEGMENT']));
    });

    it('unknown slugs in both add and remove are all named, each once', () => {
      given([])
        .when(update(['UNKNOWN_ADD', 'UNKNOWN_BOTH'], ['UNKNOWN_REMOVE', 'UNKNOWN_BOTH']), now, [])
        .thenThrows(UnknownSegmentsError, (error) =>
          expect([...error.slugs].sort()).toEqual(['UNKNOWN_ADD', 'UNKNOWN_BOTH', 'UNKNOWN_REMOVE']),
        );
    });
  });

  describe('a slug re-created after deletion', () => {
    it('user 1000 in the deleted AVITO_DISCOUNT_30 is not a member of the re-created AVITO_DISCOUNT_30: adding joins the new one', () => {
      given([added(OLD_DISCOUNT_30, addedAt)]).when(update(['AVITO_DISCOUNT_30']), now, [DISCOUNT_30]).then([added(DISCOUNT_30, now)]);
    });

    it('user 1000 in the deleted AVITO_DISCOUNT_30 removed from the re-created AVITO_DISCOUNT_30: nothing happens', () => {
      given([added(OLD_DISCOUNT_30, addedAt)]).when(update([], ['AVITO_DISCOUNT_30']), now, [DISCOUNT_30]).then([]);
    });
  });

  describe('segment deletion', () => {
    const deletedAt = new Date('2025-03-08T09:15:00.000Z');

    it('deleting AVITO_DISCOUNT_30 removes user 1000 with reason segment_deleted at the moment of deletion', () => {
      given([added(DISCOUNT_30, addedAt)])
        .when(segmentDeleted(DISCOUNT_30, deletedAt), now)
        .then([removed(DISCOUNT_30, deletedAt, 'segment_deleted')]);
    });

    it('deleting AVITO_DISCOUNT_30 leaves user 1000 alone when not a member', () => {
      given([]).when(segmentDeleted(DISCOUNT_30, deletedAt), now).then([]);
    });

    it('deleting AVITO_DISCOUNT_30 leaves user 1000 alone when already removed', () => {
      given([added(DISCOUNT_30, addedAt), removed(DISCOUNT_30, addedAt)]).when(segmentDeleted(DISCOUNT_30, deletedAt), now).then([]);
    });

    it('deleting AVITO_DISCOUNT_30 leaves user 1000 in the re-created AVITO_DISCOUNT_30 alone', () => {
      given([added(DISCOUNT_30, addedAt)]).when(segmentDeleted(OLD_DISCOUNT_30, deletedAt), now).then([]);
    });

    it('user 1000 whose AVITO_DISCOUNT_30 membership expired before the deletion is recorded as expired at the expiry', () => {
      const expiresAt = new Date(deletedAt.getTime() - DAY);
      given([added(DISCOUNT_30, addedAt, expiresAt)])
        .when(segmentDeleted(DISCOUNT_30, deletedAt), now)
        .then([removed(DISCOUNT_30, expiresAt, 'expired')]);
    });
  });

  describe('expiry', () => {
    it('user 1000 added to AVITO_DISCOUNT_30 for 2 days is gone after 2 days: adding again records the expiry, then the add', () => {
      const start = new Date(now.getTime() - 3 * DAY);
      const expiresAt = new Date(start.getTime() + 2 * DAY);
      given([added(DISCOUNT_30, start, expiresAt)])
        .when(update(['AVITO_DISCOUNT_30']), now, [DISCOUNT_30])
        .then([removed(DISCOUNT_30, expiresAt, 'expired'), added(DISCOUNT_30, now)]);
    });

    it('user 1000 added to AVITO_DISCOUNT_30 for 2 days is still a member after 1 day', () => {
      const start = new Date(now.getTime() - DAY);
      given([added(DISCOUNT_30, start, new Date(start.getTime() + 2 * DAY))])
        .when(update(['AVITO_DISCOUNT_30']), now, [DISCOUNT_30])
        .then([]);
    });

    it('user 1000 whose AVITO_DISCOUNT_30 expired is removed by the expiry, not by the request', () => {
      const expiresAt = new Date(now.getTime() - DAY);
      given([added(DISCOUNT_30, addedAt, expiresAt)])
        .when(update([], ['AVITO_DISCOUNT_30']), now, [DISCOUNT_30])
        .then([removed(DISCOUNT_30, expiresAt, 'expired')]);
    });

    it('a membership expiring exactly now is gone', () => {
      given([added(DISCOUNT_30, addedAt, now)])
        .when(update(['AVITO_DISCOUNT_30']), now, [DISCOUNT_30])
        .then([removed(DISCOUNT_30, now, 'expired'), added(DISCOUNT_30, now)]);
    });
  });

  describe('time-limited memberships', () => {
    const in2Days = new Date(now.getTime() + 2 * DAY);
    const expiryChanged = (segment: LiveSegment, expiresAt: Date | null, previous: Date | null): MembershipExpiryChanged => ({
      type: 'MembershipExpiryChanged',
      data: {
        userId: USER,
        segmentId: segment.segmentId,
        slug: segment.slug,
        expiresAt: expiresAt?.toISOString() ?? null,
        previousExpiresAt: previous?.toISOString() ?? null,
        changedAt: now.toISOString(),
      },
    });
    const expire = (segment: LiveSegment, expiresAt: Date): UserCommand => ({
      type: 'ExpireMemberships',
      data: { userId: USER, due: [{ segmentId: segment.segmentId, expiresAt: expiresAt.toISOString() }] },
    });

    it('user 1000 added to AVITO_DISCOUNT_30 for 2 days (ttlSeconds 172800) joins until now + 2 days', () => {
      given([])
        .when(update([{ slug: 'AVITO_DISCOUNT_30', expiry: { ttlSeconds: 172_800 } }]), now, [DISCOUNT_30])
        .then([added(DISCOUNT_30, now, in2Days)]);
    });

    it('user 1000 added to AVITO_DISCOUNT_30 until a given moment joins until that moment', () => {
      given([])
        .when(update([{ slug: 'AVITO_DISCOUNT_30', expiry: { expiresAt: in2Days.toISOString() } }]), now, [DISCOUNT_30])
        .then([added(DISCOUNT_30, now, in2Days)]);
    });

    it('user 1000 added to AVITO_DISCOUNT_30 with expiresAt null joins for good', () => {
      given([])
        .when(update([{ slug: 'AVITO_DISCOUNT_30', expiry: { expiresAt: null } }]), now, [DISCOUNT_30])
        .then([added(DISCOUNT_30, now, null)]);
    });

    it('an expiresAt that is not in the future when decided fails the whole command', () => {
      given([])
        .when(update(['AVITO_VOICE_MESSAGES', { slug: 'AVITO_DISCOUNT_30', expiry: { expiresAt: now.toISOString() } }]), now, [DISCOUNT_30, VOICE])
        .thenThrows(ExpiryNotInFutureError, (error) => expect(error.slug).toBe('AVITO_DISCOUNT_30'));
    });

    it('user 1000 in AVITO_DISCOUNT_30 for 2 days, re-added for 2 more days before the expiry: the expiry moves, no new membership', () => {
      const start = new Date(now.getTime() - DAY);
      const oldExpiry = new Date(start.getTime() + 2 * DAY);
      given([added(DISCOUNT_30, start, oldExpiry)])
        .when(update([{ slug: 'AVITO_DISCOUNT_30', expiry: { ttlSeconds: 172_800 } }]), now, [DISCOUNT_30])
        .then([expiryChanged(DISCOUNT_30, in2Days, oldExpiry)]);
    });

    it('user 1000 in AVITO_DISCOUNT_30 for 2 days, re-added with expiresAt null: the membership becomes permanent', () => {
      const oldExpiry = new Date(now.getTime() + DAY);
      given([added(DISCOUNT_30, addedAt, oldExpiry)])
        .when(update([{ slug: 'AVITO_DISCOUNT_30', expiry: { expiresAt: null } }]), now, [DISCOUNT_30])
        .then([expiryChanged(DISCOUNT_30, null, oldExpiry)]);
    });

    it('user 1000 permanently in AVITO_DISCOUNT_30, re-added for 2 days: the membership now ends in 2 days', () => {
      given([added(DISCOUNT_30, addedAt)])
        .when(update([{ slug: 'AVITO_DISCOUNT_30', expiry: { ttlSeconds: 172_800 } }]), now, [DISCOUNT_30])
        .then([expiryChanged(DISCOUNT_30, in2Days, null)]);
    });

    it('user 1000 in AVITO_DISCOUNT_30 for 2 days, re-added by plain slug or with the same expiry: nothing happens', () => {
      const history = [added(DISCOUNT_30, addedAt, in2Days)];
      given(history).when(update(['AVITO_DISCOUNT_30']), now, [DISCOUNT_30]).then([]);
      given(history)
        .when(update([{ slug: 'AVITO_DISCOUNT_30', expiry: { expiresAt: in2Days.toISOString() } }]), now, [DISCOUNT_30])
        .then([]);
    });

    it('after a renewal the membership outlives its first expiry', () => {
      const oldExpiry = new Date(now.getTime() + DAY);
      const state = [added(DISCOUNT_30, addedAt, oldExpiry), expiryChanged(DISCOUNT_30, in2Days, oldExpiry)].reduce(evolveUser, initialUserState);
      expect(activeMemberships(state, new Date(oldExpiry.getTime() + 1)).map((m) => m.expiresAt)).toEqual([in2Days.toISOString()]);
      expect(activeMemberships(state, in2Days)).toEqual([]);
    });

    describe('the timer expiring a due membership', () => {
      const expiresAt = new Date(now.getTime() - DAY);

      it('user 1000 added to AVITO_DISCOUNT_30 for 2 days leaves it with reason expired at the expiry moment, not at the timer\'s', () => {
        given([added(DISCOUNT_30, addedAt, expiresAt)])
          .when(expire(DISCOUNT_30, expiresAt), now)
          .then([removed(DISCOUNT_30, expiresAt, 'expired')]);
      });

      it('a membership removed by hand before its expiry is left alone', () => {
        given([added(DISCOUNT_30, addedAt, expiresAt), removed(DISCOUNT_30, addedAt)]).when(expire(DISCOUNT_30, expiresAt), now).then([]);
      });

      it('a membership already expired is not expired twice', () => {
        given([added(DISCOUNT_30, addedAt, expiresAt), removed(DISCOUNT_30, expiresAt, 'expired')])
          .when(expire(DISCOUNT_30, expiresAt), now)
          .then([]);
      });

      it('a membership renewed since the timer looked is left alone', () => {
        const renewed = new Date(now.getTime() + DAY);
        given([added(DISCOUNT_30, addedAt, expiresAt), expiryChanged(DISCOUNT_30, renewed, expiresAt)])
          .when(expire(DISCOUNT_30, expiresAt), now)
          .then([]);
      });

      it('a membership made permanent since the timer looked is left alone', () => {
        given([added(DISCOUNT_30, addedAt, expiresAt), expiryChanged(DISCOUNT_30, null, expiresAt)]).when(expire(DISCOUNT_30, expiresAt), now).then([]);
      });

      it('a membership not yet due by the decision\'s clock is left alone', () => {
        const later = new Date(now.getTime() + DAY);
        given([added(DISCOUNT_30, addedAt, later)]).when(expire(DISCOUNT_30, later), now).then([]);
      });

      it('user 1000 with AVITO_DISCOUNT_30 and AVITO_DISCOUNT_50 both due leaves each at its own expiry', () => {
        const earlier = new Date(expiresAt.getTime() - DAY);
        given([added(DISCOUNT_30, addedAt, earlier), added(DISCOUNT_50, addedAt, expiresAt)])
          .when(
            {
              type: 'ExpireMemberships',
              data: {
                userId: USER,
                due: [
                  { segmentId: DISCOUNT_30.segmentId, expiresAt: earlier.toISOString() },
                  { segmentId: DISCOUNT_50.segmentId, expiresAt: expiresAt.toISOString() },
                ],
              },
            },
            now,
          )
          .then([removed(DISCOUNT_30, earlier, 'expired'), removed(DISCOUNT_50, expiresAt, 'expired')]);
      });

      it('a membership of a deleted and re-created slug is not the one the timer found', () => {
        given([added(DISCOUNT_30, addedAt, expiresAt)]).when(expire(OLD_DISCOUNT_30, expiresAt), now).then([]);
      });
    });
  });
});
