// What one client may ask of the service, over real sockets: a request rate per token (per client
// address without tokens) answered 429 with Retry-After, off unless configured; a request that
// does not arrive in full in time answered 408; a body over the limit answered 413. Every refusal
// is problem+json and stores nothing. The last test starts the service as a process, configured
// by its environment variables alone.
import net from 'node:net';
import { createTestDatabase } from '../support/database';
import { sendRaw, type RawRequest, type RawResponse } from '../support/rawHttp';
import { startServiceProcess, waitUntilReady } from '../support/serviceProcess';
import { dumpState } from '../support/stateDump';
import { startTestService, type TestService } from '../support/testService';

const json: Array<[string, string]> = [['Content-Type', 'application/json']];
const bearer = (token: string): Array<[string, string]> => [['Authorization', `Bearer ${token}`]];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function listening(t: TestService): Promise<number> {
  await t.service.app.listen({ port: 0, host: '127.0.0.1' });
  return (t.service.app.server.address() as { port: number }).port;
}

function problemOf(response: RawResponse, status: number, type: string) {
  expect({ status: response.status, contentType: response.headers['content-type'] }).toEqual({ status, contentType: expect.stringMatching(/^application\/problem\+json/) });
  const problem = JSON.parse(response.body.toString('utf8'));
  expect(problem).toMatchObject({ type: `/problems/${type}`, status, title: expect.any(String) });
  return problem;
}

/** Writes `parts` one after another, `gapMs` apart, and returns the answer and when it came. */
function sendInParts(port: number, parts: string[], gapMs: number): Promise<{ response: RawResponse | undefined; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1');
    // A server without a timeout would wait for ever: give up well before the test does.
    const guard = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(guard);
      const bytes = Buffer.concat(chunks);
      resolve({ response: bytes.length > 0 ? parseLoosely(bytes) : undefined, ms: Date.now() - started });
    });
    void (async () => {
      for (const [index, part] of parts.entries()) {
        if (index > 0) await sleep(gapMs);
        if (!socket.destroyed) socket.write(part);
      }
    })();
  });
}

function parseLoosely(bytes: Buffer): RawResponse {
  const text = bytes.toString('utf8');
  const [head, ...rest] = text.split('\r\n\r\n');
  const [statusLine, ...lines] = head!.split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: Buffer.from(rest.join('\r\n\r\n')), raw: text };
}

describe('rate limit per token', () => {
  const tokens = { admin: 'limits-admin-token-0001', writer: 'limits-writer-token-001', reader: 'limits-reader-token-001' };
  let t: TestService;
  let port: number;

  beforeAll(async () => {
    t = await startTestService({
      apiTokens: [
        { name: 'admin', token: tokens.admin, scope: 'admin' },
        { name: 'billing', token: tokens.writer, scope: 'write' },
        { name: 'dashboard', token: tokens.reader, scope: 'read' },
      ],
      rateLimit: { perSecond: 1, burst: 3 },
    });
    port = await listening(t);
    const created = await sendRaw(port, { method: 'POST', target: '/segments', headers: [...bearer(tokens.admin), ...json], body: Buffer.from('{"slug":"AVITO_VOICE_MESSAGES"}') });
    expect(created.status).toBe(201);
  });
  afterAll(() => t.close());

  const write = (add: boolean): RawRequest => ({
    method: 'POST',
    target: '/users/1000/segments',
    headers: [...bearer(tokens.writer), ...json],
    body: Buffer.from(JSON.stringify(add ? { add: ['AVITO_VOICE_MESSAGES'] } : { remove: ['AVITO_VOICE_MESSAGES'] })),
  });

  it('lets a burst of 3 through, answers the 4th 429 with Retry-After, stores nothing for it, and lets the token in again after the wait', async () => {
    // The state is taken first: the burst (reads, with the write token) and the refused write
    // follow each other closely, well within the second the bucket needs for its next token.
    await t.settle();
    const before = await dumpState(t.db.pool);
    const read: RawRequest = { method: 'GET', target: '/users/1000/segments', headers: bearer(tokens.writer) };
    for (let i = 0; i < 3; i++) expect((await sendRaw(port, read)).status).toBe(200);
    const refused = await sendRaw(port, write(true));
    const problem = problemOf(refused, 429, 'rate-limited');
    expect(refused.headers['retry-after']).toBe('1');
    expect(problem).toMatchObject({ retryAfterSeconds: 1, detail: expect.stringContaining('token billing') });
    await t.settle();
    expect(await dumpState(t.db.pool)).toEqual(before);

    await sleep(Number(refused.headers['retry-after']) * 1000);
    expect((await sendRaw(port, write(true))).status).toBe(200);
  });

  it('keeps each token to its own bucket: another token is served while one is limited', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await sendRaw(port, write(i % 2 === 0))).status);
    expect(statuses).toContain(429);
    expect((await sendRaw(port, { method: 'GET', target: '/segments', headers: bearer(tokens.reader) })).status).toBe(200);
  });

  it('takes nothing from anyone for a request with a wrong token (401), and never limits probes or docs', async () => {
    await sleep(1_600);
    for (let i = 0; i < 10; i++) {
      expect((await sendRaw(port, { method: 'GET', target: '/segments', headers: bearer('not-a-known-token-0001') })).status).toBe(401);
    }
    for (const target of ['/health/live', '/health/ready', '/docs/json']) {
      for (let i = 0; i < 5; i++) expect({ target, status: (await sendRaw(port, { method: 'GET', target, headers: [] })).status }).toEqual({ target, status: 200 });
    }
    const reads = [];
    for (let i = 0; i < 3; i++) reads.push((await sendRaw(port, { method: 'GET', target: '/segments', headers: bearer(tokens.reader) })).status);
    expect(reads).toEqual([200, 200, 200]);
  });
});

