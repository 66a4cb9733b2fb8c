import { combineHistories, type HistoryEntry } from '../../src/domain/membershipHistory';

const at = (day: number) => new Date(Date.UTC(2023, 7, day));
const entry = (day: number, operation: 'added' | 'removed', reason: HistoryEntry['reason'], slug = 'S'): HistoryEntry => ({
  slug,
  operation,
  reason,
  at: at(day),
});

describe('combining explicit and automatic history', () => {
  it('given a user in automatically, when an explicit membership comes and goes, then nothing changed for them', () => {
    const manual = [entry(2, 'added', 'manual'), entry(3, 'removed', 'expired')];
    const auto = [entry(1, 'added', 'auto')];
    expect(combineHistories(manual, auto)).toEqual([entry(1, 'added', 'auto')]);
  });

  it('given an explicit member, when the percentage takes them in and out, then nothing changed for them', () => {
    const manual = [entry(1, 'added', 'manual'), entry(5, 'removed', 'manual')];
    const auto = [entry(2, 'added', 'auto'), entry(3, 'removed', 'auto')];
    expect(combineHistories(manual, auto)).toEqual(manual);
  });

  it('given both, when the segment is deleted, then one removal', () => {
    const manual = [entry(1, 'added', 'manual'), entry(4, 'removed', 'segment_deleted')];
    const auto = [entry(2, 'added', 'auto'), entry(4, 'removed', 'segment_deleted')];
    expect(combineHistories(manual, auto)).toEqual([entry(1, 'added', 'manual'), entry(4, 'removed', 'segment_deleted')]);
  });

  it('given both, when the explicit membership ends before the automatic one, then the removal is when the last ends', () => {
    const manual = [entry(1, 'added', 'bulk'), entry(3, 'removed', 'expired')];
    const auto = [entry(2, 'added', 'auto'), entry(6, 'removed', 'auto')];
    expect(combineHistories(manual, auto)).toEqual([entry(1, 'added', 'bulk'), entry(6, 'removed', 'auto')]);
  });

  it('keeps segments apart', () => {
    const manual = [entry(1, 'added', 'manual', 'A')];
    const auto = [entry(1, 'added', 'auto', 'B'), entry(2, 'removed', 'auto', 'B')];
    expect(combineHistories(manual, auto)).toEqual([entry(1, 'added', 'manual', 'A'), entry(1, 'added', 'auto', 'B'), entry(2, 'removed', 'auto', 'B')]);
  });
});
