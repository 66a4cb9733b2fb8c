// The newcomer's path: `npm start` with nothing configured starts an embedded PostgreSQL, serves
// over a real socket, and stops everything cleanly on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/platform/embeddedPostgres';

const ROOT = path.resolve(__dirname, '../..');
/** A hang guard, not a promise about start-up time: a fresh cluster's initdb took 16 s at load 10. */
const START_MS = 60_000;

function startServer(env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitUntilReady(url: string, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/health/ready`);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`not ready within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the server process', () => {
  it('starts with an embedded PostgreSQL, serves the task example over HTTP and stops cleanly on SIGTERM', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'segments-server-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = startServer({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    try {
      await waitUntilReady(url, START_MS);
      expect(server.output()).toMatch(/embedded PostgreSQL ready/);

      const post = (route: string, body: unknown) =>
        fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post('/segments', { slug: 'AVITO_DISCOUNT_30' })).status).toBe(201);
      const write = await post('/users/1000/segments', { add: ['AVITO_DISCOUNT_30'] });
      expect(write.status).toBe(200);
      const read = await fetch(`${url}/users/1000/segments`, { headers: { 'x-min-position': write.headers.get('x-position')! } });
      expect(((await read.json()) as { segments: Array<{ slug: string }> }).segments.map((s) => s.slug)).toEqual(['AVITO_DISCOUNT_30']);
      expect((await fetch(`${url}/docs/json`)).status).toBe(200);

      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(server.output()).toMatch(/"stopped"/);
      // PostgreSQL went down with it: its pid file is gone.
      expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);

      // Data survives a restart.
      const again = startServer({ PORT: String(port), DATA_DIR: dataDir });
      try {
        await waitUntilReady(url, START_MS);
        const after = await fetch(`${url}/users/1000/segments`);
        expect(((await after.json()) as { segments: Array<{ slug: string }> }).segments.map((s) => s.slug)).toEqual(['AVITO_DISCOUNT_30']);
      } finally {
        again.child.kill('SIGTERM');
        expect(await again.exited).toBe(0);
      }
    } finally {
      server.child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it('after a SIGKILL, the next start stops the PostgreSQL the killed process left running and serves the data', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'segments-server-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const killed = startServer({ PORT: String(port), DATA_DIR: dataDir });
    let orphan: number | undefined;
    try {
      await waitUntilReady(url, START_MS);
      const created = await fetch(`${url}/segments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ slug: 'AVITO_DISCOUNT_30' }),
      });
      expect(created.status).toBe(201);
      killed.child.kill('SIGKILL');
      await killed.exited;
      // Its PostgreSQL is still running on the folder.
      orphan = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
      expect(() => process.kill(orphan!, 0)).not.toThrow();

      const next = startServer({ PORT: String(port), DATA_DIR: dataDir });
      try {
        await waitUntilReady(url, START_MS);
        expect(next.output()).toContain(`stopping PostgreSQL ${orphan}, left running on`);
        expect(((await (await fetch(`${url}/segments/AVITO_DISCOUNT_30`)).json()) as { slug: string }).slug).toBe('AVITO_DISCOUNT_30');
      } finally {
        next.child.kill('SIGTERM');
        expect(await next.exited).toBe(0);
      }
    } finally {
      killed.child.kill('SIGKILL');
      if (orphan) {
        try {
          process.kill(orphan, 'SIGINT');
        } catch {
          // already gone
        }
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it('refuses to start on a bad value, naming the variable', async () => {
    const server = startServer({ PORT: 'abc' });
    expect(await server.exited).toBe(2);
    expect(server.output()).toMatch(/PORT: /);
  });
});
