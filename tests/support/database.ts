// A fresh database with the service's schema for one test file.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { applySchema, closePool, createDatabasePool, type DatabasePool } from '../../src/platform/database';

export interface TestDatabase {
  url: string;
  pool: DatabasePool;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.TEST_ADMIN_DATABASE_URL;
  if (!url) throw new Error('TEST_ADMIN_DATABASE_URL is set by tests/support/globalSetup.ts');
  return url;
}

async function withAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const name = `segments_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const pool = await createDatabasePool(url.toString(), { maximumPoolSize: options.poolSize ?? 10 });
  await applySchema(url.toString());
  return {
    url: url.toString(),
    pool,
    async drop() {
      await closePool(pool);
      await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
