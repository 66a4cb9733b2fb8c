// The servers the harness loads, each in a process of its own: the service as `npm start` runs it
// (node --import tsx, src/server.ts), API-only processes of the same service beside it (ROLES=api,
// to compare the read views), and the baselines (bench/baselines.ts).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../src/platform/embeddedPostgres';
import { collectGarbageThrough, inspectorUrlIn } from './fullCollection';

const ROOT = path.resolve(__dirname, '..');
/** Lines of a child's output shown on stderr; the rest are only counted. */
const SHOWN_LINES = 20;
/** How often readiness is asked while a server starts: the resolution of its start-to-ready time. */
const READY_POLL_MS = 50;

export interface ChildServer {
  name: string;
  url: string;
  pid: number;
  /** From spawning the process to the first 200 of its ready route. */
  startToReadyMs: number;
  /** startupMs of the service's 'segments service ready' log line, when its log level lets it through. */
  loggedStartupMs(): number | null;
  /** Output lines the child wrote (stdout and stderr). */
  outputLines(): number;
  /** SIGTERM, then SIGKILL if it has not exited after 15 s; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** A full garbage collection, through its inspector (bench/fullCollection.ts); only for servers started with `inspectable`. */
  collectGarbage(): Promise<void>;
}

interface StartOptions {
  name: string;
  /** The entry file, relative to `cwd`. */
  script: string;
  cwd: string;
  env: Record<string, string>;
  /** A route that answers 200 once the server is ready. */
  readyPath: string;
  readyTimeoutMs: number;
  progress: (message: string) => void;
  /** Told when the server exits once it was ready, unless the harness stopped it. */
  onUnexpectedExit: (reason: string) => void;
  /** Started with its inspector off but ready for SIGUSR1, for collectGarbage(). */
  inspectable?: boolean;
}

const running = new Set<number>();
// A run that dies without its cleanups must not leave servers behind: they are in process groups
// of their own (so that Ctrl-C reaches only the harness, which stops them in order).
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Starts the server on a free port; again on another one if that port was taken meanwhile. */
async function startChild(options: StartOptions): Promise<ChildServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnFreePort(options);
    } catch (error) {
      // Another process (a test run, say) may bind the port between freePort() and the child's listen.
      if (attempt >= 3 || !(error instanceof Error) || !error.message.includes('EADDRINUSE')) throw error;
      options.progress(`${options.name}: its port was taken meanwhile; starting again on another`);
    }
  }
}

