// A plain in-memory model of what the service promises about segments, explicit memberships and
// percentage segments, written from the README's rules and not from src/: the model-based test
// (tests/e2e/membershipModel.e2e.spec.ts) runs the same commands against it and the real service
// and compares their answers. Which bucket a user falls in is the rule's input, not the rule, so
// the model takes it from src/domain/percentage.ts. Times are ms.
import { bucketOf } from '../../src/domain/percentage';

export type Reason = 'manual' | 'bulk' | 'expired' | 'segment_deleted' | 'auto';

export interface HistoryEntry {
  slug: string;
  operation: 'added' | 'removed';
  reason: Reason;
  at: number;
}

export interface SegmentAnswer {
  slug: string;
  source: 'manual' | 'auto';
  addedAt: number;
  expiresAt: number | null;
}

/** How an add sets the end of a membership: absent keeps an active one's end (a new one is permanent). */
export type Expiry = { ttlSeconds: number } | { permanent: true };

export interface AddEntry {
  slug: string;
  expiry?: Expiry;
}

export type UpdateOutcome =
  | { status: 200; added: string[]; removed: string[]; segments: SegmentAnswer[] }
  | { status: 400 }
  | { status: 422; slugs: string[] };

export type BulkOutcome = { status: 200; added: number; removed: number } | { status: 400 } | { status: 404 };

/** One stay of a user in a segment, for answers about a past moment. */
interface Stay {
  slug: string;
  addedAt: number;
  /** The end in force from each moment on: the add's, then each renewal's. */
  ends: Array<{ from: number; expiresAt: number | null }>;
  /** When the stay's end was recorded to have happened; null while it is recorded as going on. */
  endedAt: number | null;
}

/** One life of a slug, from its creation to its deletion, with its percentage over time. */
interface Incarnation {
  slug: string;
  seed: string;
  deletedAt: number | null;
  /** The creation's percentage (if any) and every PATCH of it, in order; null: off. */
  percents: Array<{ at: number; percent: number | null }>;
  /** Users who removed themselves while in: never again in by percentage. */
  optOuts: Map<number, { at: number; reason: 'manual' | 'bulk' }>;
}

/** When the percentage took the user in, and when and why it let them go (null: still in). */
interface AutoInterval {
  slug: string;
  from: number;
  to: number | null;
  reason: Reason;
}

const endAt = (stay: Stay, moment: number): number | null => stay.ends.filter((end) => end.from <= moment).at(-1)!.expiresAt;
const isLiveAt = (expiresAt: number | null, moment: number) => expiresAt === null || expiresAt > moment;

export class MembershipModel {
  private readonly liveSlugs = new Set<string>();
  /** Removals of users who were in by percentage only: the CSV lists them, as the user's stream does. */
  private readonly optOutRows = new Map<number, HistoryEntry[]>();
  /** userId → slug → the current stay (an expired one stays here until its expiry is recorded). */
  private readonly current = new Map<number, Map<string, Stay>>();
  private readonly stays = new Map<number, Stay[]>();
  private readonly histories = new Map<number, HistoryEntry[]>();

  /** Every segment created, live or deleted. */
  private readonly incarnations: Incarnation[] = [];

  constructor(public now: number) {}

  advance(ms: number): void {
    this.now += ms;
  }

  isLive(slug: string): boolean {
    return this.liveSlugs.has(slug);
  }

  /** `seed`: the rollout seed the service drew, known once it has answered 201. */
  createSegment(slug: string, percent: number | null = null, seed = ''): 201 | 409 {
    if (this.liveSlugs.has(slug)) return 409;
    this.liveSlugs.add(slug);
    this.incarnations.push({ slug, seed, deletedAt: null, percents: percent === null ? [] : [{ at: this.now, percent }], optOuts: new Map() });
    return 201;
  }

  setPercent(slug: string, percent: number | null): 200 | 404 {
    const segment = this.live(slug);
    if (!segment) return 404;
    segment.percents.push({ at: this.now, percent });
    return 200;
  }

  percentOf(slug: string): number | null {
    return this.live(slug)?.percents.at(-1)?.percent ?? null;
  }

  /** The live segment has had a percentage at some moment of its life. */
  hasHadPercent(slug: string): boolean {
    return (this.live(slug)?.percents.length ?? 0) > 0;
  }

  /** Every member leaves at the deletion; one whose membership had expired by then, at its expiry. */
  deleteSegment(slug: string): 204 | 404 {
    if (!this.liveSlugs.delete(slug)) return 404;
    this.live(slug, true)!.deletedAt = this.now;
    for (const [userId, stays] of this.current) {
      const stay = stays.get(slug);
      if (!stay) continue;
      const expiresAt = endAt(stay, this.now);
      if (isLiveAt(expiresAt, this.now)) this.end(userId, slug, 'segment_deleted', this.now);
      else this.end(userId, slug, 'expired', expiresAt!);
    }
    return 204;
  }

