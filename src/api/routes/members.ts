// A segment's members: the paged list of explicit members, and bulk changes of up to 100,000 users.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SegmentNotFoundError } from '../../domain/errors';
import { formatPosition, START_POSITION } from '../../eventstore/position';
import type { Clock } from '../../platform/clock';
import { liveSegment, membersOf } from '../../queries/segments';
import { commandMetadata } from '../commandMetadata';
import type { AppDeps } from '../deps';
import { POSITION_HEADER } from '../readYourWrites';
import { checkExpiry, expiresAtSchema, expirySpecOf, problemSchema, reportDuplicates, timeSchema, ttlSecondsSchema, userIdSchema } from '../schemas';
import { errors, slugParams } from './segments';

const MAX_BULK_IDS = 100_000;

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

export const memberRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, deps) => {
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