async function startOnFreePort(options: StartOptions): Promise<ChildServer> {
  const port = await freePort();
  const began = Date.now();
  const flags = options.inspectable ? ['--inspect-port=127.0.0.1:0'] : [];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', options.script], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name} did not start`);
  running.add(pid);
  let lines = 0;
  let loggedStartupMs: number | null = null;
  let onInspectorUrl: ((url: string) => void) | undefined;
  const inspectorUrl = new Promise<string>((resolve) => (onInspectorUrl = resolve));
  const recent: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines++;
      if (loggedStartupMs === null && line.includes('"segments service ready"')) loggedStartupMs = startupMsOf(line);
      const url = inspectorUrlIn(line);
      if (url) onInspectorUrl?.(url);
      recent.push(line);
      if (recent.length > 10) recent.shift();
      if (lines <= SHOWN_LINES) process.stderr.write(`[${options.name}] ${line.slice(0, 2000)}\n`);
      if (lines === SHOWN_LINES + 1) process.stderr.write(`[${options.name}] (further output is counted, not shown)\n`);
    });
  }
  let exitCode: number | null | undefined;
  let stopping = false;
  let ready = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(pid);
      exitCode = code;
      if (!stopping && ready) {
        // Exit code 0 is a graceful stop: a SIGTERM or SIGINT from outside the harness.
        options.onUnexpectedExit(`${options.name} (pid ${pid}) exited unexpectedly, code ${code}, signal ${signal}`);
      }
      resolve(code);
    }),
  );

  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`${options.name} exited with code ${exitCode} before it was ready; its last output:\n${recent.join('\n')}`);
    }
    const status = await fetch(`${url}${options.readyPath}`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200 && exitCode === undefined) break;
    if (Date.now() - began > options.readyTimeoutMs) {
      stopping = true;
      child.kill('SIGKILL');
      throw new Error(`${options.name} was not ready within ${options.readyTimeoutMs / 1000} s (${options.readyPath} answered ${status || 'nothing'})`);
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  ready = true;
  const startToReadyMs = Date.now() - began;
  options.progress(`${options.name}: pid ${pid}, ready on ${url} ${(startToReadyMs / 1000).toFixed(2)} s after it was spawned`);

  return {
    name: options.name,
    url,
    pid,
    startToReadyMs,
    loggedStartupMs: () => loggedStartupMs,
    outputLines: () => lines,
    async stop() {
      if (exitCode !== undefined) return exitCode;
      stopping = true;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(force);
      options.progress(`${options.name}: stopped (exit code ${code})`);
      return code;
    },
    async collectGarbage() {
      if (!options.inspectable) throw new Error(`${options.name} was not started inspectable`);
      process.kill(pid, 'SIGUSR1'); // turns the inspector on; again, when it is on already, changes nothing
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${options.name}: no inspector within 10 s`)), 10_000)));
      const url = await Promise.race([inspectorUrl, late]).finally(() => clearTimeout(timer));
      await collectGarbageThrough(url);
    },
  };
}

/** The pino line's startupMs, or null when the line is not the JSON expected. */
function startupMsOf(line: string): number | null {
  try {
    const startupMs = (JSON.parse(line) as { startupMs?: unknown }).startupMs;
    return typeof startupMs === 'number' ? startupMs : null;
  } catch {
    return null;
  }
}

export interface ServiceSettings {
  databaseUrl: string;
  dataDir: string;
  apiTokens: string;
  extraEnv: Record<string, string>;
  progress: (message: string) => void;
  onUnexpectedExit: (reason: string) => void;
}

function startServiceProcess(
  name: string,
  settings: ServiceSettings,
  env: Record<string, string>,
  readyTimeoutMs: number,
  inspectable = false,
): Promise<ChildServer> {
  return startChild({
    name,
    // The same file, loader, flags and folder as `npm start` (an inspectable one adds
    // --inspect-port, which changes nothing until SIGUSR1).
    script: 'src/server.ts',
    inspectable,
    cwd: ROOT,
    env: {
      DATABASE_URL: settings.databaseUrl,
      DATA_DIR: settings.dataDir,
      LOG_LEVEL: 'warn',
      API_TOKENS: settings.apiTokens,
      ...settings.extraEnv,
      ...env,
    },
    readyPath: '/health/ready',
    readyTimeoutMs,
    progress: settings.progress,
    onUnexpectedExit: settings.onUnexpectedExit,
  });
}

export function startService(settings: ServiceSettings): Promise<ChildServer> {
  return startServiceProcess('service', settings, {}, 60_000);
}

/**
 * A process of the same service with the `api` role only, on the same database, answering reads
 * from the read view given; otherwise set up as the service (--service-env included).
 */
export function startApiProcess(name: string, readView: 'memory' | 'database', settings: ServiceSettings): Promise<ChildServer> {
  // A memory view is loaded before the process is ready: give a slow load the time to finish, so
  // that the run reports how long it took rather than stopping.
  return startServiceProcess(name, settings, { ROLES: 'api', READ_VIEW: readView }, 600_000, true);
}

export function startBaselines(options: {
  databaseUrl: string;
  progress: (message: string) => void;
  onUnexpectedExit: (reason: string) => void;
}): Promise<ChildServer> {
  return startChild({
    name: 'baselines',
    script: 'bench/baselines.ts',
    cwd: ROOT,
    env: { DATABASE_URL: options.databaseUrl },
    readyPath: '/ping',
    readyTimeoutMs: 60_000,
    progress: options.progress,
    onUnexpectedExit: options.onUnexpectedExit,
  });
}
