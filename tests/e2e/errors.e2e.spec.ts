// Every row of the API's error table: the status, a problem+json body, and nothing changed.
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { InjectOptions } from 'fastify';
import { closePool, createDatabasePool } from '../../src/platform/database';
import { createService } from '../../src/service';
import { createTestDatabase } from '../support/database';
import { startTcpProxy } from '../support/tcpProxy';
import { startTestService, type TestService, serviceParts } from '../support/testService';

describe('errors are problem+json and a failed request changes nothing', () => {
  let t: TestService;
  let position: string;

  beforeAll(async () => {
    t = await startTestService({ bodyLimitBytes: 64 * 1024 });
    for (const slug of ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_30']) {
      expect((await t.request({ method: 'POST', url: '/segments', payload: { slug } })).statusCode).toBe(201);
    }
    const write = await t.request({ method: 'POST', url: '/users/1000/segments', payload: { add: ['AVITO_VOICE_MESSAGES'] } });
    position = write.json().position;
  });
  afterAll(() => t.close());

  async function expectProblem(request: InjectOptions, status: number, type: string) {
    const before = await t.snapshot();
    const response = await t.request(request);
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = response.json();
    expect(problem).toMatchObject({ type: `/problems/${type}`, status });
    expect(typeof problem.title).toBe('string');
    expect(await t.snapshot()).toEqual(before);
    return problem;
  }

  const update = (payload: unknown, userId: string | number = 1000): InjectOptions => ({
    method: 'POST',
    url: `/users/${userId}/segments`,
    payload: payload as Record<string, unknown>,
  });

  describe('400', () => {
    it('malformed JSON', async () => {
      await expectProblem(
        { method: 'POST', url: '/users/1000/segments', headers: { 'content-type': 'application/json' }, payload: '{"add": [' },
        400,
        'bad-request',
      );
    });

    it('wrong types, with the path of the field that was wrong', async () => {
      const problem = await expectProblem(update({ add: [42] }), 400, 'validation');
      expect(problem.errors.map((e: { path: string }) => e.path)).toContain('add.0');
      const version = await expectProblem(update({ add: ['AVITO_DISCOUNT_30'], expectedVersion: 'seven' }), 400, 'validation');
      expect(version.errors.map((e: { path: string }) => e.path)).toContain('expectedVersion');
    });

    // Sent as raw JSON text: the escapes are what a client's JSON carries.
    it.each([
      ['a NUL character', 'a\\u0000b'],
      ['an unpaired high surrogate', 'x\\ud800y'],
      ['an unpaired low surrogate', 'x\\udc00'],
    ])('a description with %s, on creation and on PATCH, naming the field', async (_, escaped) => {
      const json = { 'content-type': 'application/json' };
      const created = await expectProblem(
        { method: 'POST', url: '/segments', headers: json, payload: `{"slug": "AVITO_PERFORMANCE_VAS", "description": "${escaped}"}` },
        400,
        'validation',
      );
      expect(created.errors.map((e: { path: string }) => e.path)).toEqual(['description']);
      const patched = await expectProblem(
        { method: 'PATCH', url: '/segments/AVITO_VOICE_MESSAGES', headers: json, payload: `{"description": "${escaped}"}` },
        400,
        'validation',
      );
      expect(patched.errors.map((e: { path: string }) => e.path)).toEqual(['description']);
    });

    it.each([['bad slug!'], [''], ['-starts-with-dash'], ['x'.repeat(129)]])('a bad slug %p', async (slug) => {
      const problem = await expectProblem(update({ add: [slug] }), 400, 'validation');
      expect(problem.errors[0].path).toBe('add.0');
      await expectProblem({ method: 'POST', url: '/segments', payload: { slug } }, 400, 'validation');
    });

    it.each([['0'], ['-5'], ['abc'], ['1.5'], ['9007199254740992'], ['01000']])('a bad user id %p', async (userId) => {
      const problem = await expectProblem(update({ add: ['AVITO_DISCOUNT_30'] }, userId), 400, 'validation');
      expect(problem.errors[0].path).toBe('params.userId');
      await expectProblem({ method: 'GET', url: `/users/${userId}/segments` }, 400, 'validation');
    });

    it('a slug both in add and remove', async () => {
      const problem = await expectProblem(update({ add: ['AVITO_DISCOUNT_30'], remove: ['AVITO_DISCOUNT_30'] }), 400, 'validation');
      expect(problem.errors).toEqual([{ path: 'remove.0', message: 'segment AVITO_DISCOUNT_30 is both in add and remove' }]);
    });

    it('a slug listed twice', async () => {
      const problem = await expectProblem(update({ add: ['AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_30'] }), 400, 'validation');
      expect(problem.errors[0].path).toBe('add.1');
    });

    it('both lists empty or absent', async () => {
      await expectProblem(update({ add: [], remove: [] }), 400, 'validation');
      await expectProblem(update({}), 400, 'validation');
    });

    it('a list too long', async () => {
      const slugs = Array.from({ length: 1001 }, (_, i) => `S${i}`);
      const problem = await expectProblem(update({ add: slugs }), 400, 'validation');
      expect(problem.errors[0].path).toBe('add');
    });

    it('unknown fields', async () => {
      await expectProblem(update({ add: ['AVITO_DISCOUNT_30'], extra: true }), 400, 'validation');
      await expectProblem({ method: 'POST', url: '/segments', payload: { slug: 'NEW_ONE', colour: 'red' } }, 400, 'validation');
    });

    it('a bad bulk request: duplicates, both lists, non-integers', async () => {
      const url = '/segments/AVITO_DISCOUNT_30/members';
      await expectProblem({ method: 'POST', url, payload: { add: [1, 1] } }, 400, 'validation');
      await expectProblem({ method: 'POST', url, payload: { add: [1], remove: [1] } }, 400, 'validation');
      await expectProblem({ method: 'POST', url, payload: { add: [1.5] } }, 400, 'validation');
      await expectProblem({ method: 'POST', url, payload: {} }, 400, 'validation');
    });

    it('a malformed X-Min-Position', async () => {
      const problem = await expectProblem({ method: 'GET', url: '/users/1000/segments', headers: { 'x-min-position': 'soon' } }, 400, 'validation');
      expect(problem.errors[0]).toEqual({ path: 'headers.x-min-position', message: expect.stringMatching(/position as returned by a write/) });
      await expectProblem({ method: 'GET', url: '/segments', headers: { 'x-min-position': 'soon' } }, 400, 'validation');
    });

    it('a query parameter the route does not know, rather than an answer that ignores it', async () => {
      // `at` is a point in time (GET /users/{id}/segments?at=); a misspelt one must not answer with the present.
      await expectProblem({ method: 'GET', url: '/users/1000/segments?as_of=2026-01-01T00:00:00.000Z' }, 400, 'validation');
    });

    it('a bad autoAssignPercent', async () => {
      for (const autoAssignPercent of [0, -1, 100.5, 10.555, '10']) {
        await expectProblem({ method: 'POST', url: '/segments', payload: { slug: 'PCT', autoAssignPercent } }, 400, 'validation');
      }
    });
  });

  describe('404', () => {
    it('the segment in the path does not exist', async () => {
      await expectProblem({ method: 'GET', url: '/segments/NOPE' }, 404, 'segment-not-found');
      await expectProblem({ method: 'DELETE', url: '/segments/NOPE' }, 404, 'segment-not-found');
      await expectProblem({ method: 'GET', url: '/segments/NOPE/members' }, 404, 'segment-not-found');
      await expectProblem({ method: 'POST', url: '/segments/NOPE/members', payload: { add: [1] } }, 404, 'segment-not-found');
    });

    it('an unknown route', async () => {
      await expectProblem({ method: 'GET', url: '/nowhere' }, 404, 'not-found');
    });
  });

  describe('409', () => {
    it('creating a slug that exists', async () => {
      const problem = await expectProblem({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_DISCOUNT_30' } }, 409, 'segment-exists');
      expect(problem.slug).toBe('AVITO_DISCOUNT_30');
    });

    it('an expectedVersion that does not match', async () => {
      const problem = await expectProblem(update({ add: ['AVITO_DISCOUNT_30'], expectedVersion: 7 }), 409, 'version-mismatch');
      expect(problem).toMatchObject({ expectedVersion: 7, actualVersion: 1 });
    });

    it('the matching expectedVersion succeeds', async () => {
      const response = await t.request(update({ add: ['AVITO_DISCOUNT_30'], expectedVersion: 1 }));
      expect(response.statusCode).toBe(200);
      expect(response.json().version).toBe(2);
      await t.request(update({ remove: ['AVITO_DISCOUNT_30'], expectedVersion: 2 }));
    });
  });

  describe('504', () => {
    it('an X-Min-Position the read model does not reach within 5 s', async () => {
      await expectProblem(
        { method: 'GET', url: '/users/1000/segments', headers: { 'x-min-position': '999999999999/1' } },
        504,
        'position-not-reached',
      );
    });
  });

  describe('413', () => {
    it('a body over the limit', async () => {
      const ids = Array.from({ length: 20_000 }, (_, i) => i + 1);
      await expectProblem({ method: 'POST', url: '/segments/AVITO_DISCOUNT_30/members', payload: { add: ids } }, 413, 'body-too-large');
    });
  });

  describe('422', () => {
    it('add and remove name segments that do not exist: all of them listed', async () => {
      const problem = await expectProblem(
        update({ add: ['AVITO_DISCOUNT_30', 'NOPE_1'], remove: ['NOPE_2', 'AVITO_VOICE_MESSAGES'] }),
        422,
        'unknown-segments',
      );
      expect(problem.slugs).toEqual(['NOPE_1', 'NOPE_2']);
    });
  });

  describe('415', () => {
    it('a body that is not JSON', async () => {
      await expectProblem(
        { method: 'POST', url: '/users/1000/segments', headers: { 'content-type': 'text/plain' }, payload: 'add AVITO' },
        415,
        'unsupported-media-type',
      );
    });
  });

  describe('afterwards', () => {
  it('the state after all of the above is the one write made before them', async () => {
    const read = await t.request({ method: 'GET', url: '/users/1000/segments', headers: { 'x-min-position': position } });
    expect(read.json().segments.map((s: { slug: string }) => s.slug)).toEqual(['AVITO_VOICE_MESSAGES']);
  });
  });
});

describe('401 and 403 when tokens are configured', () => {
  let t: TestService;
  const tokens = [
    { name: 'dashboard', token: 'read-token-0123456789', scope: 'read' as const },
    { name: 'analysts', token: 'write-token-0123456789', scope: 'write' as const },
    { name: 'ops', token: 'admin-token-0123456789', scope: 'admin' as const },
  ];
  beforeAll(async () => {
    t = await startTestService({ apiTokens: tokens });
  });
  afterAll(() => t.close());

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('a missing or wrong token is 401 and changes nothing', async () => {
    const before = await t.snapshot();
    const missing = await t.request({ method: 'POST', url: '/segments', payload: { slug: 'A' } });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    const wrong = await t.request({ method: 'GET', url: '/users/1/segments', headers: bearer('nope-nope-nope-nope') });
    expect(wrong.statusCode).toBe(401);
    expect(await t.snapshot()).toEqual(before);
  });

  it('a 401 says which scheme to use, and for a token that is not known, that it is invalid (RFC 6750)', async () => {
    const missing = await t.request({ method: 'GET', url: '/users/1/segments' });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    const wrong = await t.request({ method: 'GET', url: '/users/1/segments', headers: bearer('nope-nope-nope-nope') });
    expect(wrong.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  it('two Authorization headers are a 400, even when the first carries a good token', async () => {
    // Over a real socket: Node keeps only the first Authorization header, so the request must be raw.
    await t.service.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.service.app.server.address() as AddressInfo;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end(
          'GET /segments HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
            `Authorization: Bearer ${tokens[2]!.token}\r\nAuthorization: Bearer nope-nope-nope-nope\r\nConnection: close\r\n\r\n`,
        );
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(/application\/problem\+json/);
    expect(answer).toMatch(/one Authorization header/);
    const single = await t.request({ method: 'GET', url: '/segments', headers: bearer(tokens[2]!.token) });
    expect(single.statusCode).toBe(200);
  });

  it('a token without the needed scope is 403 and changes nothing', async () => {
    const before = await t.snapshot();
    const response = await t.request({ method: 'POST', url: '/segments', payload: { slug: 'A' }, headers: bearer(tokens[0]!.token) });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ type: '/problems/forbidden', requiredScope: 'write' });
    const projections = await t.request({ method: 'GET', url: '/projections', headers: bearer(tokens[1]!.token) });
    expect(projections.statusCode).toBe(403);
    expect(await t.snapshot()).toEqual(before);
  });

  it('scopes rank read < write < admin, and the actor is recorded on events', async () => {
    const created = await t.request({ method: 'POST', url: '/segments', payload: { slug: 'A' }, headers: bearer(tokens[1]!.token) });
    expect(created.statusCode).toBe(201);
    expect((await t.request({ method: 'GET', url: '/segments', headers: bearer(tokens[2]!.token) })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/segments', headers: bearer(tokens[0]!.token) })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/projections', headers: bearer(tokens[2]!.token) })).statusCode).toBe(200);
    const [event] = await t.service.store.readStream('segment-A');
    expect(event!.metadata).toMatchObject({ actor: 'analysts', source: 'api' });
  });

  it('health and docs need no token', async () => {
    expect((await t.request({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
  });
});

describe('503 when the database does not answer', () => {
  /** An api-only service whose every connection to a fresh database goes through a proxy the test can cut. */
  async function apiServiceBehindProxy(readView: 'memory' | 'database' = 'database') {
    const db = await createTestDatabase();
    const target = new URL(db.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const pool = await createDatabasePool(viaProxy.toString());
    const service = await createService({ ...serviceParts(pool, viaProxy.toString()), roles: new Set(['api']), readView });
    return { db, proxy, pool, service };
  }

  it('with the in-memory view, a user\'s segments still answer from memory while the database is away', async () => {
    const { db, proxy, pool, service } = await apiServiceBehindProxy('memory');
    try {
      expect((await service.app.inject({ method: 'POST', url: '/segments', payload: { slug: 'A' } })).statusCode).toBe(201);
      const write = await service.app.inject({ method: 'POST', url: '/users/1/segments', payload: { add: ['A'] } });
      // No projector in this process: the view follows the event feed itself.
      service.start();
      const read = () =>
        service.app.inject({ method: 'GET', url: '/users/1/segments', headers: { 'x-min-position': write.headers['x-position'] as string } });
      expect((await read()).json().segments).toMatchObject([{ slug: 'A', source: 'manual' }]);
      await proxy.cut();
      const during = await read();
      expect(during.statusCode).toBe(200);
      expect(during.json().segments).toMatchObject([{ slug: 'A', source: 'manual' }]);
      // The database is what readiness reports; the view alone does not make the process ready.
      expect((await service.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503);
      await proxy.restore();
    } finally {
      await service.stop();
      await closePool(pool);
      await proxy.close();
      await db.drop();
    }
  });

  it('commands, queries and readiness answer 503 without leaking details, and recover', async () => {
    const { db, proxy, pool, service } = await apiServiceBehindProxy();
    try {
      expect((await service.app.inject({ method: 'POST', url: '/segments', payload: { slug: 'A' } })).statusCode).toBe(201);
      await proxy.cut();

      const write = await service.app.inject({ method: 'POST', url: '/users/1/segments', payload: { add: ['A'] } });
      expect(write.statusCode).toBe(503);
      expect(write.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(write.json()).toMatchObject({ type: '/problems/unavailable', status: 503 });
      expect(write.body).not.toMatch(/ECONNREFUSED|\.ts:|SELECT|events/);
      expect((await service.app.inject({ method: 'GET', url: '/users/1/segments' })).statusCode).toBe(503);
      expect((await service.app.inject({ method: 'POST', url: '/segments', payload: { slug: 'B' } })).statusCode).toBe(503);
      const ready = await service.app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().detail).toMatch(/database/);
      expect((await service.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);

      await proxy.restore();
      const again = await service.app.inject({ method: 'POST', url: '/users/1/segments', payload: { add: ['A'] } });
      expect(again.statusCode).toBe(200);
      expect(again.json().version).toBe(1);
      expect((await service.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    } finally {
      await service.stop();
      await closePool(pool);
      await proxy.close();
      await db.drop();
    }
  });

  it('a report requested while the database does not answer is a 503, and the service lives on', async () => {
    const { db, proxy, pool, service } = await apiServiceBehindProxy();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      await proxy.cut();
      const period = new Date().toISOString().slice(0, 7);
      for (const payload of [{ period }, { period, userId: 1000 }]) {
        const report = await service.app.inject({ method: 'POST', url: '/reports/history', payload });
        expect(report.statusCode).toBe(503);
        expect(report.json()).toMatchObject({ type: '/problems/unavailable', status: 503 });
      }
      // The formatter's error is emitted on the next ticks; give it the chance to go unheard.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(uncaught).toEqual([]);
      expect((await service.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
      await proxy.restore();
      expect((await service.app.inject({ method: 'POST', url: '/reports/history', payload: { period: new Date().toISOString().slice(0, 7) } })).statusCode).toBe(201);
    } finally {
      process.off('uncaughtException', onUncaught);
      await service.stop();
      await closePool(pool);
      await proxy.close();
      await db.drop();
    }
  });
});
