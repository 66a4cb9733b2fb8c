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

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function registerAuth(app: FastifyInstance, tokens: readonly ApiToken[]): void {
  app.decorateRequest('actor', 'anonymous');
  if (tokens.length === 0) return;
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const needed = request.routeOptions.config?.scope;
    if (!needed) return;
    const header = request.headers.authorization;
    // The scheme name is case-insensitive (RFC 7235): `bearer` and `BEARER` work too.
    const presented = header && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
    const token = presented ? tokens.find((candidate) => sameSecret(candidate.token, presented)) : undefined;
    if (!token) {
      throw new HttpProblem({
        type: problemType('unauthorized'),
        title: 'Unauthorized',
        status: 401,
        detail: presented ? 'the bearer token is not known' : 'send Authorization: Bearer <token>',
      });
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
  });
}
