// Segment routes: create, list, read, update, delete, and members (list and bulk change).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SegmentNotFoundError } from '../../domain/errors';
import { formatPosition, START_POSITION } from '../../eventstore/position';
import { liveSegment, listSegments, membersOf, type SegmentView } from '../../queries/segments';
import { commandMetadata } from '../commandMetadata';
import type { AppDeps } from '../deps';
import { POSITION_HEADER } from '../readYourWrites';
import type { Clock } from '../../platform/clock';
import {
  checkExpiry,
  expiresAtSchema,
  expirySpecOf,
  problemSchema,
  reportDuplicates,
  segmentSchema,
  segmentWithCountSchema,
  slugSchema,
  timeSchema,
  ttlSecondsSchema,
  userIdSchema,
} from '../schemas';

const MAX_BULK_IDS = 100_000;

const percentSchema = z
  .number()
  .gt(0)
  .max(100)
  .refine((value) => Math.abs(Math.round(value * 100) - value * 100) < 1e-9, 'at most two decimals')
  .describe('Share of all users who fall into the segment automatically: 0 < p ≤ 100, two decimals at most');

const createSegmentBody = z
  .object({
    slug: slugSchema,
    description: z.string().max(1000).nullable().optional(),
    autoAssignPercent: percentSchema.nullable().optional(),
  })
  .strict();

const updateSegmentBody = z
  .object({
    description: z.string().max(1000).nullable().optional(),
    autoAssignPercent: percentSchema
      .nullable()
      .optional()
      .describe('0 < p ≤ 100, two decimals at most; null turns the automatic percentage off'),
  })
  .strict()
  .refine((body) => body.description !== undefined || body.autoAssignPercent !== undefined, {
    message: 'name description or autoAssignPercent to change',
  });

const slugParams = z.object({ slug: slugSchema });

const membersQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .regex(/^\d{1,16}$/, 'a cursor returned as nextCursor')
    .optional()
    .describe('nextCursor of the previous page'),
});

/** `expiresAt` is checked against the service's clock, so the schema is built per app. */
const bulkBody = (clock: Clock) => z
  .object({
    add: z.array(userIdSchema).max(MAX_BULK_IDS).default([]),
    remove: z.array(userIdSchema).max(MAX_BULK_IDS).default([]),
    ttlSeconds: ttlSecondsSchema.optional().describe('Every added user leaves after this many seconds (1 to 315,360,000)'),
    expiresAt: expiresAtSchema.optional().describe('Every added user leaves at this moment; null: permanent'),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.add.length + body.remove.length === 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['add'], message: 'name at least one user id to add or remove' });
    }
    if (body.add.length + body.remove.length > MAX_BULK_IDS) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['add'], message: `at most ${MAX_BULK_IDS} user ids a request` });
    }
    checkExpiry(body, [], ctx, clock.now());
    if (body.add.length === 0 && (body.ttlSeconds !== undefined || body.expiresAt !== undefined)) {
      const field = body.ttlSeconds !== undefined ? 'ttlSeconds' : 'expiresAt';
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [field], message: 'applies to the users in add, and add is empty' });
    }
    reportDuplicates(body.add, ['add'], ctx, 'user');
    reportDuplicates(body.remove, ['remove'], ctx, 'user');
    const adding = new Set(body.add);
    body.remove.forEach((userId, index) => {
      if (adding.has(userId)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['remove', index], message: `user ${userId} is both in add and remove` });
      }
    });
  });

const segmentJson = (segment: Pick<SegmentView, 'slug' | 'description' | 'autoAssignPercent' | 'createdAt'>) => ({
  slug: segment.slug,
  description: segment.description,
  autoAssignPercent: segment.autoAssignPercent,
  createdAt: segment.createdAt.toISOString(),
});

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 503: problemSchema };

