// The database goes away under a running service and comes back: the service (a real process, all
// roles, DATABASE_URL pointing at a PostgreSQL this test starts itself) keeps writers busy through
// the outage. While the server is down every write answers 503 problem+json and changes nothing,
// readiness says the database is failing, liveness stays 200 and reads of a user's segments go on
// from memory. When the server is back, the same process recovers on its own: writes succeed,
// readiness is 200, the projector catches up and the in-memory view follows the log again, and
// every acknowledged write is in the log once and in the read model, and no refused write is.
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { sql } from 'slonik';
import { z } from 'zod';
import { closePool, createDatabasePool } from '../../src/platform/database';
import { expectReadModelToEqualLog, lastPosition } from '../support/eventLogCheck';
import { startRestartablePostgres, type RestartablePostgres } from '../support/restartablePostgres';
import { startServiceProcess, waitUntilReady, type ServiceProcess } from '../support/serviceProcess';
import { startTestService, type TestService } from '../support/testService';

const SLUG = 'OUTAGE_A';
const USERS = [301, 302, 303, 304];
const OUTAGE_MS = 10_000;
/** How soon after the server is back the service must answer writes and readiness again. */
const RECOVERY_MS = 10_000;

type Phase = 'up' | 'down' | 'restarting' | 'back';

interface Write {
  requestId: string;
  userId: number;
  phase: Phase;
  status?: number;
  contentType?: string | null;
  body?: { type?: string; segments?: Array<{ slug: string }>; added?: string[]; removed?: string[]; version?: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(25);
  }
  return Date.now() - started;
}

const eventRow = z.object({ request_id: z.string().nullable(), transaction_id: z.string(), stream_position: z.coerce.number(), type: z.string(), slug: z.string() });

