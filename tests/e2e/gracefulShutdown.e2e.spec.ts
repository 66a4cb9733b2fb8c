// Stopping the service under load, as a terminal's Ctrl-C or systemd's stop does it: the signal
// goes to the whole process group while writes are on their way. The embedded PostgreSQL runs in a
// session of its own, so it is not signalled with the group but stopped by the service at the end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServerProcessGroup, type ServerProcessGroup } from '../support/serverProcessGroup';

const SLUG = 'AVITO_SHUTDOWN_BURST';
const WRITES = 100;

interface Answer {
  userId: number;
  status: number | string;
  position: string | null;
}

const postJson = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The pid of the PostgreSQL running on the folder, from its pid file. */
const postmasterPid = (dataDir: string): number | undefined => {
  const file = path.join(dataDir, 'postgres', 'postmaster.pid');
  return fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8').split('\n')[0]) : undefined;
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('stopping the service', () => {
  let dataDir: string;
  const started: ServerProcessGroup[] = [];
  const start = async (env: NodeJS.ProcessEnv = {}) => {
    const server = await startServerProcessGroup({ DATA_DIR: dataDir, ...env });
    started.push(server);
    await server.ready();
    return server;
  };

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'segments-shutdown-'));
  });

  afterEach(async () => {
    started.splice(0).forEach((server) => server.kill());
    // A PostgreSQL of this test's folder that outlived its service (only ours: the folder is new).
    const orphan = postmasterPid(dataDir);
    if (orphan && isAlive(orphan)) process.kill(orphan, 'SIGQUIT');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('SIGTERM to the process group during 100 writes: every write answers 200 and is in the read model, and the process exits 0 within seconds', async () => {
    // At debug level the service passes on PostgreSQL's own log, which tells how it was stopped.
    const server = await start({ LOG_LEVEL: 'debug' });
    expect((await postJson(`${server.url}/segments`, { slug: SLUG })).status).toBe(201);

    const writes = Array.from({ length: WRITES }, (_, i): Promise<Answer> => {
      const userId = 7000 + i;
      return postJson(`${server.url}/users/${userId}/segments`, { add: [SLUG] }).then(
        async (response) => {
          await response.arrayBuffer();
          return { userId, status: response.status, position: response.headers.get('x-position') };
        },
        (error: Error & { cause?: { code?: string } }) => ({ userId, status: error.cause?.code ?? error.message, position: null }),
      );
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const signalledAt = Date.now();
    server.signalGroup('SIGTERM');
    // While it drains, the process still answers, and tells its readiness probe it is stopping.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const readiness = await fetch(`${server.url}/health/ready`);
    expect(readiness.status).toBe(503);
    expect(((await readiness.json()) as { detail: string }).detail).toBe('stopping');

    const answers = await Promise.all(writes);
    const exit = await server.exited;
    const output = server.output();
    const shutdownMs = exit.at - signalledAt;
    console.log(`graceful shutdown: ${answers.filter((a) => a.status === 200).length}/${WRITES} writes answered 200, exit ${exit.code} after ${shutdownMs} ms`);

    expect(answers.map((answer) => answer.status)).toEqual(Array(WRITES).fill(200));
    expect(exit).toMatchObject({ code: 0, signal: null });
    // 1–3 s on an idle 2-core machine; the bound is the service's own 10 s limit.
    expect(shutdownMs).toBeLessThan(10_000);
    expect(output).toMatch(/"msg":"stopped"/);
    expect(output).not.toMatch(/took longer than 10 s|kept the process alive/);
    // PostgreSQL did not get the group's SIGTERM (that would be a "smart" shutdown): the service
    // asked for a fast one, after the last request had been answered.
    expect(output).not.toMatch(/received smart shutdown request/);
    expect(output.indexOf('received fast shutdown request')).toBeGreaterThan(output.lastIndexOf('"msg":"request completed"'));
    expect(postmasterPid(dataDir)).toBeUndefined();

    // Every acknowledged write is in the read model of the next start on the same folder.
    const next = await start();
    const reads = await Promise.all(
      answers.map(async ({ userId, position }) => {
        const response = await fetch(`${next.url}/users/${userId}/segments`, { headers: { 'x-min-position': position! } });
        const body = (await response.json()) as { segments?: Array<{ slug: string }> };
        return { userId, status: response.status, slugs: (body.segments ?? []).map((segment) => segment.slug) };
      }),
    );
    expect(reads.filter((read) => read.status !== 200 || read.slugs.join() !== SLUG)).toEqual([]);

    next.signalGroup('SIGTERM');
    expect(await next.exited).toMatchObject({ code: 0, signal: null });
  }, 90_000);

  it('SIGKILL to the process group leaves PostgreSQL running; the next start stops it and serves the data', async () => {
    const killed = await start();
    expect((await postJson(`${killed.url}/segments`, { slug: SLUG })).status).toBe(201);
    const postgres = postmasterPid(dataDir)!;

    killed.signalGroup('SIGKILL');
    await killed.exited;
    expect(isAlive(postgres)).toBe(true);

    const next = await start();
    expect(next.output()).toContain(`stopping PostgreSQL ${postgres}, left running on`);
    expect(isAlive(postgres)).toBe(false);
    expect(((await (await fetch(`${next.url}/segments/${SLUG}`)).json()) as { slug: string }).slug).toBe(SLUG);

    next.signalGroup('SIGTERM');
    expect(await next.exited).toMatchObject({ code: 0, signal: null });
  }, 90_000);
});
