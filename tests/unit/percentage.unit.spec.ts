// Percentage assignment: the hash, the bucket rule and its documented test vectors.
import fs from 'node:fs';
import path from 'node:path';
import { BUCKETS, bucketOf, isInPercentage, murmur3x86_32, rolloutSeedOf, thresholdOf } from '../../src/domain/percentage';

const utf8 = (text: string) => new TextEncoder().encode(text);

describe('MurmurHash3 x86 32-bit', () => {
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['test', 0, 0xba6bd213],
    ['abc', 0, 0xb3dd93fa],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['Hello, world!', 0, 0xc0363e43],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ])('hashes %j with seed %d to the published value', (key, seed, expected) => {
    expect(murmur3x86_32(utf8(key), seed)).toBe(expected);
  });
});

describe('docs/percentage-assignment.md', () => {
  const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/percentage-assignment.md'), 'utf8');
  const vectors = [...doc.matchAll(/^\| `([^`]+)` \| (\d+) \| `([^`]+)` \| (\d+) \| (\d+) \|$/gm)].map((m) => ({
    seed: m[1]!,
    userId: Number(m[2]),
    key: m[3]!,
    hash: Number(m[4]),
    bucket: Number(m[5]),
  }));

  it('has test vectors', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(5);
  });

  it('every test vector (seed, user id → key, hash, bucket) is what the service computes', () => {
    for (const vector of vectors) {
      expect(`${vector.seed}:${vector.userId}`).toBe(vector.key);
      expect(murmur3x86_32(utf8(vector.key))).toBe(vector.hash);
      expect(bucketOf(vector.seed, vector.userId)).toBe(vector.bucket);
    }
  });
});

describe('bucket rule', () => {
  it('the threshold is percent × 100 exactly, also for two decimals', () => {
    expect(thresholdOf(10)).toBe(1_000);
    expect(thresholdOf(12.34)).toBe(1_234);
    expect(thresholdOf(0.01)).toBe(1);
    expect(thresholdOf(4.35)).toBe(435); // 4.35 × 100 is 434.99999999999994 in floating point
    expect(thresholdOf(100)).toBe(BUCKETS);
  });

  it('a user is in when their bucket is below the threshold, not at it (no off-by-one)', () => {
    // Seed a1b2c3d4e5f60718 puts user 1004 in bucket 1420 (docs test vector).
    expect(isInPercentage('a1b2c3d4e5f60718', 14.2, 1004)).toBe(false);
    expect(isInPercentage('a1b2c3d4e5f60718', 14.21, 1004)).toBe(true);
    expect(isInPercentage('a1b2c3d4e5f60718', null, 1004)).toBe(false);
    expect(isInPercentage('a1b2c3d4e5f60718', 100, 1000)).toBe(true);
  });

  it('over 100,000 user ids, 10 % takes 10 % ± 0.3 %', () => {
    for (const seed of ['a1b2c3d4e5f60718', '5f0e7c2b9d41a836', '0000000000000000']) {
      let inside = 0;
      for (let userId = 1; userId <= 100_000; userId++) if (isInPercentage(seed, 10, userId)) inside++;
      expect(Math.abs(inside / 100_000 - 0.1)).toBeLessThanOrEqual(0.003);
    }
  });

  it('the same seed and user always give the same bucket; another seed draws afresh', () => {
    expect(bucketOf('a1b2c3d4e5f60718', 1000)).toBe(bucketOf('a1b2c3d4e5f60718', 1000));
    let same = 0;
    for (let userId = 1; userId <= 10_000; userId++) if (bucketOf('a', userId) === bucketOf('b', userId)) same++;
    expect(same).toBeLessThan(20); // about 1 in 10,000 by chance
  });

  it('raising keeps every user who was in; lowering keeps only users who were in', () => {
    const seed = '5f0e7c2b9d41a836';
    const users = Array.from({ length: 20_000 }, (_, i) => i + 1);
    const at = (percent: number) => new Set(users.filter((userId) => isInPercentage(seed, percent, userId)));
    const ten = at(10);
    const twenty = at(20);
    const five = at(5);
    for (const userId of ten) expect(twenty.has(userId)).toBe(true);
    for (const userId of five) expect(ten.has(userId)).toBe(true);
    expect(twenty.size).toBeGreaterThan(ten.size);
    expect(five.size).toBeLessThan(ten.size);
  });

  it('a creation event without a seed uses the segment id', () => {
    expect(rolloutSeedOf({ segmentId: '0b7a9c10-0000-4000-8000-000000000030' })).toBe('0b7a9c10-0000-4000-8000-000000000030');
    expect(rolloutSeedOf({ segmentId: '0b7a9c10-0000-4000-8000-000000000030', rolloutSeed: 'a1b2c3d4e5f60718' })).toBe('a1b2c3d4e5f60718');
  });
});
