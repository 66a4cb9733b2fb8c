// A PostgreSQL primary and a streaming replica of it, from the machine's PostgreSQL server binaries
// (`pg_config --bindir`, or PG_BINDIR): initdb, pg_ctl and pg_basebackup, run as the `postgres` OS
// user when the tests run as root (PostgreSQL refuses root). Both live in one temporary folder, on
// free ports; remove() stops them and deletes it, and so does the exit of the test process.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from '../../src/platform/embeddedPostgres';

const run = promisify(execFile);
const DATABASE = 'segments';

export interface StreamingReplica {
  /** The `segments` database on the primary. */
  primaryUrl: string;
  /** The same database on the replica (read-only, hot standby). */
  replicaUrl: string;
  /** Stops applying WAL on the replica (pg_wal_replay_pause()); it keeps receiving it. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** A fast shutdown of the replica only, and its start again on the same port. */
  stopReplica(): Promise<void>;
  startReplica(): Promise<void>;
  /** Stops both servers and deletes their folder. */
  remove(): Promise<void>;
}

/** Where PostgreSQL's server binaries are, or undefined when this machine has none with pg_basebackup. */
export function postgresBinDir(): string | undefined {
  let dir = process.env.PG_BINDIR;
  if (!dir) {
    try {
      dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    } catch {
      return undefined;
    }
  }
  return ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'].every((name) => fs.existsSync(path.join(dir, name))) ? dir : undefined;
}

const asRoot = process.getuid?.() === 0;

/** A binary run as the postgres OS user when we are root, from the folder (which that user can read). */
function command(binDir: string, name: string, args: string[]): [string, string[]] {
  const binary = path.join(binDir, name);
  return asRoot ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
}

const urlOf = (port: number, database = DATABASE) => `postgres://postgres@127.0.0.1:${port}/${database}`;

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function startStreamingReplica(binDir = postgresBinDir()): Promise<StreamingReplica> {
  if (!binDir) throw new Error('no PostgreSQL server binaries with pg_basebackup (set PG_BINDIR or put pg_config on PATH)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segments-replica-'));
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' })));
    fs.chownSync(dir, uid!, gid!);
  }
  const pg = async (name: string, ...args: string[]) => {
    const [file, argv] = command(binDir, name, args);
    await run(file, argv, { cwd: dir, timeout: 120_000 });
  };
  const [primaryPort, replicaPort] = [await freePort(), await freePort()];
  const server = (name: string, port: number, extra: string[] = []) => ({
    start: () =>
      pg('pg_ctl', '-D', path.join(dir, name), '-l', path.join(dir, `${name}.log`), '-w', '-t', '60', '-o',
        [`-p ${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${dir}`, '-c fsync=off', ...extra].join(' '), 'start'),
    stop: (mode = 'fast') => pg('pg_ctl', '-D', path.join(dir, name), '-m', mode, '-w', 'stop'),
    stopNow: () => {
      const [file, argv] = command(binDir, 'pg_ctl', ['-D', path.join(dir, name), '-m', 'immediate', 'stop']);
      try {
        execFileSync(file, argv, { cwd: dir, stdio: 'ignore' });
      } catch {
        // not running
      }
    },
  });
  const primary = server('primary', primaryPort);
  // Feedback keeps the primary's vacuum from removing rows that a long read on the replica (the
  // in-memory view's snapshot) still sees, which would otherwise cancel that read.
  const replica = server('replica', replicaPort, ['-c hot_standby_feedback=on']);
  let removed = false;
  // A test run that ends without afterAll (a crash, a timeout) must not leave servers behind.
  const removeNow = () => {
    if (removed) return;
    removed = true;
    replica.stopNow();
    primary.stopNow();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', removeNow);
  try {
    await pg('initdb', '-D', path.join(dir, 'primary'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync');
    await primary.start();
    await withClient(urlOf(primaryPort, 'postgres'), (client) => client.query(`CREATE DATABASE ${DATABASE}`));
    // -R writes standby.signal and primary_conninfo: the copy starts as a streaming replica.
    await pg('pg_basebackup', '-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', path.join(dir, 'replica'), '-R', '-X', 'stream', '-c', 'fast');
    await replica.start();
  } catch (error) {
    removeNow();
    throw error;
  }
  const onReplica = (text: string) => withClient(urlOf(replicaPort), (client) => client.query(text));
  return {
    primaryUrl: urlOf(primaryPort),
    replicaUrl: urlOf(replicaPort),
    async pauseReplay() {
      await onReplica('SELECT pg_wal_replay_pause()');
      // The request takes effect at the next WAL record; only 'paused' means nothing is applied any more.
      for (let i = 0; (await onReplica('SELECT pg_get_wal_replay_pause_state() AS state')).rows[0].state !== 'paused'; i++) {
        if (i > 200) throw new Error('the replica did not pause its replay');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async resumeReplay() {
      await onReplica('SELECT pg_wal_replay_resume()');
    },
    stopReplica: () => replica.stop(),
    startReplica: () => replica.start(),
    async remove() {
      if (removed) return;
      await replica.stop().catch(() => undefined);
      await primary.stop().catch(() => undefined);
      removeNow();
      process.removeListener('exit', removeNow);
    },
  };
}
