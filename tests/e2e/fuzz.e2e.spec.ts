// Fuzz: thousands of generated hostile requests (tests/support/hostileRequests.ts) against the
// service with bearer tokens configured, a real database and a real socket (HTTP written by hand,
// so repeated headers, lying lengths and bytes no client library sends get through), some through
// fastify's inject, which carries NUL and lone surrogates in headers as they are. For every
// request: no 5xx, a 4xx is problem+json, a write is refused. For every batch: every row of every
// table is as it was, and liveness answers. An uncaught exception or unhandled rejection anywhere
// in the process fails the run: jest reports it as the test's error.
// Then the other side of the same fields: odd but valid text is stored and read back exactly.
// The seed is printed; `FUZZ_SEED=<seed> npx jest fuzz` repeats a run, `FUZZ_SHRINK=1` shrinks a failure.
import fc from 'fast-check';
import { describeRequest, hostileRequest, type FuzzTarget, type HostileRequest } from '../support/hostileRequests';
import { sendRaw, type RawResponse } from '../support/rawHttp';
import { dumpState, stateDifference } from '../support/stateDump';
import { TestClock } from '../support/testClock';
import { startTestService, type TestService } from '../support/testService';

const BATCH = 50;
const RUNS = Number(process.env.FUZZ_RUNS ?? 42);
const CONCURRENCY = 4;

const target: FuzzTarget = {
  slugs: ['AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS', 'AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50'],
  users: [1000, 1002, 1004],
  tokens: { read: 'fuzz-reader-token-000001', write: 'fuzz-writer-token-000001', admin: 'fuzz-admin-token-0000001' },
};
const admin = { authorization: `Bearer ${target.tokens.admin}` };

let t: TestService;
let port: number;

async function seedState(): Promise<void> {
  const request = async (method: 'POST' | 'DELETE', url: string, payload?: object) => {
    const response = await t.request({ method, url, headers: admin, payload });
    if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  };
  await request('POST', '/segments', { slug: 'AVITO_VOICE_MESSAGES', description: 'Голосовые сообщения 🎤' });
  await request('POST', '/segments', { slug: 'AVITO_PERFORMANCE_VAS' });
  await request('POST', '/segments', { slug: 'AVITO_DISCOUNT_30', autoAssignPercent: 30 });
  await request('POST', '/segments', { slug: 'AVITO_DISCOUNT_50', description: 'half', autoAssignPercent: 50 });
  await request('POST', '/segments', { slug: 'AVITO_GONE' });
  await request('POST', '/users/1000/segments', { add: ['AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS', { slug: 'AVITO_GONE', ttlSeconds: 172_800 }] });
  await request('POST', '/users/1002/segments', { add: ['AVITO_VOICE_MESSAGES', { slug: 'AVITO_DISCOUNT_50', ttlSeconds: 172_800 }] });
  // Every user of the run has events, so an expectedVersion of 0 is a conflict for each of them
  // (the removals alone store nothing when the user's bucket is outside both percentages).
  await request('POST', '/users/1004/segments', { add: ['AVITO_PERFORMANCE_VAS'], remove: ['AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50'] });
  await request('POST', '/segments/AVITO_PERFORMANCE_VAS/members', { add: [2000, 2001, 2002], ttlSeconds: 86_400 });
  await request('DELETE', '/segments/AVITO_GONE');
  await t.settle();
}

beforeAll(async () => {
  // A clock that stands still: no membership expires during the run, so the state moves only if
  // a request moves it.
  t = await startTestService({
    clock: new TestClock(),
    apiTokens: [
      { name: 'reader', token: target.tokens.read, scope: 'read' },
      { name: 'writer', token: target.tokens.write, scope: 'write' },
      { name: 'admin', token: target.tokens.admin, scope: 'admin' },
    ],
  });
  await seedState();
  await t.service.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.service.app.server.address() as { port: number }).port;
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const INJECTABLE = new Set(['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS']);

/** Dot segments: inject resolves them as a client would; a socket sends them as they are. */
const DOT_SEGMENT = /\/(\.|%2e)/i;

/** Over the socket, or (for a share of the requests it can carry) through inject. */
async function send(request: HostileRequest, viaInject: boolean): Promise<RawResponse & { channel: string }> {
  if (!viaInject || request.socketOnly || !INJECTABLE.has(request.method) || !request.target.startsWith('/') || DOT_SEGMENT.test(request.target)) {
    return { ...(await sendRaw(port, request, { halfClose: request.halfClose })), channel: 'socket' };
  }
  const response = await t.service.app.inject({
    method: request.method as 'GET',
    url: request.target,
    headers: Object.fromEntries(request.headers.map(([name, value]) => [name.toLowerCase(), value])),
    payload: request.body,
  });
  const headers = Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, String(value)]));
  return { status: response.statusCode, headers, body: response.rawPayload, raw: response.body.slice(0, 2_000), channel: 'inject' };
}

/** What is wrong with an answer, if anything. */
function faultsOf(request: HostileRequest, response: RawResponse): string[] {
  const faults: string[] = [];
  if (response.status >= 500) faults.push(`answered ${response.status}`);
  if (request.write && response.status < 400) faults.push(`a hostile write was accepted with ${response.status}`);
  if (response.status >= 400 && request.method !== 'HEAD') {
    if (!response.headers['content-type']?.startsWith('application/problem+json')) faults.push(`a ${response.status} that is not problem+json`);
    try {
      const problem = JSON.parse(response.body.toString('utf8')) as { type?: unknown; title?: unknown; status?: unknown };
      if (problem.status !== response.status || typeof problem.type !== 'string' || typeof problem.title !== 'string') {
        faults.push(`a problem document without its type, title or status ${response.status}`);
      }
    } catch {
      faults.push(`a ${response.status} whose body is not JSON`);
    }
  }
  if (response.status === 401 && !response.headers['www-authenticate']) faults.push('a 401 without WWW-Authenticate');
  return faults;
}

