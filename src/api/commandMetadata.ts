// Who asked for a change through the API, as every event it leads to records it.
import type { FastifyRequest } from 'fastify';
import type { CommandMetadata } from '../events/metadata';

export function commandMetadata(request: FastifyRequest): CommandMetadata {
  return { actor: request.actor, requestId: request.id, source: 'api' };
}
