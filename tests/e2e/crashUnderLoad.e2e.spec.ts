// Crashes under load across processes: two API processes and a projector process on one database,
// many clients writing to overlapping users through both API processes at once (so writers in two
// processes race for the same user streams and the event store's expected revision, not the
// in-process queue, decides), and in the middle of it one API process and the projector are
// killed with SIGKILL; the projector is started again while the writes go on. Afterwards every
// answered write is in its user's stream exactly once, no event comes from a request nobody sent,
// a write whose answer was lost is wholly there or wholly absent, and the read model, the audit
// and the surviving process's in-memory view all equal the fold of the log.
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { appendAttempts, countAppendAttempts } from '../support/appendAttempts';
import { auditAgainstEvents, lastPosition, membershipsFromEvents, membershipsInReadModel, waitUntilProjected } from '../support/eventLogCheck';
import { startServiceProcess, waitUntilReady, type ServiceProcess } from '../support/serviceProcess';

const SLUGS = ['CRASH_A', 'CRASH_B', 'CRASH_C', 'CRASH_D', 'CRASH_E', 'CRASH_F'];
const HOT_USER = 1;
const USERS = [HOT_USER, 2, 3, 4, 5, 6, 7, 8];
const CLIENTS = 16;
const WRITES_PER_CLIENT = 12;
/** Answered writes before the kill: about a third of the burst. */
const KILL_AFTER = 70;

interface Write {
  requestId: string;
  userId: number;
  via: 'a' | 'b';
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
});

describe('a burst of writes through two API processes while one of them and the projector are killed', () => {
  let db: TestDatabase;
  const processes: ServiceProcess[] = [];
  const start = async (roles: string) => {
    const started = await startServiceProcess({ DATABASE_URL: db.url, ROLES: roles, READ_VIEW: 'memory' });
    processes.push(started);
    return started;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    await countAppendAttempts(db.pool);
  });

  afterAll(async () => {
    for (const process of processes) if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGKILL');
    await Promise.all(processes.map((process) => process.exited));
    await db.drop();
  }, 30_000);

  it('every answered write is in the log once, nothing half-applied or invented, and every read model equals the log', async () => {
    const seed = Date.now() % 1_000_000;
    const next = random(seed);
    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;

    let projector = await start('projector');
    const a = await start('api');
    const b = await start('api');
    // Hang guards: on a machine at load 12 a start alone has taken over 30 s.
    await Promise.all([waitUntilReady(projector, 60_000), waitUntilReady(a, 60_000), waitUntilReady(b, 60_000)]);
    for (const slug of SLUGS) {
      expect((await fetch(`${a.url}/segments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ slug }) })).status).toBe(201);
    }

    const writes: Write[] = [];
    let answered = 0;
    let killed: Promise<void> | undefined;
    const killMidway = async () => {
      a.child.kill('SIGKILL');
      projector.child.kill('SIGKILL');
      await Promise.all([a.exited, projector.exited]);
      // The writes go on through the surviving process while a new projector starts.
      projector = await start('projector');
      await waitUntilReady(projector, 60_000);
    };

    async function client(index: number) {
      let via: 'a' | 'b' = index % 2 === 0 ? 'a' : 'b';
      for (let i = 0; i < WRITES_PER_CLIENT; i++) {
        // Half of all writes go to one user, the rest spread over seven.
        const userId = next() < 0.5 ? HOT_USER : pick(USERS.slice(1));
        const add = [...new Set([pick(SLUGS), pick(SLUGS)])];
        const remove = next() < 0.6 ? [pick(SLUGS.filter((slug) => !add.includes(slug)))] : [];
        const write: Write = { requestId: randomUUID(), userId, via, add, remove };
        writes.push(write);
        try {
          const response = await fetch(`${(via === 'a' ? a : b).url}/users/${userId}/segments`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-request-id': write.requestId },
            body: JSON.stringify({ add, remove }),
            signal: AbortSignal.timeout(20_000),
          });
          write.status = response.status;
          write.answer = (await response.json()) as Write['answer'];
          answered += 1;
          if (answered === KILL_AFTER) {
            killed = killMidway();
            killed.catch(() => undefined); // awaited after the burst, which reports its failure
          }
        } catch {
          // The process died with the request in flight, or was gone already: the rest go to the other one.
          via = 'b';
        }
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, (_, index) => client(index)));
    await killed;
    const context = `seed ${seed}`;

    // Answers: every one a 200 (no 503 from contention alone); only requests to the killed process lack one.
    const unanswered = writes.filter((write) => write.status === undefined);
    expect({ context, statuses: [...new Set(writes.flatMap((write) => (write.status === undefined ? [] : [write.status])))] }).toEqual({ context, statuses: [200] });
    expect(unanswered.every((write) => write.via === 'a')).toBe(true);
    expect(writes.filter((write) => write.status === 200 && write.via === 'a').length).toBeGreaterThan(0);
    expect(writes.filter((write) => write.status === 200 && write.via === 'b').length).toBeGreaterThan(KILL_AFTER / 2);

    // The log: each request's events are one append to its user's stream, an answered one exactly what it answered.
    const events = await db.pool.any(sql.type(eventRow)`
      SELECT metadata->>'requestId' AS request_id, stream_id, stream_position, transaction_id::text, type, data->>'slug' AS slug
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

    // Writers in the two processes really raced: within a process, writes to one user queue up,
    // so every append that found its stream moved on lost to the other process.
    const { tried, stored } = await appendAttempts(db.pool);
    expect({ context, conflicts: tried - stored > 0 }).toEqual({ context, conflicts: true });

    // The read model equals the log, and so do the answers of the survivor and of a fresh process.
    await waitUntilProjected(db.pool);
    const fromLog = await membershipsFromEvents(db.pool);
    expect(await membershipsInReadModel(db.pool)).toEqual(fromLog);
    const { events: changes, audit } = await auditAgainstEvents(db.pool);
    expect(audit).toEqual(changes);
    const position = await lastPosition(db.pool);
    for (const userId of USERS) {
      const expected = fromLog.filter((row) => row.startsWith(`${userId} `)).map((row) => row.split(' ')[2]).sort();
      const response = await fetch(`${b.url}/users/${userId}/segments`, { headers: { 'x-min-position': position } });
      const body = (await response.json()) as { segments: Array<{ slug: string }> };
      expect({ context, userId, segments: body.segments.map((segment) => segment.slug) }).toEqual({ context, userId, segments: expected });
    }

    for (const survivor of [b, projector]) expect(await survivor.stop()).toBe(0);
  }, 180_000);
});
