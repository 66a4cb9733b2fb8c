// The service as a real process (`node --import tsx src/server.ts`), for tests of what only
// separate processes show: several API processes on one database, a projector elsewhere.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../src/platform/embeddedPostgres';

const ROOT = path.resolve(__dirname, '../..');

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export async function startServiceProcess(env: NodeJS.ProcessEnv): Promise<ServiceProcess> {
  const port = env.PORT ?? String(await freePort());
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env, PORT: port },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Resolves once GET /health/ready answers 200; fails with the process's output after `deadlineMs`. */
export async function waitUntilReady(service: ServiceProcess, deadlineMs = 60_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      if ((await fetch(`${service.url}/health/ready`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (service.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${service.url} not ready within ${deadlineMs} ms:\n${service.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface ServiceAnswer<Body> {
  status: number;
  contentType: string | null;
  /** X-Position, which every write answers with. */
  xPosition: string | null;
  /** The JSON answer; {} for an empty one. */
  body: Body;
}

/** One request to a service process over its socket, with an optional X-Min-Position. */
export async function callService<Body = Record<string, unknown>>(
  service: ServiceProcess,
  method: string,
  route: string,
  options: { body?: unknown; minPosition?: string } = {},
): Promise<ServiceAnswer<Body>> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.minPosition) headers['x-min-position'] = options.minPosition;
  const response = await fetch(`${service.url}${route}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    xPosition: response.headers.get('x-position'),
    body: (text ? JSON.parse(text) : {}) as Body,
  };
}
