// The in-process view of an API process: every user's active explicit memberships and opt-outs,
// and the segments with their percentage timelines. It is a read model like the PostgreSQL one and
// follows the same rules (readModelRules.ts); it answers "which segments is this user in now"
// without a database round trip (queries/userSegments.ts).
//
// Memory: a user's memberships are one plain array of numbers, three per membership (segment
// index, added-at and expires-at in ms, Infinity for none), replaced whole on every change, in one
// of 16 maps keyed by user id (a V8 Map holds at most 2^24 entries). About 50 bytes a membership
// at a million users with three each (docs/benchmarks.md).
import type { OptOut, PercentageChange, PercentageTimeline } from '../../domain/percentageMembership';
import { rolloutSeedOf } from '../../domain/percentage';
import type { ExplicitMembership, UserSegmentFacts } from '../../domain/userSegments';
import type { SegmentCreated, SegmentDeleted, SegmentUpdated } from '../../events/segmentEvents';
import type { MembershipRun, ReadModelTarget } from '../readModel/readModelRules';

export interface ViewSegment {
  readonly index: number;
  readonly segmentId: string;
  readonly slug: string;
  readonly rolloutSeed: string;
  percent: number | null;
  deleted: boolean;
  /** The percentage timeline; empty for a segment that never had a percentage. */
  readonly changes: PercentageChange[];
  /** Users with an explicit membership now, so that a deletion skips the scan when there are none. */
  members: number;
}

const SHARDS = 16;
const STRIDE = 3;
const NONE = Infinity;

const ms = (iso: string | null): number => (iso === null ? NONE : Date.parse(iso));

export class MembershipView implements ReadModelTarget<void> {
  private readonly segmentsById = new Map<string, ViewSegment>();
  private readonly segments: ViewSegment[] = [];
  private readonly users: Array<Map<number, number[]>> = Array.from({ length: SHARDS }, () => new Map());
  private readonly optOuts = new Map<number, OptOut[]>();
  private liveTimelines: PercentageTimeline[] | undefined;
  private membershipCount = 0;

  /** Explicit memberships held (expired ones included until their removal is recorded). */
  get membershipTotal(): number {
    return this.membershipCount;
  }

  get userCount(): number {
    return this.users.reduce((sum, shard) => sum + shard.size, 0);
  }

  /** What the domain computes a user's segments from (domain/userSegments.ts), as of the view's position. */
  factsOf(userId: number, now: Date): UserSegmentFacts {
    const entries = this.shardOf(userId).get(userId);
    const memberships: ExplicitMembership[] = [];
    if (entries) {
      const nowMs = now.getTime();
      for (let i = 0; i < entries.length; i += STRIDE) {
        const expiresAt = entries[i + 2]!;
        if (expiresAt <= nowMs) continue;
        const segment = this.segments[entries[i]!]!;
        memberships.push({
          segmentId: segment.segmentId,
          slug: segment.slug,
          addedAt: new Date(entries[i + 1]!),
          expiresAt: expiresAt === NONE ? null : new Date(expiresAt),
        });
      }
    }
    return { userId, memberships, timelines: this.timelines(), optOuts: this.optOuts.get(userId) ?? [] };
  }

  /** For a write's answer: which of these segments are deleted, and the live percentage segments. */
  segmentFacts(segmentIds: readonly string[]): { deleted: ReadonlySet<string>; timelines: readonly PercentageTimeline[] } {
    const deleted = new Set(segmentIds.filter((segmentId) => this.segmentsById.get(segmentId)?.deleted === true));
    return { deleted, timelines: this.timelines() };
  }

  // --- loading (memoryView/viewSnapshot.ts) -------------------------------------------------

  /** A segment as the read model holds it, with its percentage timeline in order. */
  loadSegment(segment: Omit<ViewSegment, 'index' | 'members'>): ViewSegment {
    const loaded: ViewSegment = { ...segment, index: this.segments.length, members: 0 };
    this.segments.push(loaded);
    this.segmentsById.set(loaded.segmentId, loaded);
    this.liveTimelines = undefined;
    return loaded;
  }

  segmentIndexOf(segmentId: string): number | undefined {
    return this.segmentsById.get(segmentId)?.index;
  }

  /** A user's memberships as three numbers each: segment index, added at, expires at (ms; Infinity: none). */
  loadUser(userId: number, entries: number[]): void {
    const shard = this.shardOf(userId);
    const before = shard.get(userId) ?? [];
    // A user's rows need not come together: later ones join the earlier.
    this.setEntries(shard, userId, before, before.length === 0 ? entries : [...before, ...entries]);
  }

  loadOptOut(userId: number, optOut: OptOut): void {
    const existing = this.optOuts.get(userId);
    if (existing?.some((candidate) => candidate.segmentId === optOut.segmentId)) return;
    this.optOuts.set(userId, existing ? [...existing, optOut] : [optOut]);
  }

