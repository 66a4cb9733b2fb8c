// GET /metrics: Prometheus text. Request counts and durations per route, the process's own
// figures (CPU, memory, event-loop lag, GC), and gauges read when scraped: each projection's lag
// and applied events, and memberships past their expiry that the timer has not recorded yet.
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
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

export function createMetricsRegistry(deps: Pick<AppDeps, 'projections' | 'overdueExpiries'>): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

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
