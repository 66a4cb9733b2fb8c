// Request and response schemas shared by the routes; the OpenAPI document is generated from them.
import { z } from 'zod';
import type { ExpirySpec } from '../domain/decideUser';
import { withFastParse } from './validation';

export const MAX_USER_ID = Number.MAX_SAFE_INTEGER;

export const slugSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "-" and "." only, starting with a letter or digit')
  .describe('Segment slug, case-sensitive, e.g. AVITO_DISCOUNT_30');

export const userIdSchema = z.number().int().min(1).max(MAX_USER_ID).describe('User id: a positive safe integer');

/** A user id in a path: digits only, then a number. */
export const userIdParam = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'a positive integer without sign or leading zeros')
  .transform(Number)
  .refine((value) => value <= MAX_USER_ID, `at most ${MAX_USER_ID}`)
  .describe('User id: a positive integer up to 9007199254740991');

const USER_ID_DIGITS = /^[1-9][0-9]{0,15}$/;

/** `{ userId }` of a path: parsed without zod when valid (src/api/validation.ts), by zod when not, for its message. */
export const userParams = withFastParse(z.object({ userId: userIdParam }), (data) => {
  const userId = (data as { userId?: unknown } | null)?.userId;
  if (typeof userId !== 'string' || !USER_ID_DIGITS.test(userId)) return undefined;
  const value = Number(userId);
  return value <= MAX_USER_ID ? { userId: value } : undefined;
});

export const timeSchema = z.string().datetime().describe('RFC 3339 time in UTC with milliseconds');

/**
 * A moment a caller gives (`?at=`, `?from=`, `?to=`): RFC 3339 with `Z` or an offset, in the
 * years 1970 to 9999. Earlier years are no moment this service can have seen, and year 0000 is not
 * one PostgreSQL can store.
 */
export const momentParam = z
  .string()
  .datetime({ offset: true })
  .refine((value) => {
    const year = new Date(value).getUTCFullYear();
    // Not a time at all is the datetime check's to report, once.
    return Number.isNaN(year) || (year >= 1970 && year <= 9999);
  }, 'must lie in the years 1970 to 9999')
  .describe('RFC 3339 moment, with Z or an offset such as +03:00, in the years 1970 to 9999');

/**
 * A NUL character, or a UTF-16 surrogate without its pair: JSON escapes (`\u0000`, `\ud800`) can
 * carry both, and PostgreSQL refuses both in json and text, so they are a 400 here, not a 500 there.
 */
const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Free text the service stores: at most `max` characters, none of them unstorable. */
export const storableText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => !UNSTORABLE_TEXT.test(value), 'must not contain a NUL character (\\u0000) or an unpaired surrogate');

export const positionSchema = z
  .string()
  .regex(/^\d{1,20}\/\d{1,20}$/, 'expected a position as returned by a write, like "812/45"')
  .describe('A place in the global event order; send it back as X-Min-Position to read your own write');

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    slugs: z.array(z.string()).optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .passthrough()
  .describe('RFC 7807 problem details (application/problem+json)');

export const segmentSchema = z.object({
  slug: slugSchema,
  description: z.string().nullable(),
  autoAssignPercent: z.number().nullable(),
  createdAt: timeSchema,
});

export const segmentWithCountSchema = segmentSchema.extend({
  memberCount: z.number().int().describe('Explicit, unexpired members'),
});

export const userSegmentSchema = z.object({
  slug: slugSchema,
  source: z.enum(['manual', 'auto']),
  addedAt: timeSchema,
  expiresAt: timeSchema.nullable(),
});

/** Marks duplicates in a list as issues at their own index. */
export function reportDuplicates<T>(values: readonly T[], path: (string | number)[], ctx: z.RefinementCtx, what: string): void {
  const seen = new Set<T>();
  values.forEach((value, index) => {
    if (seen.has(value)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...path, index], message: `${what} ${String(value)} is listed twice` });
    }
    seen.add(value);
  });
}

/** The longest a membership may be limited to: 10 years (365-day years). */
export const MAX_TTL_SECONDS = 315_360_000;

export const ttlSecondsSchema = z
  .number()
  .int()
  .min(1)
  .max(MAX_TTL_SECONDS)
  .describe('The membership ends this many seconds after the change: 1 to 315,360,000 (10 years)');

export const expiresAtSchema = z
  .string()
  .datetime({ offset: true })
  .nullable()
  .describe('RFC 3339 moment the membership ends, in the future and at most 10 years ahead; null: permanent');

export interface ExpiryFields {
  ttlSeconds?: number;
  expiresAt?: string | null;
}

/** Not both fields; an `expiresAt` after `now` and at most 10 years ahead. */
export function checkExpiry(fields: ExpiryFields, path: (string | number)[], ctx: z.RefinementCtx, now: Date): void {
  if (fields.ttlSeconds !== undefined && fields.expiresAt !== undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...path, 'expiresAt'], message: 'give either ttlSeconds or expiresAt, not both' });
    return;
  }
  if (fields.expiresAt === undefined || fields.expiresAt === null) return;
  const at = Date.parse(fields.expiresAt);
  if (at <= now.getTime()) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...path, 'expiresAt'], message: `must be in the future (now is ${now.toISOString()})` });
  } else if (at - now.getTime() > MAX_TTL_SECONDS * 1000) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...path, 'expiresAt'], message: 'must be at most 10 years ahead' });
  }
}

/** The command's expiry from validated request fields; undefined when neither was given. */
export function expirySpecOf(fields: ExpiryFields): ExpirySpec | undefined {
  if (fields.ttlSeconds !== undefined) return { ttlSeconds: fields.ttlSeconds };
  if (fields.expiresAt !== undefined) return { expiresAt: fields.expiresAt };
  return undefined;
}