describe('the database stops and starts again under a running service', () => {
  let pg: RestartablePostgres;
  let service: ServiceProcess;

  beforeAll(async () => {
    pg = await startRestartablePostgres();
    service = await startServiceProcess({ DATABASE_URL: pg.url, ROLES: 'api,projector,timer', READ_VIEW: 'memory' });
    // A hang guard: on a machine at load 12 a start alone has taken over 30 s.
    await waitUntilReady(service, 60_000);
  }, 120_000);

  afterAll(async () => {
    if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL');
    await service.exited;
    await pg.remove();
  }, 30_000);

  it('writes answer 503 and change nothing while it is down; afterwards the same process recovers by itself and loses nothing', async () => {
    const post = (url: string, body: unknown, requestId: string = randomUUID()) =>
      fetch(`${service.url}${url}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': requestId }, body: JSON.stringify(body) });
    expect((await post('/segments', { slug: SLUG })).status).toBe(201);

    let phase: Phase = 'up';
    let writing = true;
    const writes: Write[] = [];
    // Each writer flips its user in and out of the segment, sending the same intent again after a failure.
    const writer = async (userId: number) => {
      let member = false;
      while (writing) {
        const write: Write = { requestId: randomUUID(), userId, phase };
        writes.push(write);
        try {
          const response = await post(`/users/${userId}/segments`, member ? { remove: [SLUG] } : { add: [SLUG] }, write.requestId);
          write.status = response.status;
          write.contentType = response.headers.get('content-type');
          write.body = (await response.json()) as Write['body'];
          if (response.status === 200) member = write.body!.segments!.some((segment) => segment.slug === SLUG);
        } catch (error) {
          // No answer at all: the process is gone or its socket broke; the checks below report it.
          write.body = { type: String(error) };
        }
        await sleep(20);
      }
    };
    const writers = Promise.all(USERS.map(writer));
    const answeredWhileDown = () => {
      if (service.child.exitCode !== null || service.child.signalCode !== null) {
        throw new Error(`the service exited (${service.child.exitCode ?? service.child.signalCode}):\n${service.output()}`);
      }
      return writes.filter((write) => write.phase === 'down' && write.status !== undefined).length >= 8;
    };
    try {
      const acknowledged = () => writes.filter((write) => write.status === 200);
      await until(() => acknowledged().length >= 20, 15_000, '20 writes before the outage');

      await pg.stop();
      phase = 'down';
      const outageStarted = Date.now();
      await until(answeredWhileDown, OUTAGE_MS, 'answers during the outage');
      const live = await fetch(`${service.url}/health/live`);
      const ready = await fetch(`${service.url}/health/ready`);
      const readyBody = (await ready.json()) as { detail: string };
      // From memory, as of the view's position: the user is in the segment or not, but the answer comes.
      const read = await fetch(`${service.url}/users/${USERS[0]}/segments`);
      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - outageStarted)));
      expect({ live: live.status, ready: ready.status, readyDetail: readyBody.detail, read: read.status }).toEqual({
        live: 200,
        ready: 503,
        readyDetail: expect.stringMatching(/database/),
        read: 200,
      });

      phase = 'restarting';
      await pg.start();
      phase = 'back';
      await until(() => writes.some((write) => write.phase === 'back' && write.status === 200), RECOVERY_MS, 'a write after the restart');
      await until(async () => (await fetch(`${service.url}/health/ready`)).status === 200, RECOVERY_MS, 'readiness after the restart');
      const afterRecovery = acknowledged().length;
      await until(() => acknowledged().length >= afterRecovery + 8, RECOVERY_MS, 'writes after the restart');
      expect(service.child.exitCode).toBeNull();
    } finally {
      writing = false;
      await writers;
    }

    // Every failure was a 503 problem, and while the server was down every answer was one.
    const failed = writes.filter((write) => write.status !== 200);
    expect(failed.filter((write) => write.phase === 'down').length).toBeGreaterThanOrEqual(8);
    expect(writes.filter((write) => write.phase === 'down' && write.status === 200)).toEqual([]);
    for (const write of failed) {
      expect({ status: write.status, contentType: write.contentType, type: write.body?.type }).toEqual({
        status: 503,
        contentType: expect.stringMatching(/^application\/problem\+json/),
        type: '/problems/unavailable',
      });
    }

    const pool = await createDatabasePool(pg.url);
    try {
      // The log: an acknowledged write's events exactly as answered, a failed write's none.
      const events = await pool.any(sql.type(eventRow)`
        SELECT metadata->>'requestId' AS request_id, transaction_id::text, stream_position, type, data->>'slug' AS slug
        FROM events WHERE stream_id LIKE 'user-%' ORDER BY global_position`);
      for (const write of writes) {
        const own = events.filter((event) => event.request_id === write.requestId);
        const expected =
          write.status === 200
            ? [...write.body!.removed!.map((slug) => `MembershipRemoved:${slug}`), ...write.body!.added!.map((slug) => `MembershipAdded:${slug}`)]
            : [];
        expect({ requestId: write.requestId, status: write.status, events: own.map((event) => `${event.type}:${event.slug}`) }).toEqual({
          requestId: write.requestId,
          status: write.status,
          events: expected,
        });
        if (write.status === 200 && own.length > 0) expect(own.at(-1)!.stream_position + 1).toBe(write.body!.version);
      }
      expect(events.every((event) => writes.some((write) => write.requestId === event.request_id))).toBe(true);

      // The projector caught up: the read model and the audit equal the log.
      const fromLog = await expectReadModelToEqualLog(pool);

      // The in-memory view follows the log again: it reaches the last position and answers as the log says.
      const position = await lastPosition(pool);
      for (const userId of USERS) {
        const response = await fetch(`${service.url}/users/${userId}/segments`, { headers: { 'x-min-position': position } });
        const body = (await response.json()) as { segments: Array<{ slug: string }> };
        expect({ userId, status: response.status, segments: body.segments.map((segment) => segment.slug) }).toEqual({
          userId,
          status: 200,
          segments: fromLog.filter((row) => row.startsWith(`${userId} `)).map((row) => row.split(' ')[2]),
        });
      }
    } finally {
      await closePool(pool);
    }
    expect(await service.stop()).toBe(0);
  }, 90_000);
});

// A write's answer needs facts only a read model holds (deleted segments, percentages). Taken
// after the append, a failure there once answered 503 for a change that was stored. Here the read
// that composes the answer, or the read a PATCH makes, is held up by a lock on `segments` (the
// append does not touch it) and its backend terminated.
describe.each(['database', 'memory'] as const)('a write whose answer needs a read model (READ_VIEW=%s)', (readView) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ readView });
    expect((await t.request({ method: 'POST', url: '/segments', payload: { slug: SLUG } })).statusCode).toBe(201);
    await t.settle();
  });
  afterAll(() => t.close());

  const blockedRead = (text: string) => sql.type(z.object({ pid: z.number() }))`
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE ${`%${text}%`}`;
  const storedWith = (requestId: string) =>
    t.db.pool.oneFirst(sql.type(z.object({ count: z.number() }))`SELECT count(*)::int AS count FROM events WHERE metadata->>'requestId' = ${requestId}`);

  /** Runs `send` while `segments` is locked, terminating every read that waits for the lock until the answer comes. */
  async function withSegmentsLocked<T>(send: () => Promise<T>, readText: string): Promise<{ answer: T; terminated: number }> {
    const lock = new Client({ connectionString: t.db.url });
    await lock.connect();
    let terminated = 0;
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE segments IN ACCESS EXCLUSIVE MODE');
      let done = false;
      const answer = send().finally(() => (done = true));
      while (!done) {
        for (const pid of await t.db.pool.anyFirst(blockedRead(readText))) {
          await t.db.pool.query(sql.unsafe`SELECT pg_terminate_backend(${pid})`);
          terminated++;
        }
        await sleep(20);
      }
      return { answer: await answer, terminated };
    } finally {
      await lock.query('ROLLBACK');
      await lock.end();
    }
  }

  it('is acknowledged with its segments when the read after the append fails, and stored once', async () => {
    const requestId = randomUUID();
    const { answer, terminated } = await withSegmentsLocked(
      () => t.request({ method: 'POST', url: '/users/7001/segments', payload: { add: [SLUG] }, headers: { 'x-request-id': requestId } }),
      'deleted_at IS NOT NULL',
    );
    expect({ status: answer.statusCode, stored: await storedWith(requestId) }).toEqual({ status: 200, stored: 1 });
    expect(answer.json().segments.map((segment: { slug: string }) => segment.slug)).toEqual([SLUG]);
    // From memory the answer reads nothing; from the tables both tries were cut.
    expect(terminated).toBe(readView === 'memory' ? 0 : 2);
  });

  it('refuses a PATCH with nothing stored when its read fails, and stores it when the read succeeds', async () => {
    const requestId = randomUUID();
    const { answer, terminated } = await withSegmentsLocked(
      () => t.request({ method: 'PATCH', url: `/segments/${SLUG}`, payload: { description: 'cut' }, headers: { 'x-request-id': requestId } }),
      'FROM segments s WHERE s.deleted_at IS NULL',
    );
    expect({ status: answer.statusCode, stored: await storedWith(requestId), terminated }).toEqual({ status: 503, stored: 0, terminated: 1 });
    // The count is the read model's: once it holds the member the test before added.
    await t.settle();
    const again = await t.request({ method: 'PATCH', url: `/segments/${SLUG}`, payload: { description: 'whole' }, headers: { 'x-request-id': requestId } });
    expect({ status: again.statusCode, description: again.json().description, memberCount: again.json().memberCount }).toEqual({
      status: 200,
      description: 'whole',
      memberCount: 1,
    });
  });
});
