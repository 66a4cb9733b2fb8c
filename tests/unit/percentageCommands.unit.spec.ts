// Commands around percentage segments: PATCH of a segment, and explicit adds and removals of
// users whom a percentage includes (given events, when a command, then these events).
import { decideSegment, evolveSegment, initialSegmentState } from '../../src/domain/segment';
import { changedSegments, decideUser, type UserCommand } from '../../src/domain/decideUser';
import { evolveUser, initialUserState, type LiveSegment } from '../../src/domain/userMemberships';
import { SegmentNotFoundError } from '../../src/domain/errors';
import type { MembershipEvent } from '../../src/events/membershipEvents';
import type { SegmentEvent } from '../../src/events/segmentEvents';

const now = new Date('2026-11-23T09:30:00.000Z');
const SEGMENT_ID = '6f1c2a4e-0000-4000-8000-000000000001';
const created: SegmentEvent = {
  type: 'SegmentCreated',
  data: {
    segmentId: SEGMENT_ID,
    slug: 'AVITO_VOICE_MESSAGES',
    description: 'Voice messages in chats',
    autoAssignPercent: 10,
    rolloutSeed: 'a1b2c3d4e5f60718',
    createdAt: '2026-11-20T00:00:00.000Z',
  },
};
const updated = (description: string | null, autoAssignPercent: number | null): SegmentEvent => ({
  type: 'SegmentUpdated',
  data: { segmentId: SEGMENT_ID, slug: 'AVITO_VOICE_MESSAGES', description, autoAssignPercent, updatedAt: now.toISOString() },
});

describe('UpdateSegment', () => {
  const decide = (history: SegmentEvent[], data: { description?: string | null; autoAssignPercent?: number | null }) =>
    decideSegment({ type: 'UpdateSegment', data: { slug: 'AVITO_VOICE_MESSAGES', ...data } }, history.reduce(evolveSegment, initialSegmentState), now);

  it('a raise is recorded with both values after the change; the description stays', () => {
    expect(decide([created], { autoAssignPercent: 20 })).toEqual([updated('Voice messages in chats', 20)]);
  });

  it('null turns the percentage off; the description can change alone', () => {
    expect(decide([created], { autoAssignPercent: null })).toEqual([updated('Voice messages in chats', null)]);
    expect(decide([created], { description: 'Voice' })).toEqual([updated('Voice', 10)]);
  });

  it('a change to the values it already has records nothing', () => {
    expect(decide([created], { autoAssignPercent: 10, description: 'Voice messages in chats' })).toEqual([]);
  });

  it('keeps the seed: the stream folds to the new percentage with the seed of the creation', () => {
    const state = [created, updated('Voice', 20)].reduce(evolveSegment, initialSegmentState);
    expect(state).toMatchObject({ status: 'live', autoAssignPercent: 20, description: 'Voice', rolloutSeed: 'a1b2c3d4e5f60718' });
  });

  it('a segment that does not exist, or was deleted, is 404', () => {
    expect(() => decide([], { autoAssignPercent: 20 })).toThrow(SegmentNotFoundError);
    const deletion: SegmentEvent = { type: 'SegmentDeleted', data: { segmentId: SEGMENT_ID, slug: 'AVITO_VOICE_MESSAGES', deletedAt: now.toISOString() } };
    expect(() => decide([created, deletion], { autoAssignPercent: 20 })).toThrow(SegmentNotFoundError);
  });
});

