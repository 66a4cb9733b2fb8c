// Crashes under load across processes: two API processes and a projector process on one
// PostgreSQL that this test starts itself. 40 clients write to one user and 8 more to seven
// others, through both API processes at once, so writers in two processes race for one user's
// stream and the event store's expected revision, not the in-process queue, decides. In the middle
// of the burst both API processes, the projector and PostgreSQL itself (the postmaster and every
// backend) get SIGKILL at once; PostgreSQL recovers from its WAL, the three processes start again,
// and the clients carry on. Afterwards every answered write is in its user's stream exactly once,
// no event comes from a request nobody sent, a write whose answer was lost is wholly there or
// wholly absent, and the read model, the audit, the history and the new processes' in-memory views
// all equal the fold of the log.
import { randomUUID } from 'node:crypto';
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { applySchema, closePool, createDatabasePool } from '../../src/platform/database';
import { appendAttempts, countAppendAttempts } from '../support/appendAttempts';
import { expectReadModelToEqualLog, lastPosition } from '../support/eventLogCheck';
import { startRestartablePostgres, type RestartablePostgres } from '../support/restartablePostgres';
import { startServiceProcess, waitUntilReady, type ServiceProcess } from '../support/serviceProcess';

const SLUGS = ['CRASH_A', 'CRASH_B', 'CRASH_C', 'CRASH_D', 'CRASH_E', 'CRASH_F'];
const HOT_USER = 1;
const OTHER_USERS = [2, 3, 4, 5, 6, 7, 8];
const USERS = [HOT_USER, ...OTHER_USERS];
/** Clients that write only to the hot user, and clients that write to the others. */
const HOT_CLIENTS = 40;
const OTHER_CLIENTS = 8;
const WRITES_PER_CLIENT = 5;
/** Answered writes before the kill: about a third of the burst. */
const KILL_AFTER = 80;

interface Write {
  requestId: string;
  userId: number;
  via: 'a' | 'b';
  /** Sent before or after the crash. */
  phase: 'before' | 'after';
  add: string[];
  remove: string[];
  /** Absent when the connection broke before an answer came. */
  status?: number;
  answer?: { added: string[]; removed: string[]; version: number };
}

