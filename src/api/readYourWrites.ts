// Read-your-writes: every write answers with X-Position; a read of the read model that sends it
// back as X-Min-Position waits (up to 5 s) until the projection has applied that position.
import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { z } from 'zod';
import type { Position } from '../eventstore/eventStore';
import { parsePosition } from '../eventstore/position';
import { HttpProblem, problemType } from './problems';
import { positionSchema } from './schemas';

export const POSITION_HEADER = 'x-position';
const MIN_POSITION_HEADER = 'x-min-position';
const TIMEOUT_MS = 5_000;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route reads the projected read model, so X-Min-Position applies; `userSegmentsNow`: it
     * reads a user's segments now (without `?at=`), which may come from the in-memory view.
     */
    readModel?: true | 'userSegmentsNow';
  }
}

/** Documents the header on the routes that honour it. */
export const readYourWritesHeaders = z.object({
  [MIN_POSITION_HEADER]: positionSchema.optional().describe('Wait up to 5 s until the read model has applied this position (X-Position of a write)'),
});

type Wait = (position: Position, timeoutMs: number) => Promise<boolean>;

export function registerReadYourWrites(app: FastifyInstance, waits: { readModel: Wait; userSegmentsNow: Wait }): void {
  const waitForHeader = async (request: FastifyRequest, readModel: true | 'userSegmentsNow', text: string | undefined) => {
    const position = text === undefined ? undefined : parsePosition(text);
    if (!position) {
      throw new HttpProblem({
        type: problemType('validation'),
        title: 'Invalid request',
        status: 400,
        detail: `headers.${MIN_POSITION_HEADER}: expected the X-Position of a write, like "812/45"`,
        errors: [{ path: `headers.${MIN_POSITION_HEADER}`, message: 'expected the X-Position of a write, like "812/45"' }],
      });
    }
    const now = readModel === 'userSegmentsNow' && (request.query as { at?: unknown }).at === undefined;
    if (!(await (now ? waits.userSegmentsNow : waits.readModel)(position, TIMEOUT_MS))) {
      throw new HttpProblem({
        type: problemType('position-not-reached'),
        title: 'Read model behind',
        status: 504,
        detail: `the read model did not reach position ${text} within ${TIMEOUT_MS / 1000} s`,
      });
    }
  };
  // Only on the routes that read the read model, and without a promise when the header is absent:
  // the hot read pays nothing for the wait it does not ask for.
  app.addHook('onRoute', (route) => {
    const readModel = route.config?.readModel;
    if (!readModel) return;
    const hook: preHandlerHookHandler = (request, _reply, done) => {
      const header = request.headers[MIN_POSITION_HEADER];
      if (header === undefined) return done();
      waitForHeader(request, readModel, Array.isArray(header) ? header[0] : header).then(() => done(), done);
    };
    route.preHandler = [...(route.preHandler === undefined ? [] : [route.preHandler].flat()), hook];
  });
}
