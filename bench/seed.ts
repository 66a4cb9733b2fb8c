// The data a run measures: segments created over HTTP, then users' memberships appended straight to
// the service's event store, as MembershipAdded events shaped exactly as the commands store them.
import { toNewEvents } from '../src/commands/eventIds';
import type { EventStore, StreamWrite } from '../src/eventstore/eventStore';
import type { MembershipAdded, MembershipEvent, MembershipRemoved } from '../src/events/membershipEvents';
import type { EventMetadata } from '../src/events/metadata';
import type { SegmentCreated } from '../src/events/segmentEvents';
import { segmentStream, userStream } from '../src/events/streams';
import type { ServiceClient } from './serviceClient';

export interface Segment {
  slug: string;
  segmentId: string;
}

export const MANUAL_SEGMENTS = 20;
/** Percentage segments and their shares: the service computes these memberships, nothing is seeded. */
export const PERCENTAGE_SEGMENTS = [10, 20, 30, 40, 50];
/** Memberships per user: 2, 3 or 4, so 3 on average. */
const MIN_PER_USER = 2;
const MAX_PER_USER = 4;
/** Share of memberships with an expiry, far enough ahead that none expires during the run. */
const TTL_SHARE = 0.01;
const TTL_MS = 30 * 24 * 3600 * 1000;

const SEED_METADATA = { actor: 'bench-seed', source: 'cli' } as const;

/** Small deterministic PRNG (mulberry32): the same seed draws the same memberships on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Creates the manual and percentage segments through the service and reads their ids from their streams. */
export async function createSegments(client: ServiceClient, store: EventStore): Promise<{ manual: Segment[]; percentage: Segment[] }> {
  const manualSlugs = Array.from({ length: MANUAL_SEGMENTS }, (_, i) => `SEG_${i + 1}`);
  const percentageSlugs = PERCENTAGE_SEGMENTS.map((percent) => `AUTO_${percent}`);
  for (const slug of manualSlugs) await client.ok('POST', '/segments', { slug, description: 'benchmark segment' });
  for (const [index, percent] of PERCENTAGE_SEGMENTS.entries()) {
    await client.ok('POST', '/segments', { slug: percentageSlugs[index], autoAssignPercent: percent });
  }
  // The HTTP answer has no segmentId; the stream's SegmentCreated does.
  const streams = await store.readStreams([...manualSlugs, ...percentageSlugs].map(segmentStream));
  const withId = (slug: string): Segment => {
    const created = streams.get(segmentStream(slug))!.filter((event) => event.type === 'SegmentCreated').at(-1);
    if (!created) throw new Error(`segment ${slug} has no SegmentCreated event`);
    return { slug, segmentId: (created.data as SegmentCreated['data']).segmentId };
  };
  return { manual: manualSlugs.map(withId), percentage: percentageSlugs.map(withId) };
}

/** Each user's memberships, drawn in user order from one seeded sequence. */
export class MembershipDraw {
  private readonly random: () => number;
  private readonly order: number[];
  private nextUser = 1;

  constructor(
    seed: number,
    private readonly segments: readonly Segment[],
    /** The expiry of the memberships that get one. */
    private readonly expiresAt: string,
  ) {
    this.random = prng(seed);
    this.order = segments.map((_, index) => index);
  }

