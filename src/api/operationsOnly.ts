// A process without the `api` role still answers its probes and scrapes: /health/live,
// /health/ready and /metrics, on HEALTH_PORT (or PORT). Every other route is a 404 there, so a
// projector or timer process never takes writes or reads by mistake. And a process that is
// stopping says so to its readiness probe while it still serves what reaches it.
import type { FastifyInstance } from 'fastify';
import { HttpProblem, problemType } from './problems';

const OPERATIONS_ROUTES: ReadonlySet<string> = new Set(['/health/live', '/health/ready', '/metrics']);

export function serveOperationsOnly(app: FastifyInstance, roles: readonly string[]): void {
  app.addHook('onRequest', (request, _reply, done) => {
    if (OPERATIONS_ROUTES.has(request.routeOptions.url ?? '')) return done();
    done(
      new HttpProblem({
        type: problemType('not-found'),
        title: 'Not found',
        status: 404,
        detail: `this process runs ${roles.join(', ')} and serves only ${[...OPERATIONS_ROUTES].join(', ')}`,
      }),
    );
  });
}

/** From the moment `stopping()` turns true, GET /health/ready answers 503: load balancers stop sending traffic. */
export function notReadyWhileStopping(app: FastifyInstance, stopping: () => boolean): void {
  app.addHook('onRequest', (request, _reply, done) => {
    if (!stopping() || request.routeOptions.url !== '/health/ready') return done();
    done(new HttpProblem({ type: problemType('not-ready'), title: 'Not ready', status: 503, detail: 'stopping' }));
  });
}