async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!);
      }
    }),
  );
  return results;
}

const stats = { requests: 0, writes: 0, byStatus: new Map<number, number>(), byChannel: new Map<string, number>(), byLabel: new Map<string, number>(), msByLabel: new Map<string, number>() };
const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);

it(`${BATCH * RUNS} hostile requests: no 5xx, problem+json for every 4xx, no state changed, no crash`, async () => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
  console.log(`fuzz seed ${seed}: FUZZ_SEED=${seed} npx jest fuzz repeats this run`);
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(hostileRequest(target), fc.nat(9)), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
      const before = await dumpState(t.db.pool);
      const answers = await mapWithConcurrency(batch, CONCURRENCY, async ([request, dice]) => {
        const sent = Date.now();
        const response = await send(request, dice < 3).catch((error: Error) => error);
        stats.msByLabel.set(request.label, (stats.msByLabel.get(request.label) ?? 0) + Date.now() - sent);
        return { request, response };
      });
      const faults: string[] = [];
      for (const { request, response } of answers) {
        if (response instanceof Error) {
          faults.push(`${describeRequest(request)}\n    no answer: ${response.message}`);
          continue;
        }
        stats.requests++;
        if (request.write) stats.writes++;
        count(stats.byStatus, response.status);
        count(stats.byChannel, response.channel);
        count(stats.byLabel, request.label.replace(/ \(repeated key\)$/, ''));
        const wrong = faultsOf(request, response);
        if (wrong.length > 0) faults.push(`${describeRequest(request)} via ${response.channel}\n    ${wrong.join('; ')}\n    ${JSON.stringify(response.raw.slice(0, 400))}`);
      }
      expect(faults).toEqual([]);

      // A refused write must not have reached the log: nothing for the projector to apply.
      await t.settle();
      const difference = stateDifference(before, await dumpState(t.db.pool));
      if (Object.keys(difference).length > 0) {
        const writes = answers.filter(({ request }) => request.write).map(({ request, response }) => `${describeRequest(request)} → ${response instanceof Error ? response.message : response.status}`);
        throw new Error(`the batch changed the state: ${JSON.stringify(difference, null, 2)}\nits writes:\n${writes.join('\n')}`);
      }
      expect((await sendRaw(port, { method: 'GET', target: '/health/live', headers: [] })).status).toBe(200);
    }),
    {
      seed,
      numRuns: RUNS,
      endOnFailure: process.env.FUZZ_SHRINK !== '1',
      // The failure's own message names the requests; fast-check's would print every request of the batch.
      reporter: (run) => {
        if (!run.failed) return;
        const cause = run.errorInstance instanceof Error ? run.errorInstance.message : String(run.errorInstance);
        throw new Error(`fuzz failed: FUZZ_SEED=${run.seed} (path ${run.counterexamplePath}) repeats it\n${cause}`);
      },
    },
  );
  const sorted = <K>(map: Map<K, number>) => [...map].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${String(key)}: ${n}`).join(', ');
  console.log(
    [
      `fuzz: ${stats.requests} requests (${stats.writes} writes, all refused) in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${seed}`,
      `statuses: ${sorted(stats.byStatus)}`,
      `channels: ${sorted(stats.byChannel)}`,
      `faults: ${sorted(stats.byLabel)}`,
      `slowest (ms in all): ${sorted(stats.msByLabel).split(', ').slice(0, 6).join(', ')}`,
    ].join('\n'),
  );
  expect(stats.requests).toBeGreaterThanOrEqual(2_000);
}, 180_000);

/** Text PostgreSQL can store: no NUL, no surrogate without its pair. */
const storable = (text: string) => !/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);

it('odd but valid text is stored and read back exactly: any slug of the grammar, any storable description', async () => {
  const description = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 80 }),
    // Not normalised on the way: decomposed accents, Hangul jamo and an Ångström sign stay as sent.
    fc.constantFrom('Скидка 30 % 🎉', '\u2028\u2029', '\u202e\ufeff', '"\\\'</script>', '\u0001\u001f\u007f', 'ﷺ'.repeat(1_000), 'e\u0301', '\u1100\u1161', '\u212b'),
    fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom('e\u0301', 'A\u030a', '\u212b', '\ufb01')).map(([text, mark]) => text + mark),
  ).filter(storable);
  const slug = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,124}$/);
  // A number of its own per attempt: a failed attempt leaves its segment behind, and a shrunk
  // replay of it must not be refused 409 for that.
  let attempt = 0;
  const request = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, headers: Record<string, string> = {}) =>
    t.request({ method, url, payload, headers: { ...admin, ...headers } });
  await fc.assert(
    fc.asyncProperty(slug, description, description, async (generated, first, second) => {
      const name = `${++attempt}${generated}`.slice(0, 128);
      const created = await request('POST', '/segments', { slug: name, description: first });
      expect({ status: created.statusCode, slug: created.json().slug, description: created.json().description }).toEqual({ status: 201, slug: name, description: first });
      const read = await request('GET', `/segments/${name}`, undefined, { 'x-min-position': String(created.headers['x-position']) });
      expect({ slug: read.json().slug, description: read.json().description }).toEqual({ slug: name, description: first });
      const patched = await request('PATCH', `/segments/${name}`, { description: second });
      expect(patched.json().description).toBe(second);
      const again = await request('GET', `/segments/${name}`, undefined, { 'x-min-position': String(patched.headers['x-position']) });
      expect(again.json().description).toBe(second);
      expect((await request('DELETE', `/segments/${name}`)).statusCode).toBe(204);
    }),
    { numRuns: 40 },
  );
});
