// What one client may ask of the service: a rate of requests per token (per client address when
// no tokens are configured), and the time a request may take to arrive in full.
import type { FastifyInstance } from 'fastify';
import { TokenBuckets } from '../platform/tokenBuckets';
import { HttpProblem, problemType } from './problems';

export interface RateLimit {
  /** Requests per second each token (or client address) may send, on average. */
  perSecond: number;
  /** Requests it may send at once after a quiet spell. */
  burst: number;
}

/** 30 s for the request line, headers and body: 140 KB/s for a 4 MiB body. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Options for fastify's HTTP server: a request that has not arrived in full after `requestTimeoutMs`
 * is answered 408 (transportProblems.ts) and its connection closed, so slow clients cannot hold
 * connections and half-read bodies for ever. Node checks at `connectionsCheckingInterval`, 30 s by
 * default, which would let a timeout run up to 30 s late; here it checks a few times a timeout.
 */
export function requestTimeoutOptions(requestTimeoutMs: number) {
  return {
    requestTimeout: requestTimeoutMs,
    http: {
      headersTimeout: Math.min(60_000, requestTimeoutMs),
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(requestTimeoutMs / 4))),
    },
  };
}

/**
 * A 429 `/problems/rate-limited` with Retry-After once a token (or an address) has used its
 * burst and sends faster than `perSecond`. Runs after authentication, so a request with a wrong
 * token is a 401 and takes nothing from anyone's bucket. Routes without a scope (health, docs,
 * report downloads) are not limited: probes must get through.
 */
export function registerRateLimit(app: FastifyInstance, limit: RateLimit | undefined, byToken: boolean): void {
  if (!limit) return;
  const buckets = new TokenBuckets(limit.perSecond, limit.burst);
  app.addHook('onRequest', (request, _reply, done) => {
    if (!request.routeOptions.config?.scope) return done();
    const who = byToken ? `token ${request.actor}` : `address ${request.ip}`;
    const taken = buckets.take(who);
    if (taken.allowed) return done();
    const seconds = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
    done(
      new HttpProblem(
        {
          type: problemType('rate-limited'),
          title: 'Too many requests',
          status: 429,
          detail: `${who} sent more than ${limit.perSecond} requests per second (bursts of ${limit.burst}); retry after ${seconds} s`,
          retryAfterSeconds: seconds,
        },
        { 'retry-after': String(seconds) },
      ),
    );
  });
}
