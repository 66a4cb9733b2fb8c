// Deterministic percentage assignment: which users a percentage segment includes.
// The rule is documented, with test vectors, in docs/percentage-assignment.md so that other
// services can compute the same answer.

export const BUCKETS = 10_000;

/** MurmurHash3, x86 32-bit variant (Austin Appleby's MurmurHash3_x86_32), as an unsigned integer, of key's first `length` bytes. */
export function murmur3x86_32(key: Uint8Array, seed = 0, length = key.length): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const blocks = length >>> 2;
  let h = seed >>> 0;
  for (let i = 0; i < blocks; i++) {
    const o = i * 4;
    let k = key[o]! | (key[o + 1]! << 8) | (key[o + 2]! << 16) | (key[o + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = blocks * 4;
  const rest = length & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= key[tail + 2]! << 16;
    if (rest >= 2) k ^= key[tail + 1]! << 8;
    k ^= key[tail]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();

/** Room for the UTF-8 of any seed and id: encodeInto writes into it, so a bucket allocates nothing. */
const scratch = new Uint8Array(1_024);

/** The user's bucket (0 … 9,999) in a segment with this seed: murmur3 of UTF-8 `${seed}:${userId}`, mod 10,000. */
export function bucketOf(rolloutSeed: string, userId: number): number {
  const key = `${rolloutSeed}:${userId}`;
  if (key.length * 3 > scratch.length) return murmur3x86_32(encoder.encode(key)) % BUCKETS;
  const { written } = encoder.encodeInto(key, scratch);
  return murmur3x86_32(scratch, 0, written) % BUCKETS;
}

/** Buckets below this are in: percent × 100, so 12.34 % takes buckets 0 … 1,233. */
export function thresholdOf(percent: number): number {
  return Math.round(percent * 100);
}

export function isInPercentage(rolloutSeed: string, percent: number | null, userId: number): boolean {
  return percent !== null && bucketOf(rolloutSeed, userId) < thresholdOf(percent);
}

/**
 * The seed of a segment. Every SegmentCreated written by this service carries a random
 * `rolloutSeed`; a creation event without one (none exist, but the rule must be defined) uses
 * the segment's id.
 */
export function rolloutSeedOf(created: { segmentId: string; rolloutSeed?: string | null }): string {
  return created.rolloutSeed || created.segmentId;
}
