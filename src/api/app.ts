// Builds the fastify app (routes, validation, Swagger, errors, auth). It never listens: server.ts does.
import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiToken } from '../config';
import { registerAuth } from './auth';
import { DEFAULT_REQUEST_TIMEOUT_MS, registerRateLimit, requestTimeoutOptions, type RateLimit } from './limits';
import { createMetricsRegistry, metricsRoutes, registerRequestMetrics } from './metrics';
import type { AppDeps } from './deps';
import { documentedTransform } from './openapiDocs';
import { frameworkErrors, MAX_PATH_PARAMETER_LENGTH, registerProblemHandlers } from './problems';
import { registerReadYourWrites } from './readYourWrites';
import { problemSchema } from './schemas';
import { fastSerializerCompiler } from './serializer';
import { answerUnmetExpectations, clientErrorHandler } from './transportProblems';
import { healthRoutes } from './routes/health';
import { memberRoutes } from './routes/members';
import { reportRoutes } from './routes/reports';
import { segmentRoutes } from './routes/segments';
import { userRoutes } from './routes/users';
import { validatorCompiler } from './validation';

export interface AppOptions {
  logger?: FastifyBaseLogger;
  bodyLimitBytes?: number;
  apiTokens?: readonly ApiToken[];
  publicUrl?: string;
  /** Per token (per client address without tokens); none when absent. */
  rateLimit?: RateLimit;
  /** The time a request may take to arrive in full; DEFAULT_REQUEST_TIMEOUT_MS when absent. */
  requestTimeoutMs?: number;
}

export const API_VERSION = '1.0.0';

const RATE_LIMITED_RESPONSE = problemSchema.describe(
  'Too many requests for this token (or client address) when RATE_LIMIT_PER_SECOND is configured; Retry-After says when to try again',
);

export async function buildApp(deps: AppDeps, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimitBytes ?? 4 * 1024 * 1024,
    ...requestTimeoutOptions(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER_LENGTH },
    frameworkErrors,
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();
  answerUnmetExpectations(app.server);

  // JSON only: a text body is 415, not a string handed to the JSON schemas.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(fastSerializerCompiler);
  registerProblemHandlers(app);
  registerAuth(app, options.apiTokens ?? []);
  registerRateLimit(app, options.rateLimit, (options.apiTokens ?? []).length > 0);
  registerReadYourWrites(app, { readModel: deps.waitForReadModel, userSegmentsNow: deps.userSegmentsNow.waitFor });
  const metrics = createMetricsRegistry(deps);
  registerRequestMetrics(app, metrics);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  // Every route that needs a scope says so in the OpenAPI document, so that Swagger UI's
  // "Authorize" sends the token with it; the scope it needs is in its description.
  app.addHook('onRoute', (route) => {
    const scope = route.config?.scope;
    if (!scope || !route.schema) return;
    const needs = `Needs a token with scope \`${scope}\` (or higher) when API_TOKENS is configured.`;
    route.schema = {
      ...route.schema,
      security: [{ bearer: [] }],
      description: route.schema.description ? `${route.schema.description}\n\n${needs}` : needs,
      // Documented whether or not this process limits: the document must not depend on configuration.
      response: { ...(route.schema.response as object | undefined), 429: RATE_LIMITED_RESPONSE },
    };
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Dynamic user segmentation service',
        description:
          'Segments, memberships and their history. Errors are RFC 7807 problem documents (application/problem+json).',
        version: API_VERSION,
      },
      servers: options.publicUrl ? [{ url: options.publicUrl }] : [],
      tags: [
        { name: 'segments', description: 'Create, list and delete segments; list and change their members' },
        { name: 'users', description: "A user's segments and their history" },
        { name: 'reports', description: 'Monthly CSV reports of membership changes' },
        { name: 'operations', description: 'Health and projections' },
      ],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Only when API_TOKENS is configured' } },
      },
    },
    transform: documentedTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes, deps);
  await app.register(metricsRoutes, { ...deps, metrics });
  await app.register(segmentRoutes, deps);
  await app.register(memberRoutes, deps);
  await app.register(userRoutes, deps);
  await app.register(reportRoutes, deps);
  return app;
}
