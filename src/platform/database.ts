// The PostgreSQL pool shared by the event store and the read model, and the schema it needs.
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client, Pool } from 'pg';
import { createPool, sql, type DatabasePool, type DatabasePoolConnection } from 'slonik';
import { z } from 'zod';

export type { DatabasePool } from 'slonik';

export const SCHEMA_FILE = path.resolve(__dirname, '../../infra/sql/schema.sql');

const typeParsers = [
  // User ids and positions stay below 2^53; the event store casts its xid8 to text itself.
  { name: 'int8', parse: (value: string) => Number(value) },
  { name: 'numeric', parse: (value: string) => value },
  { name: 'timestamptz', parse: (value: string) => new Date(value) },
  { name: 'json', parse: (value: string) => JSON.parse(value) as unknown },
  { name: 'jsonb', parse: (value: string) => JSON.parse(value) as unknown },
];

export async function createDatabasePool(url: string, options: { maximumPoolSize?: number } = {}): Promise<DatabasePool> {
  return createPool(url, {
    maximumPoolSize: options.maximumPoolSize ?? 10,
    typeParsers,
    connectionTimeout: 5_000,
    statementTimeout: 60_000,
    // Writers retry on conflicts themselves; a silent driver-level retry would hide them.
    transactionRetryLimit: 0,
    queryRetryLimit: 0,
    // slonik's default sends DISCARD ALL after every pooled query, doubling the statements of
    // each read. Nothing here leaves session state behind: the only session-level state is the
    // advisory locks of the projector and the sweep, released in `finally` on their connection.
    resetConnection: async () => undefined,
  });
}

/**
 * A plain node-postgres pool for the hottest reads, which use named prepared statements (see
 * src/queries/userSegments.ts). Idle connections do not keep the process alive.
 */
export function createReadPool(url: string, options: { maximumPoolSize?: number } = {}): Pool {
  const pool = new Pool({
    connectionString: url,
    max: options.maximumPoolSize ?? 10,
    connectionTimeoutMillis: 5_000,
    statement_timeout: 60_000,
    allowExitOnIdle: true,
  });
  // A connection that dies while idle is dropped and replaced; the error is not the process's.
  pool.on('error', () => undefined);
  return pool;
}

/** Creates every table that is missing; the whole file is idempotent. */
export async function applySchema(connectionString: string): Promise<void> {
  const text = await fs.readFile(SCHEMA_FILE, 'utf8');
  // A plain client: the file is several statements, which only the simple query protocol runs.
  const client = new Client({ connectionString });
  await client.connect();
  try {
    await client.query('BEGIN');
    // Serialise concurrent start-ups: CREATE ... IF NOT EXISTS is not safe against itself.
    await client.query('SELECT pg_advisory_xact_lock(7262535433001)');
    await client.query(text);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

/** Ends the pool; a connection that already died (the server went away) is not an error here. */
export async function closePool(pool: DatabasePool): Promise<void> {
  await pool.end().catch(() => undefined);
}

/**
 * Runs `work` while holding the session advisory lock `name` on one of the pool's connections,
 * unless another session holds it: then `work` does not run. For work one instance at a time
 * should do: the projector (its checkpoint keeps it exact), the expiry timer and the deletion
 * sweep (their correctness never rests on the lock).
 */
export async function withTryAdvisoryLock<T>(
  pool: DatabasePool,
  name: string,
  work: (connection: DatabasePoolConnection) => Promise<T>,
): Promise<{ locked: true; value: T } | { locked: false }> {
  return pool.connect(async (connection) => {
    const key = sql.fragment`hashtextextended(${name}, 0)`;
    if (!(await connection.oneFirst(sql.type(z.object({ locked: z.boolean() }))`SELECT pg_try_advisory_lock(${key}) AS locked`))) {
      return { locked: false as const };
    }
    try {
      return { locked: true as const, value: await work(connection) };
    } finally {
      // A connection that died took its session's lock with it.
      await connection.query(sql.unsafe`SELECT pg_advisory_unlock(${key})`).catch(() => undefined);
    }
  });
}
