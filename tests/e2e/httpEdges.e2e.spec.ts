// Requests refused before they reach a route, over a real socket: what node's HTTP parser and
// fastify's router refuse is answered as problem+json like every other error, without echoing the
// request back; and every valid slug, up to its 128 characters, can be named in a path.
import { sendRaw, type RawResponse } from '../support/rawHttp';
import { dumpState } from '../support/stateDump';
import { startTestService, type TestService } from '../support/testService';

let t: TestService;
let port: number;

beforeAll(async () => {
  t = await startTestService();
  await t.service.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.service.app.server.address() as { port: number }).port;
});
afterAll(() => t.close());

function expectProblem(response: RawResponse, status: number, type: string) {
  expect({ status: response.status, contentType: response.headers['content-type'] }).toEqual({ status, contentType: expect.stringMatching(/^application\/problem\+json/) });
  const problem = JSON.parse(response.body.toString('utf8'));
  expect(problem).toMatchObject({ type: `/problems/${type}`, status, title: expect.any(String) });
  return problem;
}

const json: Array<[string, string]> = [['Content-Type', 'application/json']];

it('a header value with a NUL byte, which node refuses to parse, is a 400 problem', async () => {
  const response = await sendRaw(port, { method: 'GET', target: '/segments', headers: [['X-Request-Id', 'a\u0000b']] });
  expectProblem(response, 400, 'bad-request');
});

it('a body that ends before its Content-Length is a 400 problem, and nothing is stored', async () => {
  const before = await dumpState(t.db.pool);
  const response = await sendRaw(
    port,
    { method: 'POST', target: '/segments', headers: [...json, ['Content-Length', '100']], body: Buffer.from('{"slug":"AVITO_VOICE_MESSAGES"') },
    { halfClose: true },
  );
  expectProblem(response, 400, 'bad-request');
  expect(await dumpState(t.db.pool)).toEqual(before);
});

it('both Content-Length and chunked encoding (a smuggling attempt) is a 400 problem', async () => {
  const body = '{"slug":"AVITO_VOICE_MESSAGES"}';
  const response = await sendRaw(port, {
    method: 'POST',
    target: '/segments',
    headers: [...json, ['Transfer-Encoding', 'chunked'], ['Content-Length', String(body.length)]],
    body: Buffer.from(`${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`),
  });
  expectProblem(response, 400, 'bad-request');
  expect((await t.request({ method: 'GET', url: '/segments/AVITO_VOICE_MESSAGES' })).statusCode).toBe(404);
});

it('headers over 16 KiB are a 431 problem', async () => {
  const response = await sendRaw(port, { method: 'GET', target: '/segments', headers: [['X-Padding', 'x'.repeat(20_000)]] });
  expectProblem(response, 431, 'headers-too-large');
});

it('an Expect header other than 100-continue is a 417 problem', async () => {
  const response = await sendRaw(port, { method: 'GET', target: '/segments', headers: [['Expect', 'something-else']] });
  expectProblem(response, 417, 'expectation-failed');
});

it('a path that is not valid percent-encoded UTF-8 is a 400 problem that does not repeat the path', async () => {
  for (const target of ['/segments/%ZZ', '/segments/%ED%A0%80', '/users/%C0%AF/segments']) {
    const response = await sendRaw(port, { method: 'GET', target, headers: [] });
    const problem = expectProblem(response, 400, 'bad-path');
    expect(JSON.stringify(problem)).not.toContain(target.split('/')[2]);
  }
});

it('a slug of 128 characters is created, read, changed, listed by member and deleted by its path', async () => {
  const slug = `A${'b'.repeat(127)}`;
  const request = (method: 'GET' | 'PATCH' | 'DELETE' | 'POST', url: string, payload?: object) => t.request({ method, url, payload });
  expect((await request('POST', '/segments', { slug })).statusCode).toBe(201);
  expect((await request('POST', '/users/1000/segments', { add: [slug] })).statusCode).toBe(200);
  await t.settle();
  expect((await request('GET', `/segments/${slug}`)).json()).toMatchObject({ slug, memberCount: 1 });
  expect((await request('PATCH', `/segments/${slug}`, { description: 'long' })).statusCode).toBe(200);
  expect((await request('GET', `/segments/${slug}/members`)).json().members).toEqual([expect.objectContaining({ userId: 1000 })]);
  expect((await request('DELETE', `/segments/${slug}`)).statusCode).toBe(204);
});

it('a path segment over 128 characters is a 414 problem that does not repeat the path', async () => {
  const long = 'B'.repeat(129);
  const response = await sendRaw(port, { method: 'GET', target: `/segments/${long}`, headers: [] });
  const problem = expectProblem(response, 414, 'path-too-long');
  expect(JSON.stringify(problem)).not.toContain(long);
});
