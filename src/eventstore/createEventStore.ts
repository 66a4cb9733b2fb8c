// Builds the event store the configuration names: the PostgreSQL one (default) or EventStoreDB.
import { EventStoreDBClient } from '@eventstore/db-client';
import type { Pool } from 'pg';
import type { DatabasePool } from 'slonik';
import type { Config } from '../config';
import type { EventStore } from './eventStore';
import { EventStoreDbEventStore } from './eventstoredb/eventStoreDbEventStore';
import { PostgresEventStore } from './postgres/postgresEventStore';

export type EventStoreSelection =
  | { kind: 'postgres' }
  | { kind: 'eventstoredb'; connectionString: string; streamPrefix?: string };

/** The event store the configuration names (loadConfig refuses eventstoredb without a connection string). */
export function eventStoreSelection(config: Pick<Config, 'eventStore' | 'eventStoreConnectionString' | 'eventStoreStreamPrefix'>): EventStoreSelection {
  if (config.eventStore === 'postgres') return { kind: 'postgres' };
  return { kind: 'eventstoredb', connectionString: config.eventStoreConnectionString!, streamPrefix: config.eventStoreStreamPrefix };
}

export interface EventStoreLogger {
  warn(object: object, message: string): void;
}

export function createEventStore(
  selection: EventStoreSelection,
  postgres: { pool: DatabasePool; databaseUrl: string; statementPool?: Pool },
  logger?: EventStoreLogger,
): EventStore {
  const onSubscriptionDropped = (error: Error, attempt: number, delayMs: number) =>
    logger?.warn({ err: error, attempt, delayMs, eventStore: selection.kind }, 'event store subscription dropped; resubscribing');
  if (selection.kind === 'postgres') {
    return new PostgresEventStore(postgres.pool, {
      connectionString: postgres.databaseUrl,
      statementPool: postgres.statementPool,
      onSubscriptionDropped,
    });
  }
  // The client connects lazily: an unreachable server fails calls (503, readiness), not start-up.
  const client = EventStoreDBClient.connectionString(selection.connectionString);
  return new EventStoreDbEventStore(client, { streamPrefix: selection.streamPrefix, onSubscriptionDropped });
}
