// The one rule for "which segments is user 1004 in at moment t": explicit memberships that have
// not expired, plus percentage segments that include the user and that they did not opt out of,
// an explicit membership winning, sorted by slug.
import { bucketOf } from '../../src/domain/percentage';
import type { OptOut, PercentageChange, PercentageTimeline } from '../../src/domain/percentageMembership';
import { userSegmentsAt, type ExplicitMembership, type UserSegment } from '../../src/domain/userSegments';

// With this seed user 1004 is in bucket 1420 (docs/percentage-assignment.md): in from 14.21 %.
const SEED = 'a1b2c3d4e5f60718';
const USER = 1004;
const day = (n: number) => new Date(Date.UTC(2026, 10, n, 12));
const T = day(10);

const VOICE = { segmentId: '0b7a9c10-0000-4000-8000-0000000000a1', slug: 'AVITO_VOICE_MESSAGES' };
const DISCOUNT_30 = { segmentId: '0b7a9c10-0000-4000-8000-000000000030', slug: 'AVITO_DISCOUNT_30' };

const explicit = (segment: typeof VOICE, addedAt: Date, expiresAt: Date | null = null): ExplicitMembership => ({ ...segment, addedAt, expiresAt });
const set = (at: Date, percent: number | null): PercentageChange => ({ at, percent, deleted: false });
const deletion = (at: Date): PercentageChange => ({ at, percent: null, deleted: true });
const timeline = (segment: typeof VOICE, ...changes: PercentageChange[]): PercentageTimeline => ({ ...segment, rolloutSeed: SEED, changes });
const optOut = (segment: typeof VOICE, at: Date): OptOut => ({ segmentId: segment.segmentId, at, reason: 'manual' });
const manual = (segment: typeof VOICE, addedAt: Date, expiresAt: Date | null = null): UserSegment => ({ slug: segment.slug, source: 'manual', addedAt, expiresAt });
const auto = (segment: typeof VOICE, addedAt: Date): UserSegment => ({ slug: segment.slug, source: 'auto', addedAt, expiresAt: null });

interface Case {
  memberships?: ExplicitMembership[];
  timelines?: PercentageTimeline[];
  optOuts?: OptOut[];
  expected: UserSegment[];
}

const cases: Array<[string, Case]> = [
  ['no membership and no percentage: none', { expected: [] }],
  ['a permanent explicit membership: manual', { memberships: [explicit(VOICE, day(1))], expected: [manual(VOICE, day(1))] }],
  ['an explicit membership expiring after t: manual, with its end', { memberships: [explicit(VOICE, day(1), day(11))], expected: [manual(VOICE, day(1), day(11))] }],
  ['an explicit membership expiring at t: gone (the end is exclusive)', { memberships: [explicit(VOICE, day(1), T)], expected: [] }],
  ['an explicit membership that expired before t: gone', { memberships: [explicit(VOICE, day(1), day(5))], expected: [] }],
  ['a percentage that covers the user’s bucket: auto, since the creation', { timelines: [timeline(VOICE, set(day(2), 50))], expected: [auto(VOICE, day(2))] }],
  ['a percentage below the user’s bucket: none', { timelines: [timeline(VOICE, set(day(2), 10))], expected: [] }],
  ['a percentage raised over the user’s bucket: auto, since the raise', { timelines: [timeline(VOICE, set(day(2), 10), set(day(4), 20))], expected: [auto(VOICE, day(4))] }],
  ['a raise after t: not yet', { timelines: [timeline(VOICE, set(day(2), 10), set(day(12), 20))], expected: [] }],
  ['a percentage lowered under the user’s bucket before t: none', { timelines: [timeline(VOICE, set(day(2), 50), set(day(4), 14.2))], expected: [] }],
  ['a percentage turned off: none', { timelines: [timeline(VOICE, set(day(2), 50), set(day(4), null))], expected: [] }],
  ['opted out of the percentage before t: none', { timelines: [timeline(VOICE, set(day(2), 50))], optOuts: [optOut(VOICE, day(5))], expected: [] }],
  ['opted out after t: still in at t', { timelines: [timeline(VOICE, set(day(2), 50))], optOuts: [optOut(VOICE, day(12))], expected: [auto(VOICE, day(2))] }],
  ['opted out, then the percentage raised: never in again', { timelines: [timeline(VOICE, set(day(2), 10), set(day(6), 90))], optOuts: [optOut(VOICE, day(5))], expected: [] }],
  ['a percentage segment deleted before t: none', { timelines: [timeline(VOICE, set(day(2), 50), deletion(day(6)))], expected: [] }],
  ['a percentage segment deleted after t: in at t', { timelines: [timeline(VOICE, set(day(2), 50), deletion(day(12)))], expected: [auto(VOICE, day(2))] }],
  [
    'an explicit member the percentage also covers: one entry, manual',
    { memberships: [explicit(VOICE, day(3), day(20))], timelines: [timeline(VOICE, set(day(2), 50))], expected: [manual(VOICE, day(3), day(20))] },
  ],
  [
    'an expired explicit membership the percentage still covers: auto',
    { memberships: [explicit(VOICE, day(3), day(5))], timelines: [timeline(VOICE, set(day(2), 50))], expected: [auto(VOICE, day(2))] },
  ],
  [
    'both ways at once, sorted by slug',
    { memberships: [explicit(VOICE, day(3))], timelines: [timeline(DISCOUNT_30, set(day(2), 50))], expected: [auto(DISCOUNT_30, day(2)), manual(VOICE, day(3))] },
  ],
];

describe('userSegmentsAt', () => {
  it('user 1004 is in bucket 1420 of the test seed', () => {
    expect(bucketOf(SEED, USER)).toBe(1420);
  });

  it.each(cases)('%s', (_, { memberships = [], timelines = [], optOuts = [], expected }) => {
    expect(userSegmentsAt({ userId: USER, memberships, timelines, optOuts }, T)).toEqual(expected);
  });
});
