// The CLI's database: DATABASE_URL when set; else the embedded PostgreSQL of DATA_DIR, reached
// through its running server when the service has it open, or started for the command's duration.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'slonik';
import { closePool, createDatabasePool, type DatabasePool } from '../platform/database';
import { EMBEDDED_DATABASE, embeddedUrl, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../platform/embeddedPostgres';

export interface CliDatabase {
  pool: DatabasePool;
  url: string;
  /** Where the database came from, for the user. */
  origin: string;
  close(): Promise<void>;
}

/** The port of the cluster's running postmaster, from postmaster.pid, when one is running. */
function runningClusterPort(clusterDir: string): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || port <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, owned by another user (PostgreSQL runs as "postgres" when started by root).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return port;
}

export async function openCliDatabase(env: { databaseUrl: string | undefined; dataDir: string }): Promise<CliDatabase> {
  let url = env.databaseUrl;
  let origin = 'DATABASE_URL';
  let embedded: EmbeddedPostgresHandle | undefined;
  if (!url) {
    const clusterDir = path.join(env.dataDir, 'postgres');
    const port = runningClusterPort(clusterDir);
    if (port !== undefined) {
      url = embeddedUrl(port, EMBEDDED_DATABASE);
      origin = `the running embedded PostgreSQL in ${clusterDir}`;
    } else {
      embedded = await startEmbeddedPostgres({ dataDir: clusterDir });
      url = embedded.url;
      origin = `the embedded PostgreSQL in ${clusterDir} (started for this command)`;
    }
  }
  const pool = await createDatabasePool(url, { maximumPoolSize: 2 });
  const close = async () => {
    await closePool(pool);
    await embedded?.stop();
  };
  try {
    const ready = await pool.oneFirst(sql.unsafe`SELECT to_regclass('events') IS NOT NULL AS ready`);
    if (!ready) throw new Error(`no events table in ${origin}: start the service on it once (npm start), or set DATABASE_URL`);
  } catch (error) {
    await close();
    throw error;
  }
  return { pool, url, origin, close };
}
