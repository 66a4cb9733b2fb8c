// Segment routes: create, list, read, update, delete, and members (list and bulk change).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SegmentNotFoundError } from '../../domain/errors';
import { formatPosition } from '../../eventstore/position';
import { liveSegment, listSegments, type SegmentView } from '../../queries/segments';
import { commandMetadata } from '../commandMetadata';
import type { AppDeps } from '../deps';
import { POSITION_HEADER } from '../readYourWrites';
import { problemSchema, segmentSchema, segmentWithCountSchema, slugSchema, storableText } from '../schemas';

const percentSchema = z
  .number()
  .gt(0)
  .max(100)
  .refine((value) => Math.abs(Math.round(value * 100) - value * 100) < 1e-9, 'at most two decimals')
  .describe('Share of all users who fall into the segment automatically: 0 < p ≤ 100, two decimals at most');

const createSegmentBody = z
  .object({
    slug: slugSchema,
    description: storableText(1000).nullable().optional(),
    autoAssignPercent: percentSchema.nullable().optional(),
  })
  .strict();

const updateSegmentBody = z
  .object({
    description: storableText(1000).nullable().optional(),
    autoAssignPercent: percentSchema
      .nullable()
      .optional()
      .describe('0 < p ≤ 100, two decimals at most; null turns the automatic percentage off'),
  })
  .strict()
  .refine((body) => body.description !== undefined || body.autoAssignPercent !== undefined, {
    message: 'name description or autoAssignPercent to change',
  });

export const slugParams = z.object({ slug: slugSchema });

const segmentsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: slugSchema.optional().describe('nextCursor of the previous page'),
});

const segmentJson = (segment: Pick<SegmentView, 'slug' | 'description' | 'autoAssignPercent' | 'createdAt'>) => ({
  slug: segment.slug,
  description: segment.description,
  autoAssignPercent: segment.autoAssignPercent,
  createdAt: segment.createdAt.toISOString(),
});

export const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 503: problemSchema };

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
        summary: 'List live segments, sorted by slug, a page at a time',
        querystring: segmentsQuery,
        response: {
          200: z.object({
            segments: z.array(segmentWithCountSchema),
            nextCursor: z.string().nullable().describe('Send as cursor for the next page; null on the last page'),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const page = await listSegments(deps.readModel, deps.clock.now(), { limit: request.query.limit, after: request.query.cursor });
      return {
        segments: page.segments.map((segment) => ({ ...segmentJson(segment), memberCount: segment.memberCount })),
        nextCursor: page.nextAfter,
      };
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
      // The segment as GET /segments/{slug} shows it. A PATCH changes no explicit membership, so the
      // count read before the change is its count after it; read first, a database that fails here
      // answers 503 with nothing stored, never after the change is made.
      const view = await liveSegment(deps.readModel, request.params.slug, deps.clock.now());
      const { segment, position } = await deps.segmentCommands.updateSegment(
        { slug: request.params.slug, ...request.body },
        commandMetadata(request),
      );
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
};
