// The one place where errors become RFC 7807 problem documents. Routes never set error statuses.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { StatementTimeoutError } from 'slonik';
import type { ZodIssue } from 'zod';
import { DomainError } from '../domain/errors';
import { isCancelledByConflict, isUnavailable } from '../platform/pgErrors';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  [extra: string]: unknown;
}

export const problemType = (name: string): string => `/problems/${name}`;

/** The longest path parameter routed: a slug (128 characters) is the longest one. */
export const MAX_PATH_PARAMETER_LENGTH = 128;

export class HttpProblem extends Error {
  constructor(
    readonly problem: Problem,
    /** Response headers the status calls for, such as WWW-Authenticate with a 401. */
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.detail ?? problem.title);
  }
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/**
 * A value that fits none of a union's shapes is reported by zod as one "Invalid input" at the
 * union. When the value has the type of exactly one shape (an object where a slug or an object may
 * stand), that shape's own issues name the field that is wrong.
 */
function specificIssues(issue: ZodIssue): ZodIssue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const depth = issue.path.length;
  const typeFits = issue.unionErrors.filter(
    (branch) => !branch.issues.some((inner) => inner.code === 'invalid_type' && inner.path.length === depth),
  );
  return typeFits.length === 1 ? typeFits[0]!.issues.flatMap(specificIssues) : [issue];
}

export function problemFor(error: unknown, request: FastifyRequest): Problem {
  if (error instanceof HttpProblem) return error.problem;
  if (error instanceof DomainError) {
    return { type: problemType(error.problemType), title: error.title, status: error.status, detail: error.message, ...error.extras() };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as { validationContext?: string }).validationContext ?? 'body';
    const errors = error.validation.flatMap((item) => specificIssues(item.params.issue)).map((issue) => {
      const issuePath = issue.path.join('.');
      return { path: where === 'body' ? issuePath : [where, issuePath].filter(Boolean).join('.'), message: issue.message };
    });
    return {
      type: problemType('validation'),
      title: 'Invalid request',
      status: 400,
      detail: errors.map((e) => `${e.path || where}: ${e.message}`).join('; '),
      errors,
    };
  }
  const fastifyError = error as FastifyError;
  // The router's own refusals echo the whole path; a problem names what is wrong without it.
  if (fastifyError.code === 'FST_ERR_BAD_URL') {
    return { type: problemType('bad-path'), title: 'Bad path', status: 400, detail: 'the path is not valid percent-encoded UTF-8' };
  }
  if (fastifyError.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return { type: problemType('path-too-long'), title: 'Path segment too long', status: 414, detail: `a path segment is longer than ${MAX_PATH_PARAMETER_LENGTH} characters` };
  }
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { type: problemType('body-too-large'), title: 'Request body too large', status: 413, detail: fastifyError.message };
  }
  if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return { type: problemType('unsupported-media-type'), title: 'Unsupported media type', status: 415, detail: 'send JSON (Content-Type: application/json)' };
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    // Malformed JSON, empty body with a JSON content type, and the like.
    return { type: problemType('bad-request'), title: 'Bad request', status: fastifyError.statusCode, detail: fastifyError.message };
  }
  if (isUnavailable(error)) {
    return { type: problemType('unavailable'), title: 'Service unavailable', status: 503, detail: 'the database or the event store does not answer; retry later' };
  }
  if (isCancelledByConflict(error)) {
    return {
      type: problemType('cancelled'),
      title: 'Cancelled by a conflict',
      status: 503,
      detail: 'the database cancelled the statement for a conflict (a concurrent transaction, or a replica applying a change the read needed); nothing was changed, retry',
    };
  }
  if (error instanceof StatementTimeoutError) {
    return { type: problemType('timeout'), title: 'Timed out', status: 503, detail: 'the database did not answer in time; retry later' };
  }
  request.log.error({ err: error }, 'unexpected error');
  return { type: problemType('internal'), title: 'Internal error', status: 500, detail: `request ${request.id} failed; the log has the details` };
}

/** fastify's `frameworkErrors`: refusals of the router (a path that is no URL, a parameter too long). */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, problemFor(error, request));
}

export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const problem = problemFor(error, request);
    // A not-ready answer is what a probe polls for while the process starts: not worth a warning each time.
    if (problem.type === problemType('not-ready')) request.log.debug({ detail: problem.detail }, problem.title);
    else if (problem.status >= 500 && problem.status !== 500) request.log.warn({ err: error }, problem.title);
    if (error instanceof HttpProblem) reply.headers(error.headers);
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, { type: problemType('not-found'), title: 'Not found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
}
