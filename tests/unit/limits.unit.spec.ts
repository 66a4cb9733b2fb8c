// The rate limit's token buckets (with a hand-moved clock) and the limit variables of the configuration.
import { loadConfig } from '../../src/config';
import { problemsOf } from '../support/configProblems';
import { TokenBuckets } from '../../src/platform/tokenBuckets';

describe('token buckets', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 0));

  it('lets a burst through at once, then one request per 1/rate seconds, and says how long to wait', () => {
    const buckets = new TokenBuckets(2, 3, clock);
    expect([1, 2, 3].map(() => buckets.take('dashboard').allowed)).toEqual([true, true, true]);
    expect(buckets.take('dashboard')).toEqual({ allowed: false, retryAfterMs: 500 });
    now = 250;
    expect(buckets.take('dashboard')).toEqual({ allowed: false, retryAfterMs: 250 });
    now = 500;
    expect(buckets.take('dashboard').allowed).toBe(true);
    expect(buckets.take('dashboard').allowed).toBe(false);
  });

  it('keeps each key to its own bucket', () => {
    const buckets = new TokenBuckets(1, 1, clock);
    expect(buckets.take('dashboard').allowed).toBe(true);
    expect(buckets.take('dashboard').allowed).toBe(false);
    expect(buckets.take('billing').allowed).toBe(true);
  });

  it('refills no further than the burst after a long quiet spell', () => {
    const buckets = new TokenBuckets(10, 2, clock);
    buckets.take('dashboard');
    now = 3_600_000;
    expect([1, 2, 3].map(() => buckets.take('dashboard').allowed)).toEqual([true, true, false]);
  });

  it('forgets full buckets once it holds many keys, so addresses seen once do not pile up', () => {
    const buckets = new TokenBuckets(1, 1, clock);
    for (let i = 0; i < 10_000; i++) buckets.take(`10.0.${i >> 8}.${i & 255}`);
    now = 2_000;
    buckets.take('192.0.2.1');
    expect(buckets.size).toBe(1);
  });
});

describe('limit variables', () => {
  it('has no rate limit and a 30 s request timeout by default', () => {
    expect(loadConfig({})).toMatchObject({ rateLimit: undefined, requestTimeoutMs: 30_000 });
  });

  it('reads the rate, the burst (one second of the rate by default) and the timeout', () => {
    expect(loadConfig({ RATE_LIMIT_PER_SECOND: '50', RATE_LIMIT_BURST: '200', REQUEST_TIMEOUT_SECONDS: '5' })).toMatchObject({
      rateLimit: { perSecond: 50, burst: 200 },
      requestTimeoutMs: 5_000,
    });
    expect(loadConfig({ RATE_LIMIT_PER_SECOND: '2.5' }).rateLimit).toEqual({ perSecond: 2.5, burst: 3 });
    expect(loadConfig({ RATE_LIMIT_PER_SECOND: '0.1' }).rateLimit).toEqual({ perSecond: 0.1, burst: 1 });
  });

  it('refuses a bad value, naming the variable', () => {
    expect(problemsOf({ RATE_LIMIT_PER_SECOND: '0' })).toEqual([expect.stringMatching(/^RATE_LIMIT_PER_SECOND: /)]);
    expect(problemsOf({ RATE_LIMIT_PER_SECOND: 'fast' })).toEqual([expect.stringMatching(/^RATE_LIMIT_PER_SECOND: /)]);
    expect(problemsOf({ RATE_LIMIT_PER_SECOND: '10', RATE_LIMIT_BURST: '1.5' })).toEqual([expect.stringMatching(/^RATE_LIMIT_BURST: /)]);
    expect(problemsOf({ RATE_LIMIT_BURST: '10' })).toEqual(['RATE_LIMIT_BURST: needs RATE_LIMIT_PER_SECOND (the rate it is a burst of)']);
    expect(problemsOf({ REQUEST_TIMEOUT_SECONDS: '0' })).toEqual([expect.stringMatching(/^REQUEST_TIMEOUT_SECONDS: /)]);
  });
});
