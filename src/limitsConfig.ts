// The environment variables of the HTTP limits (README, "Configuration"), part of config.ts's schema.
import { z } from 'zod';
import { emptyAsUndefined } from './emptyAsUndefined';

export const LIMIT_VARIABLES = {
  RATE_LIMIT_PER_SECOND: z.preprocess(emptyAsUndefined, z.coerce.number().positive().max(1_000_000).optional()),
  RATE_LIMIT_BURST: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(1_000_000).optional()),
  REQUEST_TIMEOUT_SECONDS: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(3_600).default(30)),
};

type LimitVariables = { RATE_LIMIT_PER_SECOND?: number; RATE_LIMIT_BURST?: number; REQUEST_TIMEOUT_SECONDS: number };

export interface HttpLimits {
  /** Requests per second per token (per client address without tokens); off when undefined. */
  rateLimit: { perSecond: number; burst: number } | undefined;
  /** The time a request may take to arrive in full. */
  requestTimeoutMs: number;
}

/** A burst is a burst of a rate: alone it would silently limit nothing. */
export function checkLimitVariables(env: LimitVariables, ctx: z.RefinementCtx): void {
  if (env.RATE_LIMIT_BURST !== undefined && env.RATE_LIMIT_PER_SECOND === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['RATE_LIMIT_BURST'], message: 'needs RATE_LIMIT_PER_SECOND (the rate it is a burst of)' });
  }
}

export function httpLimitsOf(env: LimitVariables): HttpLimits {
  const perSecond = env.RATE_LIMIT_PER_SECOND;
  return {
    // One second's worth of requests at once, unless told otherwise.
    rateLimit: perSecond === undefined ? undefined : { perSecond, burst: env.RATE_LIMIT_BURST ?? Math.max(1, Math.ceil(perSecond)) },
    requestTimeoutMs: env.REQUEST_TIMEOUT_SECONDS * 1000,
  };
}