  updateUser(userId: number, add: readonly AddEntry[], remove: readonly string[]): UpdateOutcome {
    const addSlugs = add.map((entry) => entry.slug);
    if (addSlugs.length + remove.length === 0 || addSlugs.some((slug) => remove.includes(slug))) return { status: 400 };
    const unknown = [...new Set([...addSlugs, ...remove].filter((slug) => !this.liveSlugs.has(slug)))];
    if (unknown.length > 0) return { status: 422, slugs: unknown };
    const { added, removed } = this.change(userId, add, remove, 'manual');
    return { status: 200, added, removed, segments: this.segmentsOf(userId) };
  }

  bulk(slug: string, add: readonly number[], remove: readonly number[], expiry: Expiry | undefined): BulkOutcome {
    if (add.length + remove.length === 0 || (add.length === 0 && expiry !== undefined)) return { status: 400 };
    if (!this.liveSlugs.has(slug)) return { status: 404 };
    let added = 0;
    let removed = 0;
    for (const userId of add) added += this.change(userId, [{ slug, expiry }], [], 'bulk').added.length;
    for (const userId of remove) removed += this.change(userId, [], [slug], 'bulk').removed.length;
    return { status: 200, added, removed };
  }

  /** The expiry timer: every membership past its end is recorded as expired at that end. */
  tickTimer(): void {
    for (const [userId, stays] of this.current) {
      for (const [slug, stay] of [...stays]) {
        const expiresAt = endAt(stay, this.now);
        if (!isLiveAt(expiresAt, this.now)) this.end(userId, slug, 'expired', expiresAt!);
      }
    }
  }

  /** The user's segments at `at` (now by default), sorted by slug: explicit ones, and by percentage where not explicit. */
  segmentsOf(userId: number, at: number = this.now): SegmentAnswer[] {
    const explicit: SegmentAnswer[] = (this.stays.get(userId) ?? [])
      .filter((stay) => stay.addedAt <= at && (stay.endedAt === null || stay.endedAt > at) && isLiveAt(endAt(stay, at), at))
      .map((stay) => ({ slug: stay.slug, source: 'manual' as const, addedAt: stay.addedAt, expiresAt: endAt(stay, at) }));
    const auto: SegmentAnswer[] = this.autoIntervalsOf(userId)
      .filter((interval) => interval.from <= at && (interval.to === null || interval.to > at))
      .filter((interval) => !explicit.some((segment) => segment.slug === interval.slug))
      .map((interval) => ({ slug: interval.slug, source: 'auto' as const, addedAt: interval.from, expiresAt: null }));
    return [...explicit, ...auto].sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
  }

  /**
   * GET /users/{id}/history: the moments the user came into a segment or left it, either way.
   * An entry of one way while the other way keeps the user in (an explicit add of a user the
   * percentage includes, the expiry of such a membership) changes nothing and is not listed.
   */
  historyOf(userId: number): HistoryEntry[] {
    const explicit = this.explicitHistoryOf(userId).map((entry) => ({ entry, way: 'explicit' as const }));
    const auto = this.autoIntervalsOf(userId).flatMap((interval) => [
      { entry: { slug: interval.slug, operation: 'added' as const, reason: 'auto' as const, at: interval.from }, way: 'auto' as const },
      ...(interval.to === null ? [] : [{ entry: { slug: interval.slug, operation: 'removed' as const, reason: interval.reason, at: interval.to }, way: 'auto' as const }]),
    ]);
    // In time order; at one moment explicit changes first, and a percentage's exit before its entry.
    const rank = ({ entry, way }: { entry: HistoryEntry; way: 'explicit' | 'auto' }) => (way === 'explicit' ? 0 : entry.operation === 'removed' ? 1 : 2);
    const ordered = [...explicit, ...auto].map((item, index) => ({ ...item, index }))
      .sort((a, b) => a.entry.at - b.entry.at || rank(a) - rank(b) || a.index - b.index);
    const ways = new Map<string, { explicit: boolean; auto: boolean }>();
    const history: HistoryEntry[] = [];
    for (const { entry, way } of ordered) {
      const before = ways.get(entry.slug) ?? { explicit: false, auto: false };
      const after = { ...before, [way]: entry.operation === 'added' };
      ways.set(entry.slug, after);
      if ((before.explicit || before.auto) !== (after.explicit || after.auto)) history.push(entry);
    }
    return history;
  }

  /** The CSV's rows: every recorded change of explicit membership, and the opt-outs of users in by percentage only. */
  reportRowsOf(userId: number): HistoryEntry[] {
    return [...this.explicitHistoryOf(userId), ...(this.optOutRows.get(userId) ?? [])].sort((a, b) => a.at - b.at);
  }

  /** Recorded changes of explicit membership, in time order (the order recorded at one moment). */
  private explicitHistoryOf(userId: number): HistoryEntry[] {
    return [...(this.histories.get(userId) ?? [])].sort((a, b) => a.at - b.at);
  }

  private live(slug: string, evenIfDeleting = false): Incarnation | undefined {
    return this.incarnations.find((segment) => segment.slug === slug && segment.deletedAt === null && (evenIfDeleting || this.liveSlugs.has(slug)));
  }

