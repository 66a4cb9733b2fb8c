// Liveness, readiness, projection status and rebuilds.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../deps';
import { HttpProblem, problemType } from '../problems';
import { problemSchema } from '../schemas';

const check = z.object({ name: z.string(), ok: z.boolean(), detail: z.string().optional() });

const projectionName = z.object({ name: z.string().min(1).max(100) });

const rebuildView = z.object({
  state: z.enum(['building', 'indexing', 'catching_up', 'swapping', 'finished', 'failed', 'abandoned']),
  startedAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
  position: z.string().nullable(),
  eventsDone: z.number().int(),
  eventsTotal: z.number().int().nullable(),
  percent: z.number().nullable(),
  eventsPerSecond: z.number().int().nullable(),
  etaSeconds: z.number().int().nullable(),
  error: z.string().nullable(),
});

const projectionView = z.object({
  projection: z.string(),
  state: z.string(),
  position: z.string().nullable(),
  eventsApplied: z.number().int(),
  lagEvents: z.number().int().nullable(),
  lagMs: z.number().int().nullable(),
  lastAppliedAt: z.string().nullable(),
  lastError: z.string().nullable(),
  rebuild: rebuildView.nullable(),
});

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
        summary: "Each projection's position, lag, state and latest rebuild",
        response: { 200: z.object({ projections: z.array(projectionView) }), 401: problemSchema, 403: problemSchema },
      },
    },
    async () => ({ projections: await deps.projections() }),
  );

  app.get(
    '/projections/:name',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['operations'],
        summary: "One projection's position, lag, state and latest rebuild",
        params: projectionName,
        response: { 200: projectionView, 401: problemSchema, 403: problemSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const found = (await deps.projections()).find((view) => view.projection === request.params.name);
      if (!found) throw unknownProjection(request.params.name);
      return found;
    },
  );

  app.post(
    '/projections/:name/rebuild',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['operations'],
        summary: 'Rebuild a projection into fresh tables and swap them in',
        description:
          'Replays every event into new tables beside the live ones while reads and writes go on, then swaps them in ' +
          'with the projector paused for a moment. Runs in the background of the process asked: 202 at once, progress ' +
          'in GET /projections/{name} (the Location). 409 while a rebuild (or a verify) runs.',
        params: projectionName,
        response: {
          202: z.object({ projection: z.string(), rebuild: rebuildView.nullable() }),
          401: problemSchema,
          403: problemSchema,
          404: problemSchema,
          409: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const started = await deps.projectionRebuilds.start(name);
      if (started.outcome === 'unknown') throw unknownProjection(name);
      if (started.outcome === 'running') {
        throw new HttpProblem({
          type: problemType('rebuild-running'),
          title: 'A rebuild is running',
          status: 409,
          detail: `a rebuild or a verify of ${name} is running; watch it in GET /projections/${name}`,
          projection: name,
          rebuild: started.rebuild,
        });
      }
      return reply.status(202).header('location', `/projections/${encodeURIComponent(name)}`).send({ projection: name, rebuild: started.rebuild });
    },
  );
};

function unknownProjection(name: string): HttpProblem {
  return new HttpProblem({
    type: problemType('projection-not-found'),
    title: 'Projection not found',
    status: 404,
    detail: `there is no projection ${name}`,
    projection: name,
  });
}