describe('rate limit per client address, without tokens', () => {
  let t: TestService;
  let port: number;

  beforeAll(async () => {
    t = await startTestService({ rateLimit: { perSecond: 1, burst: 2 } });
    port = await listening(t);
  });
  afterAll(() => t.close());

  it('limits each address on its own', async () => {
    const from = (localAddress: string) => sendRaw(port, { method: 'GET', target: '/segments', headers: [] }, { localAddress });
    expect([(await from('127.0.0.2')).status, (await from('127.0.0.2')).status]).toEqual([200, 200]);
    const refused = await from('127.0.0.2');
    expect(problemOf(refused, 429, 'rate-limited').detail).toContain('address 127.0.0.2');
    expect(refused.headers['retry-after']).toBe('1');
    expect((await from('127.0.0.3')).status).toBe(200);
  });
});

describe('request timeout and body limit', () => {
  let t: TestService;
  let port: number;

  beforeAll(async () => {
    t = await startTestService({ requestTimeoutMs: 600, bodyLimitBytes: 1_024 });
    port = await listening(t);
  });
  afterAll(() => t.close());

  it('has no rate limit unless configured: 60 requests at once from one address are all served', async () => {
    const statuses = await Promise.all(Array.from({ length: 60 }, () => sendRaw(port, { method: 'GET', target: '/segments', headers: [] }).then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([200]));
  });

  it('answers 408 to a body that stops arriving, closes the connection, and stores nothing', async () => {
    const before = await dumpState(t.db.pool);
    const head = 'POST /segments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const { response, ms } = await sendInParts(port, [head, '{"slug":"AVITO_'], 0);
    problemOf(response!, 408, 'request-timeout');
    expect(ms).toBeGreaterThanOrEqual(550);
    expect(ms).toBeLessThan(5_000);
    expect(await dumpState(t.db.pool)).toEqual(before);
  });

  it('answers 408 to headers that stop arriving', async () => {
    const { response, ms } = await sendInParts(port, ['GET /segments HTTP/1.1\r\nHost: x\r\n'], 0);
    problemOf(response!, 408, 'request-timeout');
    expect(ms).toBeLessThan(5_000);
  });

  it('serves a request that arrives slowly but in time', async () => {
    const body = '{"slug":"AVITO_SLOW_CLIENT"}';
    const head = `POST /segments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const { response } = await sendInParts(port, [head, body.slice(0, 10), body.slice(10)], 150);
    expect(response?.status).toBe(201);
  });

  it('answers 413 to a body over BODY_LIMIT_BYTES and stores nothing; one under it is served', async () => {
    await t.settle();
    const before = await dumpState(t.db.pool);
    const over = await sendRaw(port, { method: 'POST', target: '/segments', headers: json, body: Buffer.from(JSON.stringify({ slug: 'AVITO_BIG', description: 'x'.repeat(1_000) })) });
    problemOf(over, 413, 'body-too-large');
    expect(await dumpState(t.db.pool)).toEqual(before);
    const under = await sendRaw(port, { method: 'POST', target: '/segments', headers: json, body: Buffer.from(JSON.stringify({ slug: 'AVITO_BIG', description: 'x'.repeat(900) })) });
    expect(under.status).toBe(201);
  });
});

it('a service process takes the limits from RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST and REQUEST_TIMEOUT_SECONDS', async () => {
  const db = await createTestDatabase();
  const service = await startServiceProcess({ DATABASE_URL: db.url, ROLES: 'api,projector', RATE_LIMIT_PER_SECOND: '0.5', RATE_LIMIT_BURST: '2', REQUEST_TIMEOUT_SECONDS: '1' });
  try {
    await waitUntilReady(service);
    const port = Number(new URL(service.url).port);
    const get = () => sendRaw(port, { method: 'GET', target: '/segments', headers: [] });
    expect([(await get()).status, (await get()).status]).toEqual([200, 200]);
    const refused = await get();
    problemOf(refused, 429, 'rate-limited');
    // 0.5 a second: the next token comes within 2 s of the first request, and sooner if they were slow.
    expect(refused.headers['retry-after']).toMatch(/^[12]$/);
    const { response, ms } = await sendInParts(port, ['GET /segments HTTP/1.1\r\nHost: x\r\n'], 0);
    problemOf(response!, 408, 'request-timeout');
    expect(ms).toBeGreaterThanOrEqual(900);
  } finally {
    await service.stop();
    await db.drop();
  }
}, 90_000);