describe('explicit changes of users a percentage includes', () => {
  // Seed a1b2c3d4e5f60718: user 1004 is in bucket 1420, user 1000 in bucket 9568.
  const VOICE_20: LiveSegment = { slug: 'AVITO_VOICE_MESSAGES', segmentId: SEGMENT_ID, percentage: { seed: 'a1b2c3d4e5f60718', percent: 20 } };
  const IN = 1004;
  const OUT = 1000;
  const update = (userId: number, add: string[], remove: string[]): UserCommand => ({
    type: 'UpdateUserSegments',
    data: { userId, add: add.map((slug) => ({ slug })), remove, reason: 'manual' },
  });
  const decide = (history: MembershipEvent[], command: UserCommand) => {
    const before = history.reduce(evolveUser, initialUserState);
    const segments = new Map([[VOICE_20.slug, VOICE_20]]);
    const events = decideUser(command, before, { now, segments });
    return { events, ...changedSegments(events, before, segments, command.data.userId) };
  };
  const optOut = (userId: number): MembershipEvent => ({
    type: 'AutoMembershipOptedOut',
    data: { userId, segmentId: SEGMENT_ID, slug: 'AVITO_VOICE_MESSAGES', reason: 'manual', effectiveAt: now.toISOString() },
  });
  const manual = (userId: number): MembershipEvent => ({
    type: 'MembershipAdded',
    data: { userId, segmentId: SEGMENT_ID, slug: 'AVITO_VOICE_MESSAGES', expiresAt: null, reason: 'manual', addedAt: now.toISOString() },
  });

  it('removing an automatic member records an opt-out, listed as removed', () => {
    expect(decide([], update(IN, [], ['AVITO_VOICE_MESSAGES']))).toEqual({ events: [optOut(IN)], added: [], removed: ['AVITO_VOICE_MESSAGES'] });
  });

  it('removing a user outside the percentage who is no member changes nothing', () => {
    expect(decide([], update(OUT, [], ['AVITO_VOICE_MESSAGES']))).toEqual({ events: [], added: [], removed: [] });
  });

  it('removing a manual member of a percentage segment also opts them out, so no later raise brings them back', () => {
    const { events, removed } = decide([manual(OUT)], update(OUT, [], ['AVITO_VOICE_MESSAGES']));
    expect(events.map((event) => event.type)).toEqual(['MembershipRemoved', 'AutoMembershipOptedOut']);
    expect(removed).toEqual(['AVITO_VOICE_MESSAGES']);
  });

  it('removing a user who opted out already changes nothing', () => {
    expect(decide([optOut(IN)], update(IN, [], ['AVITO_VOICE_MESSAGES'])).events).toEqual([]);
  });

  it('an explicit add of an automatic member makes them a manual member, not listed as added', () => {
    expect(decide([], update(IN, ['AVITO_VOICE_MESSAGES'], []))).toEqual({ events: [manual(IN)], added: [], removed: [] });
  });

  it('a time-limited add of an automatic member is a manual membership with that expiry, and its expiry records no opt-out', () => {
    const command: UserCommand = {
      type: 'UpdateUserSegments',
      data: { userId: IN, add: [{ slug: 'AVITO_VOICE_MESSAGES', expiry: { ttlSeconds: 60 } }], remove: [], reason: 'manual' },
    };
    const { events, added } = decide([], command);
    expect(events).toEqual([
      { ...manual(IN), data: { ...manual(IN).data, expiresAt: new Date(now.getTime() + 60_000).toISOString() } },
    ]);
    expect(added).toEqual([]);
    const later = new Date(now.getTime() + 120_000);
    const state = events.reduce(evolveUser, initialUserState);
    const expiry = decideUser(
      { type: 'ExpireMemberships', data: { userId: IN, due: [{ segmentId: SEGMENT_ID, expiresAt: new Date(now.getTime() + 60_000).toISOString() }] } },
      state,
      { now: later, segments: new Map() },
    );
    expect(expiry.map((event) => event.type)).toEqual(['MembershipRemoved']);
    expect(expiry.reduce(evolveUser, state).optedOut.size).toBe(0);
  });

  it('an explicit add of a user who opted out makes them a manual member again', () => {
    expect(decide([optOut(IN)], update(IN, ['AVITO_VOICE_MESSAGES'], []))).toEqual({
      events: [manual(IN)],
      added: ['AVITO_VOICE_MESSAGES'],
      removed: [],
    });
  });
});
