// Retries on 503 with backoff, and on 429 after the Retry-After the service names. Every other
// status is the answer: a 4xx will not change by asking again, a 500 is a bug, and a 504 (the read
// model did not catch up) already waited 5 s.
export interface RetryPolicy {
  /** Tries in all, the first included; 1 turns retries off. */
  attempts: number;
  /** The pause before the first retry; it doubles with each further one, with jitter, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest Retry-After of a 429 the client waits out; a 429 asking for longer is thrown. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 2_000, maxRetryAfterMs: 5_000 };

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * The 503s with which the service says it applied nothing (src/api/problems.ts and
 * src/domain/errors.ts): the database or event store did not answer before anything was decided,
 * a statement timed out or was cancelled for a conflict and its transaction rolled back, or the
 * change gave up on contention.
 * (A bulk change on EventStoreDB may have applied some users; sending it again completes it,
 * because adding a membership a user has or removing one they lack changes nothing.)
 */
const NOTHING_APPLIED = new Set(['/problems/unavailable', '/problems/timeout', '/problems/contention', '/problems/cancelled']);

/** The service's refusal over the rate limit (src/api/limits.ts): given before the request is handled. */
const RATE_LIMITED = '/problems/rate-limited';

/**
 * Whether an answer may be retried: a 503 or a 429, and for a write that is not idempotent (POST,
 * PATCH) only a problem document that says nothing was applied. A 503 or 429 of unknown origin to
 * a POST (a proxy's page) may come after the service applied the change, so it is not sent again.
 */
export function mayRetry(method: string, status: number, problemType: string | undefined): boolean {
  const idempotent = IDEMPOTENT_METHODS.has(method.toUpperCase());
  if (status === 429) return idempotent || problemType === RATE_LIMITED;
  if (status !== 503) return false;
  return idempotent || (problemType !== undefined && NOTHING_APPLIED.has(problemType));
}

/** A Retry-After header in milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1_000;
  // An HTTP date always ends in GMT (RFC 9110, 5.6.7); Date.parse would take many other strings.
  const date = / GMT$/.test(value) ? Date.parse(value) : NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The pause before retry number `retry` (1 for the first): exponential, capped, between half and all of it. */
export function backoffDelayMs(policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return ceiling / 2 + (ceiling / 2) * random();
}

async function problemTypeOf(response: Response): Promise<string | undefined> {
  if (!response.headers.get('content-type')?.startsWith('application/problem+json')) return undefined;
  const document: unknown = await response.clone().json().catch(() => undefined);
  const type = (document as { type?: unknown } | undefined)?.type;
  return typeof type === 'string' ? type : undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The pause before sending again: the backoff after a 503; after a 429 the Retry-After it names
 * (the backoff when it names none), or undefined when that is longer than the policy waits.
 */
function pauseBefore(policy: RetryPolicy, retry: number, response: Response): number | undefined {
  const backoff = backoffDelayMs(policy, retry);
  if (response.status !== 429) return backoff;
  const asked = retryAfterMs(response.headers.get('retry-after'));
  if (asked === undefined) return backoff;
  return asked > policy.maxRetryAfterMs ? undefined : asked;
}

/** A fetch that sends a request again, as the policy allows, while the service answers 503 or 429. */
export function retryingFetch(policy: RetryPolicy, fetchOnce: (request: Request) => Promise<Response>): (request: Request) => Promise<Response> {
  return async (request) => {
    for (let attempt = 1; ; attempt++) {
      // Each attempt sends a copy: a body can be read once. The headers, X-Request-Id among them, stay the same.
      const response = await fetchOnce(request.clone());
      if ((response.status !== 503 && response.status !== 429) || attempt >= policy.attempts || request.signal.aborted) return response;
      if (!mayRetry(request.method, response.status, await problemTypeOf(response))) return response;
      const pause = pauseBefore(policy, attempt, response);
      if (pause === undefined) return response;
      await response.body?.cancel();
      await sleep(pause);
    }
  };
}