  // --- the read model's rules (readModelRules.ts) -------------------------------------------

  segmentCreated(data: SegmentCreated['data']): void {
    if (this.segmentsById.has(data.segmentId)) return;
    const { segmentId, slug, autoAssignPercent, createdAt } = data;
    this.loadSegment({
      segmentId,
      slug,
      rolloutSeed: rolloutSeedOf(data),
      percent: autoAssignPercent,
      deleted: false,
      changes: autoAssignPercent === null ? [] : [{ at: new Date(createdAt), percent: autoAssignPercent, deleted: false }],
    });
  }

  segmentUpdated(data: SegmentUpdated['data']): void {
    const segment = this.segmentsById.get(data.segmentId);
    if (!segment) return;
    if (segment.percent !== data.autoAssignPercent) {
      segment.changes.push({ at: new Date(data.updatedAt), percent: data.autoAssignPercent, deleted: false });
    }
    segment.percent = data.autoAssignPercent;
    this.liveTimelines = undefined;
  }

  segmentDeleted(data: SegmentDeleted['data']): void {
    const segment = this.segmentsById.get(data.segmentId);
    if (!segment) return;
    segment.deleted = true;
    if (segment.changes.length > 0) segment.changes.push({ at: new Date(data.deletedAt), percent: null, deleted: true });
    this.liveTimelines = undefined;
    if (segment.members === 0) return;
    for (const shard of this.users) {
      for (const [userId, entries] of shard) {
        if (indexOfSegment(entries, segment.index) >= 0) this.setEntries(shard, userId, entries, without(entries, segment.index));
      }
    }
  }

  memberships(run: MembershipRun): void {
    for (const optOut of run.optOuts) {
      this.loadOptOut(optOut.userId, { segmentId: optOut.segmentId, at: new Date(optOut.effectiveAt), reason: optOut.reason });
    }
    for (const update of run.expiryUpdates.values()) {
      const shard = this.shardOf(update.userId);
      const entries = shard.get(update.userId);
      const index = this.segmentIndexOf(update.segmentId);
      const at = entries && index !== undefined ? indexOfSegment(entries, index) : -1;
      if (at < 0) continue;
      const changed = entries!.slice();
      changed[at + 2] = ms(update.expiresAt);
      shard.set(update.userId, changed);
    }
    for (const final of run.finals.values()) {
      const shard = this.shardOf(final.userId);
      const entries = shard.get(final.userId) ?? [];
      let segment = this.segmentsById.get(final.segmentId);
      if (final.present && !segment) {
        // Not seen created (events before the view's snapshot would have brought it): a live segment.
        segment = this.loadSegment({ segmentId: final.segmentId, slug: final.slug, rolloutSeed: rolloutSeedOf(final), percent: null, deleted: false, changes: [] });
      }
      if (!segment) continue;
      const rest = without(entries, segment.index);
      // A membership added to a deleted segment stays invisible: the deletion sweep records its removal.
      const next = final.present && !segment.deleted ? [...rest, segment.index, Date.parse(final.addedAt), ms(final.expiresAt)] : rest;
      this.setEntries(shard, final.userId, entries, next);
    }
  }

  // ------------------------------------------------------------------------------------------

  private timelines(): PercentageTimeline[] {
    this.liveTimelines ??= this.segments
      .filter((segment) => !segment.deleted && segment.percent !== null)
      .map(({ segmentId, slug, rolloutSeed, changes }) => ({ segmentId, slug, rolloutSeed, changes: [...changes] }));
    return this.liveTimelines;
  }

  private shardOf(userId: number): Map<number, number[]> {
    return this.users[Math.abs(userId) % SHARDS]!;
  }

  /** Replaces a user's entries, keeping the member counts right; no entries, no user. */
  private setEntries(shard: Map<number, number[]>, userId: number, before: number[], after: number[]): void {
    for (let i = 0; i < before.length; i += STRIDE) this.segments[before[i]!]!.members--;
    for (let i = 0; i < after.length; i += STRIDE) this.segments[after[i]!]!.members++;
    this.membershipCount += (after.length - before.length) / STRIDE;
    if (after.length === 0) shard.delete(userId);
    else shard.set(userId, after);
  }
}

function indexOfSegment(entries: readonly number[], segmentIndex: number): number {
  for (let i = 0; i < entries.length; i += STRIDE) if (entries[i] === segmentIndex) return i;
  return -1;
}

function without(entries: readonly number[], segmentIndex: number): number[] {
  const at = indexOfSegment(entries, segmentIndex);
  return at < 0 ? (entries as number[]) : [...entries.slice(0, at), ...entries.slice(at + STRIDE)];
}
