// Metadata stored with every event: who, why and when, for audit.
export interface EventMetadata {
  occurredAt: string;
  /** Name of the API token, or the part of the service that acted. */
  actor: string;
  requestId?: string;
  source: 'api' | 'projector' | 'timer' | 'cli';
}
