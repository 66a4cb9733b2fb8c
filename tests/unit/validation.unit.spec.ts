// The validation shortcuts of the hot read (src/api/validation.ts) answer exactly what zod answers
// for every input they take, and leave the rest to zod: compared on generated inputs, through the
// compiler fastify calls.
import fc from 'fast-check';
import { validatorCompiler as zodValidatorCompiler } from 'fastify-type-provider-zod';
import { z, type ZodTypeAny } from 'zod';
import { readYourWritesHeaders } from '../../src/api/readYourWrites';
import { userParams } from '../../src/api/schemas';
import { validatorCompiler } from '../../src/api/validation';

type Part = 'params' | 'headers' | 'querystring';
type Result = { value?: unknown; error?: unknown };

function compile(schema: ZodTypeAny, httpPart: Part) {
  const route = { schema, httpPart, method: 'GET', url: '/test' };
  return {
    ours: validatorCompiler(route) as (data: unknown) => Result,
    zods: zodValidatorCompiler(route) as (data: unknown) => Result,
  };
}

/** Equal answers: the same value, or both an error. */
function expectSameAnswer(ours: Result, zods: Result, input: unknown): void {
  expect({ input, ok: ours.error === undefined, value: ours.value }).toEqual({ input, ok: zods.error === undefined, value: zods.value });
}

const userIds = fc.oneof(
  fc.string(),
  fc.stringMatching(/^-?[0-9]{1,18}$/),
  fc.bigInt({ min: 0n, max: 2n ** 60n }).map(String),
  fc.constantFrom('9007199254740991', '9007199254740992', '0', '01', '1', ' 1', '1 ', '1.0', '1e3', '+1', '٣', ''),
);

describe('the shortcuts answer as zod does', () => {
  it('user ids in a path: the same value for every valid one, zod for the rest', () => {
    const { ours, zods } = compile(userParams, 'params');
    let shortcuts = 0;
    fc.assert(
      fc.property(userIds, (userId) => {
        const input = { userId };
        const answer = zods(input);
        expectSameAnswer(ours(input), answer, input);
        if (answer.error === undefined) shortcuts++;
      }),
      { numRuns: 3_000 },
    );
    // The generated ids did include valid ones, which the shortcut answered.
    expect(shortcuts).toBeGreaterThan(100);
  });

  it('headers without X-Min-Position are {} as zod says, and one with it goes to zod, valid or not', () => {
    const { ours, zods } = compile(readYourWritesHeaders, 'headers');
    const headers = fc.dictionary(
      fc.constantFrom('host', 'accept', 'authorization', 'x-request-id', 'x-min-position', 'X-Min-Position', 'content-type'),
      fc.oneof(fc.string(), fc.constantFrom('12/3', '0/0', 'abc', '1/2/3')),
    );
    fc.assert(fc.property(headers, (input) => expectSameAnswer(ours(input), zods(input), input)), { numRuns: 2_000 });
  });

  it('a strict query with optional fields: {} only when nothing at all is given', () => {
    const schema = z.object({ at: z.string().datetime().optional() }).strict();
    const { ours, zods } = compile(schema, 'querystring');
    const queries = fc.dictionary(fc.constantFrom('at', 'At', 'other', ''), fc.oneof(fc.string(), fc.constant('2026-12-01T00:00:00.000Z')));
    fc.assert(fc.property(queries, (input) => expectSameAnswer(ours(input), zods(input), input)), { numRuns: 2_000 });
    expect(ours({}).value).toEqual({});
  });

  it('leaves schemas with a required or defaulted field, or that keep unknown keys, to zod alone', () => {
    const schemas = [
      z.object({ a: z.string() }),
      z.object({ a: z.string().optional() }).passthrough(),
      z.object({ a: z.coerce.number().default(100), b: z.string().optional() }),
    ];
    for (const schema of schemas) {
      const { ours, zods } = compile(schema, 'querystring');
      for (const input of [{}, { a: 'x' }, { b: 'y' }]) expectSameAnswer(ours(input), zods(input), input);
    }
  });
});
