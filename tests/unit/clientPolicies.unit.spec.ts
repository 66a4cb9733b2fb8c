// The typed client's decisions that need no server: which answers it sends again, how long it
// waits before doing so, and which write position a consistent read sends.
import { backoffDelayMs, DEFAULT_RETRY_POLICY, mayRetry, retryAfterMs } from '../../client/src';
import { LastWritePosition } from '../../client/src/lastWritePosition';

describe('which answers the client sends again', () => {
  it('a read, a DELETE or a PUT answered 503 is sent again, whatever the body says', () => {
    for (const method of ['GET', 'HEAD', 'DELETE', 'PUT']) {
      expect(mayRetry(method, 503, undefined)).toBe(true);
      expect(mayRetry(method, 503, '/problems/internal')).toBe(true);
    }
  });

  it('a POST or PATCH answered 503 is sent again only when the service says it applied nothing', () => {
    for (const method of ['POST', 'PATCH']) {
      expect(mayRetry(method, 503, '/problems/unavailable')).toBe(true);
      expect(mayRetry(method, 503, '/problems/timeout')).toBe(true);
      expect(mayRetry(method, 503, '/problems/contention')).toBe(true);
      expect(mayRetry(method, 503, '/problems/cancelled')).toBe(true);
      // A proxy's error page, or a problem type this client does not know: the change may be applied.
      expect(mayRetry(method, 503, undefined)).toBe(false);
      expect(mayRetry(method, 503, '/problems/not-ready')).toBe(false);
    }
  });

  it('a 429 is sent again to a read, a DELETE or a PUT, and to a POST or PATCH only when the service refused it over its rate limit', () => {
    for (const method of ['GET', 'HEAD', 'DELETE', 'PUT']) expect(mayRetry(method, 429, undefined)).toBe(true);
    for (const method of ['POST', 'PATCH']) {
      expect(mayRetry(method, 429, '/problems/rate-limited')).toBe(true);
      // A proxy's own limit, or a problem this client does not know: the change may be applied.
      expect(mayRetry(method, 429, undefined)).toBe(false);
      expect(mayRetry(method, 429, '/problems/unavailable')).toBe(false);
    }
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-12-02T10:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Wed, 02 Dec 2026 10:00:03 GMT', now)).toBe(3_000);
    expect(retryAfterMs('Wed, 02 Dec 2026 09:59:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-1', now)).toBeUndefined();
  });

  it('no other status is sent again, not even to a read', () => {
    for (const status of [200, 400, 401, 404, 409, 413, 422, 500, 502, 504]) {
      expect(mayRetry('GET', status, undefined)).toBe(false);
      expect(mayRetry('POST', status, '/problems/unavailable')).toBe(false);
    }
  });

  it('waits between half and all of a doubling pause, capped', () => {
    const policy = { attempts: 6, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect([1, 2, 3, 4, 5].map((retry) => backoffDelayMs(policy, retry, () => 1))).toEqual([100, 200, 400, 800, 1_000]);
    expect([1, 2, 3, 4, 5].map((retry) => backoffDelayMs(policy, retry, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect(DEFAULT_RETRY_POLICY.attempts).toBeGreaterThan(1);
  });
});

describe('the position a consistent read sends', () => {
  it('is the highest any write answered with, whatever order the answers came in', () => {
    const position = new LastWritePosition();
    expect(position.headers()).toEqual({});
    position.record('812/45');
    position.record('812/9');
    position.record('811/900');
    expect(position.value).toBe('812/45');
    position.record('9007199254740993/1');
    position.record('9007199254740992/7');
    expect(position.headers()).toEqual({ 'x-min-position': '9007199254740993/1' });
  });

  it('ignores an answer without a position, or with one of another form', () => {
    const position = new LastWritePosition();
    position.record('5/5');
    position.record(null);
    position.record('latest');
    expect(position.value).toBe('5/5');
  });
});
