// Intervals of membership by percentage, from a segment's percentage timeline, the user's bucket and
// their opt-outs.
import { bucketOf } from '../../src/domain/percentage';
import { percentageIntervals, type PercentageChange, type PercentageTimeline } from '../../src/domain/percentageMembership';

// With this seed user 1004 is in bucket 1420 (docs/percentage-assignment.md): in from 14.21 %.
const SEED = 'a1b2c3d4e5f60718';
const USER = 1004;
const SEGMENT_ID = '0b7a9c10-0000-4000-8000-0000000000a1';
const t = (day: number) => new Date(Date.UTC(2026, 10, day, 12));
const set = (day: number, percent: number | null): PercentageChange => ({ at: t(day), percent, deleted: false });
const deleted = (day: number): PercentageChange => ({ at: t(day), percent: null, deleted: true });
const timeline = (...changes: PercentageChange[]): PercentageTimeline => ({
  segmentId: SEGMENT_ID,
  slug: 'AVITO_VOICE_MESSAGES',
  rolloutSeed: SEED,
  changes,
});
const spans = (intervals: ReturnType<typeof percentageIntervals>) =>
  intervals.map((interval) => [interval.from.toISOString(), interval.to?.toISOString() ?? null, interval.end?.by ?? null]);

describe('percentageIntervals', () => {
  it('the test user is in bucket 1420', () => {
    expect(bucketOf(SEED, USER)).toBe(1420);
  });

  it('a user inside the percentage at creation is in from the creation, for as long as it lasts', () => {
    expect(spans(percentageIntervals(USER, [timeline(set(1, 20))], []))).toEqual([[t(1).toISOString(), null, null]]);
  });

  it('a user outside the percentage at creation is in from the raise that reached their bucket', () => {
    expect(spans(percentageIntervals(USER, [timeline(set(1, 10), set(3, 14.2), set(5, 14.21), set(7, 50))], []))).toEqual([
      [t(5).toISOString(), null, null],
    ]);
  });

  it('a lower below their bucket ends it; a raise later starts a new interval', () => {
    expect(spans(percentageIntervals(USER, [timeline(set(1, 20), set(3, 15), set(4, 5), set(6, 30))], []))).toEqual([
      [t(1).toISOString(), t(4).toISOString(), 'percentage'],
      [t(6).toISOString(), null, null],
    ]);
  });

  it('turning the percentage off ends it; deleting the segment ends it for good', () => {
    expect(spans(percentageIntervals(USER, [timeline(set(1, 20), set(2, null), set(3, 20), deleted(4))], []))).toEqual([
      [t(1).toISOString(), t(2).toISOString(), 'percentage'],
      [t(3).toISOString(), t(4).toISOString(), 'segment_deleted'],
    ]);
  });

  it('an opt-out ends it, and a later raise does not bring the user back', () => {
    const intervals = percentageIntervals(USER, [timeline(set(1, 20), set(5, 80))], [
      { segmentId: SEGMENT_ID, at: t(3), reason: 'manual' },
    ]);
    expect(spans(intervals)).toEqual([[t(1).toISOString(), t(3).toISOString(), 'opt_out']]);
    expect(intervals[0]!.end).toEqual({ by: 'opt_out', reason: 'manual' });
  });

  it('an opt-out while outside the percentage keeps the user out of later raises', () => {
    expect(percentageIntervals(USER, [timeline(set(1, 5), set(5, 80))], [{ segmentId: SEGMENT_ID, at: t(3), reason: 'bulk' }])).toEqual([]);
  });

  it('an opt-out of another segment changes nothing', () => {
    const other = { segmentId: '0b7a9c10-0000-4000-8000-0000000000ff', at: t(2), reason: 'manual' as const };
    expect(spans(percentageIntervals(USER, [timeline(set(1, 20))], [other]))).toEqual([[t(1).toISOString(), null, null]]);
  });

  it('a user whose bucket is never reached has no interval', () => {
    expect(percentageIntervals(USER, [timeline(set(1, 10), set(2, 14.2), deleted(3))], [])).toEqual([]);
  });
});
