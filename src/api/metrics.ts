// GET /metrics: Prometheus text. Request counts and durations per route, and gauges read when
// scraped: each projection's lag, applied events, activity and rebuild progress, and memberships
// past their expiry that the timer has not recorded yet. The registry comes from the service
// (src/platform/serviceMetrics.ts), which holds the process's own figures and what its parts count.
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import { createServiceMetrics } from '../platform/serviceMetrics';
import type { AppDeps, ProjectionStatusView } from './deps';
import { problemSchema } from './schemas';

/** Counts and times every request; the route label is the route's template, never the raw URL. */
export function registerRequestMetrics(app: FastifyInstance, registry: Registry): void {
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  // A callback hook: no promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    // Unknown paths share one label, so a scan of random URLs cannot grow the series without bound.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status_code: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    done();
  });
}

const REBUILD_RUNNING: ReadonlySet<string> = new Set(['building', 'indexing', 'catching_up', 'swapping']);

export function createMetricsRegistry(deps: Pick<AppDeps, 'projections' | 'overdueExpiries' | 'metricsRegistry'>): Registry {
  const registry = deps.metricsRegistry ?? createServiceMetrics().registry;

  // prom-client collects every metric of a scrape at once; the three projection gauges share one
  // read of the projections per scrape (started by the first of them, dropped once it settles).
  let scrape: Promise<ProjectionStatusView[]> | undefined;
  const projectionsOfThisScrape = () => {
    scrape ??= deps.projections().finally(() => setImmediate(() => (scrape = undefined)));
    return scrape;
  };
  const projectionGauge = (
    name: string,
    help: string,
    value: (projection: ProjectionStatusView) => number | null,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['projection'] as const,
      registers: [registry],
      async collect() {
        const projections = await projectionsOfThisScrape();
        this.reset();
        for (const projection of projections) {
          const current = value(projection);
          if (current !== null) this.set({ projection: projection.projection }, current);
        }
      },
    });
  projectionGauge(
    'segments_projection_lag_events',
    'Events appended but not yet applied by the projection (absent when the event store cannot count them)',
    (projection) => projection.lagEvents,
  );
  projectionGauge(
    'segments_projection_events_applied',
    'Events the projection has applied since its read model was built',
    (projection) => projection.eventsApplied,
  );
  projectionGauge(
    'segments_projection_active',
    '1 while this process holds the projection (catching up or live), 0 while it stands by or runs no projector',
    (projection) => (projection.state === 'live' || projection.state === 'catching_up' ? 1 : 0),
  );
  projectionGauge(
    'segments_projection_live',
    '1 while this process applies the projection and has caught up, else 0 (also when another process applies it)',
    (projection) => (projection.state === 'live' ? 1 : 0),
  );
  // Read from the rebuild's progress row, which it writes with each batch: a rebuild started by the
  // CLI or by another process shows here too.
  const runningRebuild = (projection: ProjectionStatusView) =>
    projection.rebuild && REBUILD_RUNNING.has(projection.rebuild.state) ? projection.rebuild : undefined;
  projectionGauge(
    'segments_projection_rebuild_running',
    '1 while a rebuild of the projection runs (in any process: the CLI or POST /projections/{name}/rebuild), else 0',
    (projection) => (runningRebuild(projection) ? 1 : 0),
  );
  projectionGauge(
    'segments_projection_rebuild_events_done',
    'Events the running rebuild has applied to its new tables (absent when none runs)',
    (projection) => runningRebuild(projection)?.eventsDone ?? null,
  );
  projectionGauge(
    'segments_projection_rebuild_events_total',
    'Events the running rebuild has to apply, as far as known: counted at its start, recounted once passed (absent when none runs)',
    (projection) => runningRebuild(projection)?.eventsTotal ?? null,
  );
  new Gauge({
    name: 'segments_memberships_expiry_overdue',
    help: 'Memberships past their expiry whose removal the timer has not recorded yet (reads already leave them out)',
    registers: [registry],
    async collect() {
      this.set(await deps.overdueExpiries());
    },
  });
  return registry;
}

export const metricsRoutes: FastifyPluginAsyncZod<AppDeps & { metrics: Registry }> = async (app, deps) => {
  app.get(
    '/metrics',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        response: { 200: z.string().describe('text/plain; version=0.0.4: Prometheus exposition format'), 401: problemSchema, 403: problemSchema },
      },
    },
    async (_request, reply) => {
      const text = await deps.metrics.metrics();
      // A string with a text content type goes out as it is; the 200 schema documents it only.
      return reply.type(deps.metrics.contentType).send(text);
    },
  );
};
