// Request validation: the routes' zod schemas (fastify-type-provider-zod's compiler), with two
// shortcuts for what the hottest route, GET /users/{id}/segments, receives thousands of times a
// second. Each answers exactly what zod would for the input it accepts, and leaves every other
// input, and so every error message, to zod:
// - a schema given a fast parse (`withFastParse`): when it returns a value, that is the value;
// - a header or query schema whose fields are all optional: a request that carries none of them
//   (and, for a strict schema, nothing else) gets `{}`.
// zod's parse of those three parts per read was most of what a read allocated that outlived two
// young-generation collections: 800 KB promoted per collection at 19,000 reads/s, collections of
// 2–5 ms, an old generation growing by 15 MB/s. Without it: 17 KB, 1.1–1.3 ms (docs/benchmarks.md).
import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler as zodValidatorCompiler } from 'fastify-type-provider-zod';
import { z, type ZodTypeAny } from 'zod';

type FastParse = (data: unknown) => unknown;

const fastParses = new WeakMap<ZodTypeAny, FastParse>();

/** `schema`, validated by `parse` first: it returns what zod would answer, or undefined to leave the input to zod. */
export function withFastParse<Schema extends ZodTypeAny>(schema: Schema, parse: (data: unknown) => z.output<Schema> | undefined): Schema {
  fastParses.set(schema, parse);
  return schema;
}

/**
 * For an object schema whose fields are all optional (without defaults): whether an input makes zod answer `{}`,
 * which is when it holds none of the fields and, for a strict schema, nothing else either.
 */
export function answersEmpty(schema: ZodTypeAny): ((input: Record<string, unknown>) => boolean) | undefined {
  if (!(schema instanceof z.ZodObject)) return undefined;
  const shape = schema.shape as Record<string, ZodTypeAny>;
  const fields = Object.keys(shape);
  // Optional, not defaulted: zod fills in a default of an absent field.
  if (!fields.every((key) => shape[key] instanceof z.ZodOptional)) return undefined;
  if (schema._def.unknownKeys === 'strict') return (input) => !hasKeys(input);
  if (schema._def.unknownKeys === 'strip') return (input) => fields.every((key) => input[key] === undefined);
  return undefined;
}

function hasKeys(input: Record<string, unknown>): boolean {
  for (const key in input) if (Object.hasOwn(input, key)) return true;
  return false;
}

export const validatorCompiler: FastifySchemaCompiler<ZodTypeAny> = (route) => {
  const validate = zodValidatorCompiler(route);
  const fastParse = fastParses.get(route.schema);
  if (fastParse) {
    return (data) => {
      const value = fastParse(data);
      return value === undefined ? validate(data) : { value };
    };
  }
  const empty = route.httpPart === 'headers' || route.httpPart === 'querystring' ? answersEmpty(route.schema) : undefined;
  if (!empty) return validate;
  return (data) => (data !== null && typeof data === 'object' && empty(data as Record<string, unknown>) ? { value: {} } : validate(data));
};