/** mulberry32, so a failing burst can be told apart from another by its seed. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const eventRow = z.object({
  request_id: z.string().nullable(),
  stream_id: z.string(),
  stream_position: z.coerce.number(),
  transaction_id: z.string(),
  type: z.string(),
  slug: z.string(),
  reason: z.string().nullable(),
});

describe('a burst of writes through two API processes while both of them, the projector and PostgreSQL are killed', () => {
  let pg: RestartablePostgres;
  let db: DatabasePool | undefined;
  const processes: ServiceProcess[] = [];
  const start = async (roles: string) => {
    const started = await startServiceProcess({ DATABASE_URL: pg.url, ROLES: roles, READ_VIEW: 'memory' });
    processes.push(started);
    return started;
  };
  const running = (process: ServiceProcess) => process.child.exitCode === null && process.child.signalCode === null;

  beforeAll(async () => {
    pg = await startRestartablePostgres();
    await applySchema(pg.url);
    // The test's own pool is closed while PostgreSQL is killed and opened again after its restart.
    const setup = await createDatabasePool(pg.url);
    await countAppendAttempts(setup);
    await closePool(setup);
  }, 60_000);

  afterAll(async () => {
    for (const process of processes) if (running(process)) process.child.kill('SIGKILL');
    await Promise.all(processes.map((process) => process.exited));
    if (db) await closePool(db);
    await pg.remove();
  }, 30_000);

  it('every answered write is in the log once, nothing half-applied or invented, and every read model equals the log', async () => {
    const seed = Date.now() % 1_000_000;
    const next = random(seed);
    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
    const context = `seed ${seed}`;

    const startAll = async () => {
      const started = await Promise.all([start('projector'), start('api'), start('api')]);
      // Hang guards: on a machine at load 12 a start alone has taken over 30 s.
      await Promise.all(started.map((process) => waitUntilReady(process, 60_000)));
      return started;
    };
    let [projector, a, b] = await startAll();
    for (const slug of SLUGS) {
      expect((await fetch(`${a!.url}/segments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ slug }) })).status).toBe(201);
    }

    const writes: Write[] = [];
    let answered = 0;
    let restarted = false;
    let crash: Promise<void> | undefined;
    let afterCrash: { tried: number; stored: number } | undefined;
    const crashAndRestart = async () => {
      // All in one synchronous stretch: no service runs another line once its database is gone,
      // so no answer can be a 503 from the crash itself.
      for (const process of [a!, b!, projector!]) process.child.kill('SIGKILL');
      const killed = pg.kill();
      await Promise.all([killed, a!.exited, b!.exited, projector!.exited]);
      await pg.start();
      db = await createDatabasePool(pg.url);
      [projector, a, b] = await startAll();
      // Every client waits for this restart, so nothing is in flight: appends counted from here on are exact.
      afterCrash = await appendAttempts(db);
      restarted = true;
    };

    async function client(index: number, hot: boolean) {
      const via: 'a' | 'b' = index % 2 === 0 ? 'a' : 'b';
      for (let i = 0; i < WRITES_PER_CLIENT; i++) {
        const userId = hot ? HOT_USER : pick(OTHER_USERS);
        const add = [...new Set([pick(SLUGS), pick(SLUGS)])];
        const remove = next() < 0.6 ? [pick(SLUGS.filter((slug) => !add.includes(slug)))] : [];
        const write: Write = { requestId: randomUUID(), userId, via, phase: restarted ? 'after' : 'before', add, remove };
        writes.push(write);
        try {
          const response = await fetch(`${(via === 'a' ? a : b)!.url}/users/${userId}/segments`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-request-id': write.requestId },
            body: JSON.stringify({ add, remove }),
            signal: AbortSignal.timeout(30_000),
          });
          write.status = response.status;
          write.answer = (await response.json()) as Write['answer'];
          answered += 1;
          if (answered === KILL_AFTER) crash = crashAndRestart();
        } catch {
          // The process died with the request in flight, or was gone already: on after the restart.
          if (!crash) throw new Error(`${context}: a write failed before the crash`);
          await crash;
        }
      }
    }
    const clients = [
      ...Array.from({ length: HOT_CLIENTS }, (_, index) => client(index, true)),
      ...Array.from({ length: OTHER_CLIENTS }, (_, index) => client(index, false)),
    ];
    const settled = await Promise.allSettled(clients);
    await crash;
    for (const result of settled) if (result.status === 'rejected') throw result.reason;
    expect(crash).toBeDefined();
    const pool = db!;

    // Answers: every one a 200, no 503 from contention alone; only writes sent before the crash lack one.
    expect({ context, statuses: [...new Set(writes.flatMap((write) => (write.status === undefined ? [] : [write.status])))] }).toEqual({ context, statuses: [200] });
    const unanswered = writes.filter((write) => write.status === undefined);
    expect(unanswered.every((write) => write.phase === 'before')).toBe(true);
    for (const which of ['before', 'after'] as const) {
      for (const via of ['a', 'b'] as const) {
        const hot = writes.filter((write) => write.phase === which && write.via === via && write.userId === HOT_USER && write.status === 200);
        expect({ context, which, via, answeredHotWrites: hot.length > 0 }).toEqual({ context, which, via, answeredHotWrites: true });
      }
    }

    // The log: each request's events are one append to its user's stream, an answered one exactly what it answered.
    const events = await pool.any(sql.type(eventRow)`
      SELECT metadata->>'requestId' AS request_id, stream_id, stream_position, transaction_id::text, type,
             data->>'slug' AS slug, data->>'reason' AS reason
      FROM events WHERE stream_id LIKE 'user-%' ORDER BY global_position`);
    const sent = new Map(writes.map((write) => [write.requestId, write]));
    const byRequest = new Map<string, typeof events[number][]>();
    for (const event of events) {
      const write = sent.get(event.request_id ?? '');
      expect({ context, phantom: write ? undefined : event }).toEqual({ context, phantom: undefined });
      byRequest.set(event.request_id!, [...(byRequest.get(event.request_id!) ?? []), event]);
    }
    for (const write of writes) {
      const own = byRequest.get(write.requestId) ?? [];
      expect(new Set(own.map((event) => event.transaction_id)).size).toBeLessThanOrEqual(1);
      expect(own.every((event) => event.stream_id === `user-${write.userId}`)).toBe(true);
      expect(own.map((event) => event.stream_position)).toEqual(own.map((_, index) => own[0]!.stream_position + index));
      if (write.status === 200) {
        const answer = write.answer!;
        expect({ context, requestId: write.requestId, events: own.map((event) => `${event.type}:${event.slug}`) }).toEqual({
          context,
          requestId: write.requestId,
          events: [...answer.removed.map((slug) => `MembershipRemoved:${slug}`), ...answer.added.map((slug) => `MembershipAdded:${slug}`)],
        });
        if (own.length > 0) expect(own.at(-1)!.stream_position + 1).toBe(answer.version);
      }
    }

    // Writers in the two processes really raced after the restart: within a process, writes to one
    // user queue up, so every append that found its stream moved on lost to the other process and
    // was decided again. (Counted from the restart on: a crash may move a sequence forward.)
    const { tried, stored } = await appendAttempts(pool);
    const conflicts = tried - afterCrash!.tried - (stored - afterCrash!.stored);
    expect({ context, conflictsAfterRestart: conflicts > 0 }).toEqual({ context, conflictsAfterRestart: true });

    // The read model equals the log; the history lists every change; the new processes' views answer as the log says.
    const fromLog = await expectReadModelToEqualLog(pool, 60_000);
    const position = await lastPosition(pool);
    for (const userId of USERS) {
      const expected = fromLog.filter((row) => row.startsWith(`${userId} `)).map((row) => row.split(' ')[2]).sort();
      for (const api of [a!, b!]) {
        const response = await fetch(`${api.url}/users/${userId}/segments`, { headers: { 'x-min-position': position } });
        const body = (await response.json()) as { segments: Array<{ slug: string }> };
        expect({ context, userId, segments: body.segments.map((segment) => segment.slug) }).toEqual({ context, userId, segments: expected });
      }
      const history = (await (await fetch(`${b!.url}/users/${userId}/history`)).json()) as { entries: Array<{ slug: string; operation: string; reason: string }> };
      const stream = events.filter((event) => event.stream_id === `user-${userId}`).sort((x, y) => x.stream_position - y.stream_position);
      expect({ context, userId, history: history.entries.map((entry) => `${entry.operation} ${entry.slug} ${entry.reason}`) }).toEqual({
        context,
        userId,
        history: stream.map((event) => `${event.type === 'MembershipAdded' ? 'added' : 'removed'} ${event.slug} ${event.reason}`),
      });
    }

    for (const survivor of [a!, b!, projector!]) expect(await survivor.stop()).toBe(0);
    const figures = {
      writes: writes.length,
      unanswered: unanswered.length,
      hotWrites: writes.filter((write) => write.userId === HOT_USER).length,
      appendsAfterRestart: tried - afterCrash!.tried,
      storedAfterRestart: stored - afterCrash!.stored,
    };
    process.stdout.write(`crash under load (${context}): ${JSON.stringify(figures)}\n`);
  }, 300_000);
});