  /** The memberships of the next user; users must be drawn in order 1, 2, 3, … */
  draw(userId: number): Array<{ segment: Segment; expiresAt: string | null }> {
    if (userId !== this.nextUser) throw new Error(`users are drawn in order: expected ${this.nextUser}, got ${userId}`);
    this.nextUser++;
    const count = MIN_PER_USER + Math.floor(this.random() * (MAX_PER_USER - MIN_PER_USER + 1));
    const picked: Array<{ segment: Segment; expiresAt: string | null }> = [];
    for (let i = 0; i < count; i++) {
      // A partial Fisher–Yates shuffle: distinct segments.
      const j = i + Math.floor(this.random() * (this.order.length - i));
      [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
      const expiresAt = this.random() < TTL_SHARE ? this.expiresAt : null;
      picked.push({ segment: this.segments[this.order[i]!]!, expiresAt });
    }
    return picked;
  }
}

export const seedExpiry = (now: Date): string => new Date(now.getTime() + TTL_MS).toISOString();

export interface SeedStats {
  users: number;
  events: number;
  withExpiry: number;
  seconds: number;
}

/**
 * Appends users `from`…`to` (inclusive), `batchUsers` streams per appendMany, each a new stream
 * (`no_stream`). Returns the manual slugs drawn for the users in `sample`, to check the reads.
 */
export async function seedUsers(
  store: EventStore,
  draw: MembershipDraw,
  range: { from: number; to: number; batchUsers: number },
  sample: ReadonlySet<number>,
  hooks: { progress: (message: string) => void; aborted: () => boolean; readModel: () => Promise<string> },
): Promise<{ stats: SeedStats; expected: Map<number, string[]> }> {
  const began = Date.now();
  const expected = new Map<number, string[]>();
  let events = 0;
  let withExpiry = 0;
  let lastReport = began;
  for (let first = range.from; first <= range.to; first += range.batchUsers) {
    if (hooks.aborted()) throw new Error('interrupted');
    const last = Math.min(range.to, first + range.batchUsers - 1);
    const now = new Date();
    const metadata: EventMetadata = { ...SEED_METADATA, occurredAt: now.toISOString() };
    const writes: StreamWrite[] = [];
    for (let userId = first; userId <= last; userId++) {
      const memberships = draw.draw(userId);
      const decided: MembershipAdded[] = memberships.map(({ segment, expiresAt }) => ({
        type: 'MembershipAdded',
        data: { userId, segmentId: segment.segmentId, slug: segment.slug, expiresAt, reason: 'bulk', addedAt: now.toISOString() },
      }));
      const stream = userStream(userId);
      writes.push({ stream, events: toNewEvents(decided, metadata, { stream, expected: 'no_stream' }), expected: 'no_stream' });
      events += decided.length;
      withExpiry += memberships.filter((membership) => membership.expiresAt !== null).length;
      if (sample.has(userId)) expected.set(userId, memberships.map(({ segment }) => segment.slug).sort());
    }
    await store.appendMany(writes);
    if (Date.now() - lastReport >= 5_000 || last === range.to) {
      const seconds = (Date.now() - began) / 1000;
      hooks.progress(
        `seeding: users ${range.from}…${last} of …${range.to}, ${events} events in ${seconds.toFixed(1)} s ` +
          `(${Math.round(events / seconds)} events/s); read model: ${await hooks.readModel()}`,
      );
      lastReport = Date.now();
    }
  }
  return { stats: { users: range.to - range.from + 1, events, withExpiry, seconds: (Date.now() - began) / 1000 }, expected };
}

/**
 * A user whose stream holds `count` events: the segment added and removed in turn, a second apart
 * and in the past, ending removed (for an even count) so that the first toggle is an add.
 */
export async function seedLongStream(store: EventStore, userId: number, segment: Segment, count: number): Promise<number> {
  const began = Date.now();
  const stream = userStream(userId);
  const start = Date.now() - (count + 60) * 1000;
  let expected: 'no_stream' | number = 'no_stream';
  for (let first = 0; first < count; first += 1_000) {
    const decided: MembershipEvent[] = [];
    for (let i = first; i < Math.min(count, first + 1_000); i++) {
      const at = new Date(start + i * 1000).toISOString();
      const { segmentId, slug } = segment;
      decided.push(
        i % 2 === 0
          ? ({ type: 'MembershipAdded', data: { userId, segmentId, slug, expiresAt: null, reason: 'manual', addedAt: at } } satisfies MembershipAdded)
          : ({ type: 'MembershipRemoved', data: { userId, segmentId, slug, reason: 'manual', effectiveAt: at } } satisfies MembershipRemoved),
      );
    }
    const metadata: EventMetadata = { ...SEED_METADATA, occurredAt: new Date().toISOString() };
    const appended = await store.append(stream, toNewEvents(decided, metadata, { stream, expected }), expected);
    expected = appended.revision;
  }
  return (Date.now() - began) / 1000;
}

/** The seeded users in `expected` read back through the service: their manual segments must match. */
export async function checkSeededUsers(client: ServiceClient, expected: ReadonlyMap<number, string[]>): Promise<void> {
  for (const [userId, slugs] of expected) {
    const read = await client.readUser(userId);
    const manual = read.segments.filter((segment) => segment.source === 'manual').map((segment) => segment.slug).sort();
    if (read.status !== 200 || manual.join(',') !== slugs.join(',')) {
      throw new Error(`after seeding, user ${userId} reads ${read.status} [${manual.join(',')}], seeded [${slugs.join(',')}]`);
    }
  }
}
