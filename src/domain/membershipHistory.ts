// A user's membership history: the entries where the answer of userSegmentsAt changes, from the
// changes of explicit memberships (the audit table) and of membership by percentage.
import { membershipSource } from './userSegments';

export type HistoryReason = 'manual' | 'expired' | 'segment_deleted' | 'auto' | 'bulk';

export interface HistoryEntry {
  slug: string;
  operation: 'added' | 'removed';
  reason: HistoryReason;
  at: Date;
}

/** Interleaves histories that are each in time order; ties keep the order of the arguments. */
export function mergeHistories(...histories: HistoryEntry[][]): HistoryEntry[] {
  return histories.flat().map((entry, index) => ({ entry, index }))
    .sort((a, b) => a.entry.at.getTime() - b.entry.at.getTime() || a.index - b.index)
    .map(({ entry }) => entry);
}

/**
 * The changes of the user's membership in each segment, whichever way they belong to it: a user
 * is in a segment while they are an explicit member OR the percentage includes them. An entry of
 * one source that does not change that (an explicit add while the percentage already includes the
 * user, the expiry of an explicit membership the percentage still covers, the second of two
 * removals by one deletion) is left out, so the history agrees with GET /users/{id}/segments and
 * `?at=` at every moment. Both sources are in time order; ties keep explicit entries first.
 */
export function combineHistories(manual: HistoryEntry[], auto: HistoryEntry[]): HistoryEntry[] {
  const tagged = mergeHistories(
    manual.map((entry) => ({ ...entry, source: 'manual' as const })),
    auto.map((entry) => ({ ...entry, source: 'auto' as const })),
  ) as Array<HistoryEntry & { source: 'manual' | 'auto' }>;
  const state = new Map<string, { manual: boolean; auto: boolean }>();
  const combined: HistoryEntry[] = [];
  for (const { source, ...entry } of tagged) {
    const current = state.get(entry.slug) ?? { manual: false, auto: false };
    const next = { ...current, [source]: entry.operation === 'added' };
    state.set(entry.slug, next);
    const wasIn = membershipSource(current.manual, current.auto) !== null;
    if (wasIn !== (membershipSource(next.manual, next.auto) !== null)) combined.push(entry);
  }
  return combined;
}
