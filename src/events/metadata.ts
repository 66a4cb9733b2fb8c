// Metadata stored with every event: who, why and when, for audit.
export interface EventMetadata {
  occurredAt: string;
  /** Name of the API token, or the part of the service that acted. */
  actor: string;
  requestId?: string;
  source: 'api' | 'projector' | 'timer' | 'cli';
}

/** What a caller gives a command; the handler adds `occurredAt`, the moment it decided. */
export type CommandMetadata = Omit<EventMetadata, 'occurredAt'>;
