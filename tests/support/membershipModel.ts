// A plain in-memory model of what the service promises about segments and explicit memberships,
// written from the README's rules and not from src/: the model-based test
// (tests/e2e/membershipModel.e2e.spec.ts) runs the same commands against it and the real service
// and compares their answers. Percentage segments and opt-outs are not modelled. Times are ms.

export type Reason = 'manual' | 'bulk' | 'expired' | 'segment_deleted';

export interface HistoryEntry {
  slug: string;
  operation: 'added' | 'removed';
  reason: Reason;
  at: number;
}

export interface SegmentAnswer {
  slug: string;
  source: 'manual';
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

const endAt = (stay: Stay, moment: number): number | null => stay.ends.filter((end) => end.from <= moment).at(-1)!.expiresAt;
const isLiveAt = (expiresAt: number | null, moment: number) => expiresAt === null || expiresAt > moment;

export class MembershipModel {
  private readonly liveSlugs = new Set<string>();
  /** userId → slug → the current stay (an expired one stays here until its expiry is recorded). */
  private readonly current = new Map<number, Map<string, Stay>>();
  private readonly stays = new Map<number, Stay[]>();
  private readonly histories = new Map<number, HistoryEntry[]>();

  constructor(public now: number) {}

  advance(ms: number): void {
    this.now += ms;
  }

  isLive(slug: string): boolean {
    return this.liveSlugs.has(slug);
  }

  createSegment(slug: string): 201 | 409 {
    if (this.liveSlugs.has(slug)) return 409;
    this.liveSlugs.add(slug);
    return 201;
  }

  /** Every member leaves at the deletion; one whose membership had expired by then, at its expiry. */
  deleteSegment(slug: string): 204 | 404 {
    if (!this.liveSlugs.delete(slug)) return 404;
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

  /** The user's segments at `at` (now by default), sorted by slug. */
  segmentsOf(userId: number, at: number = this.now): SegmentAnswer[] {
    return (this.stays.get(userId) ?? [])
      .filter((stay) => stay.addedAt <= at && (stay.endedAt === null || stay.endedAt > at) && isLiveAt(endAt(stay, at), at))
      .map((stay) => ({ slug: stay.slug, source: 'manual' as const, addedAt: stay.addedAt, expiresAt: endAt(stay, at) }))
      .sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
  }

  /** Recorded entries and exits, in the order they were recorded. */
  historyOf(userId: number): HistoryEntry[] {
    return [...(this.histories.get(userId) ?? [])];
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
      if (this.activeStay(userId, slug)) {
        this.end(userId, slug, reason, this.now);
        removed.push(slug);
      }
    }
    for (const { slug, expiry } of add) {
      const expiresAt = expiry === undefined ? undefined : 'permanent' in expiry ? null : this.now + expiry.ttlSeconds * 1000;
      const stay = this.activeStay(userId, slug);
      if (stay) {
        // A renewal: the membership goes on with its new end, and the history shows nothing.
        if (expiresAt !== undefined && expiresAt !== endAt(stay, this.now)) stay.ends.push({ from: this.now, expiresAt });
        continue;
      }
      this.start(userId, slug, reason, expiresAt ?? null);
      added.push(slug);
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
