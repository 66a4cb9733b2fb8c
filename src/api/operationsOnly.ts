// A process without the `api` role still answers its probes and scrapes: /health/live,
// /health/ready and /metrics, on HEALTH_PORT (or PORT). Every other route is a 404 there, so a
// projector or timer process never takes writes or reads by mistake.
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
