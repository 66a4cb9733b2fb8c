// Recognises PostgreSQL errors by SQLSTATE through wrappers (slonik's error classes, an
// EventEmitter's ERR_UNHANDLED_ERROR `context`, `cause` chains), not by `instanceof`, which
// fails when an error crosses a realm (as it does under jest).
import { EventStoreUnavailableError } from '../eventstore/eventStore';
interface PgErrorLike {
  code?: unknown;
  constraint?: unknown;
  cause?: unknown;
  context?: unknown;
}

function* errorChain(error: unknown): Generator<PgErrorLike> {
  const seen = new Set<unknown>();
  const pending: unknown[] = [error];
  while (pending.length > 0) {
    const current = pending.shift();
    if (current === null || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    yield current as PgErrorLike;
    pending.push((current as PgErrorLike).cause, (current as PgErrorLike).context);
  }
}

/** The constraint a unique violation (SQLSTATE 23505) names, or undefined if it is not one. */
export function uniqueViolationConstraint(error: unknown): string | undefined {
  for (const link of errorChain(error)) {
    if (link.code === '23505') return typeof link.constraint === 'string' ? link.constraint : '';
  }
  return undefined;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', // connection_exception
  '08003', // connection_does_not_exist
  '08006', // connection_failure
]);

const CONNECTION_MESSAGES = /Connection terminated|terminated unexpectedly|Connection refused|connect ECONNREFUSED|timeout exceeded when trying to connect/i;

/** True when the error says the database could not be reached or the connection was lost. */
export function isConnectionError(error: unknown): boolean {
  for (const link of errorChain(error)) {
    if (typeof link.code === 'string' && CONNECTION_CODES.has(link.code)) return true;
    const name = (link as { name?: unknown }).name;
    if (name === 'ConnectionError' || name === 'BackendTerminatedError' || name === 'BackendTerminatedUnexpectedlyError') return true;
    const message = (link as { message?: unknown }).message;
    if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
  }
  return false;
}

// PostgreSQL cancelled the statement for a conflict and rolled its transaction back: a
// serialization failure (on a hot standby also "conflict with recovery": the replica had to apply
// a change a running read still needed) or a deadlock. The same request may well pass next time.
const CONFLICT_CODES = new Set(['40001', '40P01']);

/** True when the error is PostgreSQL cancelling a statement for a conflict (SQLSTATE 40001, 40P01). */
export function isCancelledByConflict(error: unknown): boolean {
  for (const link of errorChain(error)) if (typeof link.code === 'string' && CONFLICT_CODES.has(link.code)) return true;
  return false;
}

/** The database or the event store did not answer: a 503 to callers, a reason to stop a round. */
export function isUnavailable(error: unknown): boolean {
  return error instanceof EventStoreUnavailableError || isConnectionError(error);
}
