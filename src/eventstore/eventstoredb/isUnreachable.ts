// Client errors that mean "the server did not answer", as opposed to a refusal.

/** gRPC UNAVAILABLE and DEADLINE_EXCEEDED. */
const UNREACHABLE_GRPC_CODES = new Set([4, 14]);

export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number' && UNREACHABLE_GRPC_CODES.has(code)) return true;
  const type = (error as { type?: unknown }).type;
  return type === 'unavailable' || type === 'deadline-exceeded' || type === 'timeout';
}
