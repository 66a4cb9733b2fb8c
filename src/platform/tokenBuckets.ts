// Token buckets by key (a token's name, a client address): `perSecond` tokens flow in each second
// up to `burst`; each request takes one. Buckets are computed lazily on use, so an idle key costs
// nothing but its entry, and full buckets are forgotten, so addresses seen once do not pile up.

export type TakeResult = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  /** When `tokens` was computed (ms, the `now` of the constructor). */
  at: number;
}

/** At most this many keys before full buckets are swept out. */
const SWEEP_ABOVE = 10_000;

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0) || !(burst >= 1)) throw new Error(`a token bucket needs perSecond > 0 and burst >= 1 (got ${perSecond}, ${burst})`);
  }

  take(key: string): TakeResult {
    const now = this.now();
    const bucket = this.buckets.get(key);
    const tokens = bucket ? Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.perSecond) / 1000) : this.burst;
    if (tokens >= 1) {
      if (!bucket && this.buckets.size >= SWEEP_ABOVE) this.sweep(now);
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      return { allowed: true };
    }
    this.buckets.set(key, { tokens, at: now });
    return { allowed: false, retryAfterMs: Math.ceil(((1 - tokens) * 1000) / this.perSecond) };
  }

  /** Keys with a bucket kept (full ones are dropped once there are many). */
  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) * this.perSecond) / 1000 >= this.burst) this.buckets.delete(key);
    }
  }
}