  /** When each percentage included the user: from a change that takes their bucket in until one that does not, their opt-out or the deletion. */
  private autoIntervalsOf(userId: number): AutoInterval[] {
    const intervals: AutoInterval[] = [];
    for (const segment of this.incarnations) {
      const bucket = bucketOf(segment.seed, userId);
      const optOut = segment.optOuts.get(userId);
      let from: number | null = null;
      for (const { at, percent } of segment.percents) {
        if (optOut && at >= optOut.at) break;
        const inside = percent !== null && bucket < percent * 100;
        if (inside && from === null) from = at;
        if (!inside && from !== null) {
          intervals.push({ slug: segment.slug, from, to: at, reason: 'auto' });
          from = null;
        }
      }
      if (from === null) continue;
      if (optOut) intervals.push({ slug: segment.slug, from, to: optOut.at, reason: optOut.reason });
      else if (segment.deletedAt !== null) intervals.push({ slug: segment.slug, from, to: segment.deletedAt, reason: 'segment_deleted' });
      else intervals.push({ slug: segment.slug, from, to: null, reason: 'auto' });
    }
    return intervals;
  }

  private inByPercentNow(userId: number, slug: string): boolean {
    return this.autoIntervalsOf(userId).some((interval) => interval.slug === slug && interval.from <= this.now && interval.to === null);
  }

  /** A live segment's unexpired members, ordered by user id. */
  membersOf(slug: string): Array<{ userId: number; addedAt: number; expiresAt: number | null }> {
    return [...this.current]
      .flatMap(([userId, stays]) => {
        const stay = stays.get(slug);
        const expiresAt = stay && endAt(stay, this.now);
        return stay && isLiveAt(expiresAt!, this.now) ? [{ userId, addedAt: stay.addedAt, expiresAt: expiresAt! }] : [];
      })
      .sort((a, b) => a.userId - b.userId);
  }

  /** Removals first, then adds; a membership found past its end is first recorded as expired. */
  private change(userId: number, add: readonly AddEntry[], remove: readonly string[], reason: 'manual' | 'bulk') {
    const added: string[] = [];
    const removed: string[] = [];
    for (const slug of remove) {
      const explicit = this.activeStay(userId, slug) !== undefined;
      const auto = this.inByPercentNow(userId, slug);
      if (explicit) this.end(userId, slug, reason, this.now);
      // A removal from a segment with a percentage keeps the user out of it for good.
      const segment = this.live(slug)!;
      if ((explicit || auto) && this.percentOf(slug) !== null && !segment.optOuts.has(userId)) {
        segment.optOuts.set(userId, { at: this.now, reason });
        if (!explicit) this.optOutRows.set(userId, [...(this.optOutRows.get(userId) ?? []), { slug, operation: 'removed', reason, at: this.now }]);
      }
      if (explicit || auto) removed.push(slug);
    }
    for (const { slug, expiry } of add) {
      const expiresAt = expiry === undefined ? undefined : 'permanent' in expiry ? null : this.now + expiry.ttlSeconds * 1000;
      const stay = this.activeStay(userId, slug);
      if (stay) {
        // A renewal: the membership goes on with its new end, and the history shows nothing.
        if (expiresAt !== undefined && expiresAt !== endAt(stay, this.now)) stay.ends.push({ from: this.now, expiresAt });
        continue;
      }
      const auto = this.inByPercentNow(userId, slug);
      this.start(userId, slug, reason, expiresAt ?? null);
      if (!auto) added.push(slug); // in by percentage already: now explicitly, but nothing was added

    }
    return { added, removed };
  }

  private activeStay(userId: number, slug: string): Stay | undefined {
    const stay = this.current.get(userId)?.get(slug);
    if (!stay) return undefined;
    const expiresAt = endAt(stay, this.now);
    if (isLiveAt(expiresAt, this.now)) return stay;
    this.end(userId, slug, 'expired', expiresAt!);
    return undefined;
  }

  private start(userId: number, slug: string, reason: 'manual' | 'bulk', expiresAt: number | null): void {
    const stay: Stay = { slug, addedAt: this.now, ends: [{ from: this.now, expiresAt }], endedAt: null };
    if (!this.current.has(userId)) this.current.set(userId, new Map());
    this.current.get(userId)!.set(slug, stay);
    this.stays.set(userId, [...(this.stays.get(userId) ?? []), stay]);
    this.record(userId, { slug, operation: 'added', reason, at: this.now });
  }

  private end(userId: number, slug: string, reason: Reason, at: number): void {
    const stay = this.current.get(userId)!.get(slug)!;
    stay.endedAt = at;
    this.current.get(userId)!.delete(slug);
    this.record(userId, { slug, operation: 'removed', reason, at });
  }

  private record(userId: number, entry: HistoryEntry): void {
    this.histories.set(userId, [...(this.histories.get(userId) ?? []), entry]);
  }
}
