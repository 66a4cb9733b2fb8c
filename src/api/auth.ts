// Bearer tokens with scopes read < write < admin, when API_TOKENS is configured.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiToken, Scope } from '../config';
import { HttpProblem, problemType } from './problems';

const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one are public. */
    scope?: Scope;
  }
  interface FastifyRequest {
    actor: string;
  }
}

function authorizationHeaderCount(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) if (rawHeaders[index]!.toLowerCase() === 'authorization') count++;
  return count;
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function registerAuth(app: FastifyInstance, tokens: readonly ApiToken[]): void {
  app.decorateRequest('actor', 'anonymous');
  if (tokens.length === 0) return;
  // A callback hook: no promise per request.
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      authorize(request);
      done();
    } catch (error) {
      done(error as Error);
    }
  });

  function authorize(request: FastifyRequest): void {
    const needed = request.routeOptions.config?.scope;
    if (!needed) return;
    // Node keeps the first of several Authorization headers and drops the rest; which one a proxy
    // or a client meant is not ours to guess.
    if (authorizationHeaderCount(request.raw.rawHeaders) > 1) {
      throw new HttpProblem({
        type: problemType('bad-request'),
        title: 'Bad request',
        status: 400,
        detail: 'send one Authorization header, not several',
      });
    }
    const header = request.headers.authorization;
    // The scheme name is case-insensitive (RFC 7235): `bearer` and `BEARER` work too.
    const presented = header && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
    const token = presented ? tokens.find((candidate) => sameSecret(candidate.token, presented)) : undefined;
    if (!token) {
      throw new HttpProblem(
        {
          type: problemType('unauthorized'),
          title: 'Unauthorized',
          status: 401,
          detail: presented ? 'the bearer token is not known' : 'send Authorization: Bearer <token>',
        },
        // RFC 6750: the scheme to use, and for a token that was sent, that it is not valid.
        { 'www-authenticate': presented ? 'Bearer error="invalid_token"' : 'Bearer' },
      );
    }
    if (RANK[token.scope] < RANK[needed]) {
      throw new HttpProblem({
        type: problemType('forbidden'),
        title: 'Forbidden',
        status: 403,
        detail: `token ${token.name} has scope ${token.scope}; this needs ${needed}`,
        requiredScope: needed,
      });
    }
    request.actor = token.name;
  }
}
