// The typed client's decisions that need no server: which answers it sends again, how long it
// waits before doing so, and which write position a consistent read sends.
import { backoffDelayMs, DEFAULT_RETRY_POLICY, mayRetry } from '../../client/src';
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
      // A proxy's error page, or a problem type this client does not know: the change may be applied.
      expect(mayRetry(method, 503, undefined)).toBe(false);
      expect(mayRetry(method, 503, '/problems/not-ready')).toBe(false);
    }
  });

  it('no other status is sent again, not even to a read', () => {
    for (const status of [200, 400, 401, 404, 409, 413, 422, 429, 500, 502, 504]) {
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
