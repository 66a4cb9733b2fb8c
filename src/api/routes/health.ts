// Liveness, readiness and projection status.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../deps';
import { HttpProblem, problemType } from '../problems';
import { problemSchema } from '../schemas';

const check = z.object({ name: z.string(), ok: z.boolean(), detail: z.string().optional() });

export const healthRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, deps) => {
  app.get(
    '/health/live',
    { schema: { tags: ['operations'], summary: 'The process runs', response: { 200: z.object({ status: z.literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'The database and event store answer and projections run',
        response: { 200: z.object({ status: z.literal('ready'), checks: z.array(check) }), 503: problemSchema },
      },
    },
    async () => {
      const checks = await deps.readiness();
      const failing = checks.filter((item) => !item.ok);
      if (failing.length === 0) return { status: 'ready' as const, checks };
      throw new HttpProblem({
        type: problemType('not-ready'),
        title: 'Not ready',
        status: 503,
        detail: failing.map((item) => `${item.name}: ${item.detail ?? 'failing'}`).join('; '),
        checks,
      });
    },
  );

  app.get(
    '/projections',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['operations'],
        summary: "Each projection's position, lag and state",
        response: {
          200: z.object({
            projections: z.array(
              z.object({
                projection: z.string(),
                state: z.string(),
                position: z.string().nullable(),
                eventsApplied: z.number().int(),
                lagEvents: z.number().int().nullable(),
                lastAppliedAt: z.string().nullable(),
                lastError: z.string().nullable(),
              }),
            ),
          }),
          401: problemSchema,
          403: problemSchema,
        },
      },
    },
    async () => ({ projections: await deps.projections() }),
  );
};