export const segmentRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, deps) => {
  app.post(
    '/segments',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['segments'],
        summary: 'Create a segment',
        body: createSegmentBody,
        response: { 201: segmentSchema, ...errors, 409: problemSchema },
      },
    },
    async (request, reply) => {
      const { slug, description, autoAssignPercent } = request.body;
      const { segment, position } = await deps.segmentCommands.createSegment(
        { slug, description: description ?? null, autoAssignPercent: autoAssignPercent ?? null },
        commandMetadata(request),
      );
      return reply
        .status(201)
        .header(POSITION_HEADER, formatPosition(position))
        .send(segmentJson({ ...segment, createdAt: new Date(segment.createdAt) }));
    },
  );

  app.get(
    '/segments',
    {
      config: { scope: 'read', readModel: true },
      schema: {
        tags: ['segments'],
        summary: 'List live segments, sorted by slug',
        response: { 200: z.object({ segments: z.array(segmentWithCountSchema) }), ...errors },
      },
    },
    async () => {
      const segments = await listSegments(deps.readModel, deps.clock.now());
      return { segments: segments.map((segment) => ({ ...segmentJson(segment), memberCount: segment.memberCount })) };
    },
  );

  app.get(
    '/segments/:slug',
    {
      config: { scope: 'read', readModel: true },
      schema: {
        tags: ['segments'],
        summary: 'Read one segment',
        params: slugParams,
        response: { 200: segmentWithCountSchema, ...errors, 404: problemSchema },
      },
    },
    async (request) => {
      const segment = await liveSegment(deps.readModel, request.params.slug, deps.clock.now());
      if (!segment) throw new SegmentNotFoundError(request.params.slug);
      return { ...segmentJson(segment), memberCount: segment.memberCount };
    },
  );

  app.patch(
    '/segments/:slug',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['segments'],
        summary: 'Change a segment\'s description or automatic percentage',
        description:
          'Raising the percentage keeps every user who was in; lowering it removes only users whose bucket is above the new threshold.',
        params: slugParams,
        body: updateSegmentBody,
        response: { 200: segmentWithCountSchema, ...errors, 404: problemSchema },
      },
    },
    async (request, reply) => {
      const { segment, position } = await deps.segmentCommands.updateSegment(
        { slug: request.params.slug, ...request.body },
        commandMetadata(request),
      );
      // The segment as GET /segments/{slug} shows it; a PATCH changes no explicit membership, so
      // the read model's count is current even before it applies this change.
      const view = await liveSegment(deps.readModel, request.params.slug, deps.clock.now());
      return reply
        .header(POSITION_HEADER, formatPosition(position))
        .send({ ...segmentJson({ ...segment, createdAt: new Date(segment.createdAt) }), memberCount: view?.memberCount ?? 0 });
    },
  );

  app.delete(
    '/segments/:slug',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['segments'],
        summary: 'Delete a segment; every member leaves it (history reason segment_deleted)',
        params: slugParams,
        response: { 204: z.null().describe('Deleted'), ...errors, 404: problemSchema },
      },
    },
    async (request, reply) => {
      const position = await deps.segmentCommands.deleteSegment(request.params.slug, commandMetadata(request));
      return reply.status(204).header(POSITION_HEADER, formatPosition(position)).send(null);
    },
  );

  app.get(
    '/segments/:slug/members',
    {
      config: { scope: 'read', readModel: true },
      schema: {
        tags: ['segments'],
        summary: 'Explicit, unexpired members of a segment, ordered by user id',
        params: slugParams,
        querystring: membersQuery,
        response: {
          200: z.object({
            members: z.array(z.object({ userId: userIdSchema, addedAt: timeSchema, expiresAt: timeSchema.nullable() })),
            nextCursor: z.string().nullable(),
          }),
          ...errors,
          404: problemSchema,
        },
      },
    },
    async (request) => {
      const now = deps.clock.now();
      const segment = await liveSegment(deps.readModel, request.params.slug, now);
      if (!segment) throw new SegmentNotFoundError(request.params.slug);
      const page = await membersOf(deps.readModel, segment.segmentId, {
        limit: request.query.limit,
        after: request.query.cursor === undefined ? 0 : Number(request.query.cursor),
        now,
      });
      return {
        members: page.members.map((member) => ({
          userId: member.userId,
          addedAt: member.addedAt.toISOString(),
          expiresAt: member.expiresAt?.toISOString() ?? null,
        })),
        nextCursor: page.nextAfter === null ? null : String(page.nextAfter),
      };
    },
  );

  app.post(
    '/segments/:slug/members',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['segments'],
        summary: 'Add and remove up to 100,000 users at once, each with the rules of the user route',
        params: slugParams,
        body: bulkBody(deps.clock),
        response: {
          200: z.object({ added: z.number().int(), removed: z.number().int() }),
          ...errors,
          404: problemSchema,
          413: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const result = await deps.userCommands.updateSegmentMembers(
        { slug: request.params.slug, add: request.body.add, remove: request.body.remove, expiry: expirySpecOf(request.body) },
        commandMetadata(request),
      );
      reply.header(POSITION_HEADER, formatPosition(result.position ?? START_POSITION));
      return { added: result.added, removed: result.removed };
    },
  );
};
