// The service as a real process (`node --import tsx src/server.ts`, what `npm start` runs) that
// leads a process group of its own, as a terminal or systemd starts it, for tests of signals sent
// to the whole group (tests/e2e/gracefulShutdown.e2e.spec.ts).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../src/platform/embeddedPostgres';

const ROOT = path.resolve(__dirname, '../..');

export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() when the exit was seen. */
  at: number;
}

export interface ServerProcessGroup {
  url: string;
  pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<ServerExit>;
  /** Resolves once GET /health/ready answers 200. */
  ready(timeoutMs?: number): Promise<void>;
  /** What Ctrl-C in a terminal and systemd's stop do: the signal to every process of the group. */
  signalGroup(signal: NodeJS.Signals): void;
  /** For clean-up: SIGKILL to the group, unless it has exited. */
  kill(): void;
}

/** Starts the service with only `env` (and PATH, HOME) in its environment, on a free port. */
export async function startServerProcessGroup(env: NodeJS.ProcessEnv): Promise<ServerProcessGroup> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  let running = true;
  const exited = new Promise<ServerExit>((resolve) =>
    child.on('exit', (code, signal) => {
      running = false;
      resolve({ code, signal, at: Date.now() });
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const pid = child.pid!;

  return {
    url,
    pid,
    output: () => output,
    exited,
    async ready(timeoutMs = 60_000) {
      for (const deadline = Date.now() + timeoutMs; ; ) {
        const status = await fetch(`${url}/health/ready`).then((response) => response.status, () => undefined);
        if (status === 200) return;
        if (!running) throw new Error(`the server exited before it was ready:\n${output}`);
        if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    signalGroup: (signal) => process.kill(-pid, signal),
    kill() {
      if (!running) return;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    },
  };
}
