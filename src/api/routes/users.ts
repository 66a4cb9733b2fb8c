// A user's segments: change them (add and remove, all or nothing) and read them.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { formatPosition, START_POSITION } from '../../eventstore/position';
import { historyOf, segmentsAt } from '../../queries/history';
import type { UserSegment } from '../../domain/userSegments';
import { commandMetadata } from '../commandMetadata';
import type { AppDeps } from '../deps';
import { POSITION_HEADER, readYourWritesHeaders } from '../readYourWrites';
import type { Clock } from '../../platform/clock';
import {
  checkExpiry,
  expiresAtSchema,
  expirySpecOf,
  positionSchema,
  problemSchema,
  reportDuplicates,
  slugSchema,
  momentParam,
  timeSchema,
  ttlSecondsSchema,
  userParams,
  userIdSchema,
  userSegmentSchema,
} from '../schemas';

const MAX_LIST = 1_000;

const toUserSegmentJson = (segment: UserSegment) => ({
  slug: segment.slug,
  source: segment.source,
  addedAt: segment.addedAt.toISOString(),
  expiresAt: segment.expiresAt?.toISOString() ?? null,
});

/** A slug, or a slug with the membership's end; `expiresAt` is checked against the service's clock. */
const addEntry = (clock: Clock) =>
  z.union([
    slugSchema,
    z
      .object({ slug: slugSchema, ttlSeconds: ttlSecondsSchema.optional(), expiresAt: expiresAtSchema.optional() })
      .strict()
      .superRefine((entry, ctx) => checkExpiry(entry, [], ctx, clock.now())),
  ]);

const updateBody = (clock: Clock) => z
  .object({
    add: z.array(addEntry(clock)).max(MAX_LIST).default([]),
    remove: z.array(slugSchema).max(MAX_LIST).default([]),
    expectedVersion: z.number().int().min(0).optional().describe('Fail with 409 unless the user is at this version'),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.add.length === 0 && body.remove.length === 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['add'], message: 'name at least one segment to add or remove' });
    }
    const added = body.add.map((entry) => (typeof entry === 'string' ? entry : entry.slug));
    reportDuplicates(added, ['add'], ctx, 'segment');
    reportDuplicates(body.remove, ['remove'], ctx, 'segment');
    const adding = new Set(added);
    body.remove.forEach((slug, index) => {
      if (adding.has(slug)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['remove', index], message: `segment ${slug} is both in add and remove` });
      }
    });
  });


// Unknown parameters are refused rather than ignored: a misspelt `at` must not silently answer
// with the present.
const segmentsQuery = z
  .object({ at: momentParam.optional().describe("Answer as it was at this moment, from the user's history") })
  .strict();

const historyQuery = z
  .object({
    from: momentParam.optional().describe('Inclusive'),
    to: momentParam.optional().describe('Exclusive'),
  })
  .strict()
  .refine((query) => !query.from || !query.to || Date.parse(query.from) < Date.parse(query.to), {
    path: ['to'],
    message: 'must be later than from',
  });

const historyResponse = z.object({
  userId: userIdSchema,
  entries: z.array(
    z.object({
      slug: slugSchema,
      operation: z.enum(['added', 'removed']),
      reason: z.enum(['manual', 'expired', 'segment_deleted', 'auto', 'bulk']),
      at: timeSchema,
    }),
  ),
});

const segmentsResponse = z.object({ userId: userIdSchema, segments: z.array(userSegmentSchema) });

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 503: problemSchema };

export const userRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, deps) => {
  app.post(
    '/users/:userId/segments',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['users'],
        summary: "Add and remove a user's segments, all or nothing",
        params: userParams,
        body: updateBody(deps.clock),
        response: {
          200: z.object({
            userId: userIdSchema,
            added: z.array(slugSchema).describe('Segments that were not active before'),
            removed: z.array(slugSchema).describe('Segments that were active before'),
            segments: z.array(userSegmentSchema).describe("The user's active segments after the change"),
            version: z.number().int().describe("Number of events in the user's stream"),
            position: positionSchema.describe('The position of the user\'s last event (0/0 when there is none); send it as X-Min-Position'),
          }),
          ...errors,
          409: problemSchema,
          422: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const { userId } = request.params;
      const result = await deps.userCommands.updateUserSegments(
        {
          userId,
          add: request.body.add.map((entry) => (typeof entry === 'string' ? { slug: entry } : { slug: entry.slug, expiry: expirySpecOf(entry) })),
          remove: request.body.remove,
          expectedVersion: request.body.expectedVersion,
        },
        commandMetadata(request),
      );
      const segments = await deps.segmentsAfterWrite(userId, result.state, result.decidedAt);
      const position = formatPosition(result.position ?? START_POSITION);
      reply.header(POSITION_HEADER, position);
      return { userId, added: result.added, removed: result.removed, segments: segments.map(toUserSegmentJson), version: result.version, position };
    },
  );

  app.get(
    '/users/:userId/segments',
    {
      config: { scope: 'read', readModel: 'userSegmentsNow' },
      schema: {
        tags: ['users'],
        summary: "A user's active segments, sorted by slug",
        params: userParams,
        querystring: segmentsQuery,
        headers: readYourWritesHeaders,
        response: { 200: segmentsResponse, ...errors, 504: problemSchema },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const { at } = request.query;
      const segments =
        at === undefined
          ? await deps.userSegmentsNow.activeSegmentsOf(userId, deps.clock.now())
          : await segmentsAt(deps.readModel, userId, new Date(at));
      return { userId, segments: segments.map(toUserSegmentJson) };
    },
  );

  app.get(
    '/users/:userId/history',
    {
      config: { scope: 'read', readModel: true },
      schema: {
        tags: ['users'],
        summary: "A user's membership changes in time order, with the reason of each",
        params: userParams,
        querystring: historyQuery,
        headers: readYourWritesHeaders,
        response: { 200: historyResponse, ...errors, 504: problemSchema },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const range = {
        from: request.query.from === undefined ? undefined : new Date(request.query.from),
        to: request.query.to === undefined ? undefined : new Date(request.query.to),
      };
      const entries = await historyOf(deps.readModel, userId, range);
      return { userId, entries: entries.map((entry) => ({ ...entry, at: entry.at.toISOString() })) };
    },
  );
};
