// EVENT_STORE=eventstoredb with no server listening: a real client against a refused loopback
// socket. The service must not pretend: readiness 503 naming the event store, commands 503, and
// nothing in the read model.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { sql } from 'slonik';
import { z } from 'zod';
import { createEventStore } from '../../src/eventstore/createEventStore';
import { freePort } from '../../src/platform/embeddedPostgres';
import { createService, type Service } from '../../src/service';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { serviceParts } from '../support/testService';

const ROOT = path.resolve(__dirname, '../..');

/** A loopback port nothing listens on: taken from the OS, then released. */
const closedEventStoreDb = async () => `esdb://127.0.0.1:${await freePort()}?tls=false`;

async function readModelRows(db: TestDatabase): Promise<Record<string, number>> {
  return db.pool.one(sql.type(z.record(z.number()))`
    SELECT (SELECT count(*) FROM segments) AS segments,
           (SELECT count(*) FROM memberships) AS memberships,
           (SELECT count(*) FROM membership_audit) AS audit,
           (SELECT count(*) FROM projection_checkpoints) AS checkpoints,
           (SELECT count(*) FROM events) AS postgres_events`);
}

describe('EventStoreDB unreachable', () => {
  let db: TestDatabase;
  let service: Service;

  beforeAll(async () => {
    db = await createTestDatabase();
    const store = createEventStore({ kind: 'eventstoredb', connectionString: await closedEventStoreDb() }, { pool: db.pool, databaseUrl: db.url });
    service = await createService({ ...serviceParts(db.pool, db.url), roles: new Set(['api', 'projector', 'timer']), store });
    service.start();
    await service.app.ready();
  });
  afterAll(async () => {
    await service.stop();
    await db.drop();
  });

  it('answers readiness 503 naming the event store, while the database is fine', async () => {
    const ready = await service.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(ready.json().detail).toMatch(/event store: does not answer/);
    expect(ready.json().checks).toEqual(
      expect.arrayContaining([
        { name: 'database', ok: true },
        { name: 'event store', ok: false, detail: 'does not answer' },
      ]),
    );
    expect((await service.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
  });

  it('answers every command 503 problem+json without details, and writes nothing to the read model', async () => {
    const commands = [
      { method: 'POST' as const, url: '/segments', payload: { slug: 'AVITO_VOICE_MESSAGES' } },
      { method: 'POST' as const, url: '/users/1000/segments', payload: { add: ['AVITO_VOICE_MESSAGES'] } },
      { method: 'POST' as const, url: '/segments/AVITO_VOICE_MESSAGES/members', payload: { add: [1000, 1002] } },
      { method: 'DELETE' as const, url: '/segments/AVITO_VOICE_MESSAGES' },
    ];
    for (const command of commands) {
      const response = await service.app.inject(command);
      expect({ url: command.url, status: response.statusCode }).toEqual({ url: command.url, status: 503 });
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ type: '/problems/unavailable', status: 503 });
      expect(response.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|UNAVAILABLE|\.ts:/);
    }
    // Give the projector time to try (and fail) to subscribe.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await readModelRows(db)).toEqual({ segments: 0, memberships: 0, audit: 0, checkpoints: 0, postgres_events: 0 });
  });

  it('starts as a server process (npm start) that reports the event store unready and stops cleanly', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: String(port),
        DATABASE_URL: db.url,
        EVENT_STORE: 'eventstoredb',
        EVENTSTORE_CONNECTION_STRING: await closedEventStoreDb(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      let ready: Response | undefined;
      while (!ready) {
        ready = await fetch(`${url}/health/ready`).catch(() => undefined);
        if (!ready && Date.now() > deadline) throw new Error(`the server did not listen:\n${output}`);
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { detail: string }).detail).toMatch(/event store/);
      expect(output).toMatch(/"eventStore":"eventstoredb"/);
      const write = await fetch(`${url}/segments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ slug: 'AVITO_DISCOUNT_30' }),
      });
      expect(write.status).toBe(503);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
