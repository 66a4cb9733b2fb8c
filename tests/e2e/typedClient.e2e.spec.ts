// The typed client (client/src) against the service on a real socket: read-your-writes, problem
// documents thrown as SegmentsProblem, and retries on 503 while the database does not answer.
import { createSegmentsClient, SegmentsProblem } from '../../client/src';
import { closePool, createDatabasePool } from '../../src/platform/database';
import { createService, type Service } from '../../src/service';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy';
import { serviceParts, startTestService, type TestService } from '../support/testService';

interface Sent {
  method: string;
  path: string;
  minPosition: string | null;
  requestId: string | null;
  status: number;
}

/** The global fetch, noting what each request sent and how it was answered; `afterEach` runs after each answer. */
function recordingFetch(afterEach?: (sent: Sent[]) => Promise<void>) {
  const sent: Sent[] = [];
  const send = async (request: Request) => {
    const response = await fetch(request);
    sent.push({
      method: request.method,
      path: new URL(request.url).pathname,
      minPosition: request.headers.get('x-min-position'),
      requestId: request.headers.get('x-request-id'),
      status: response.status,
    });
    await afterEach?.(sent);
    return response;
  };
  return { sent, fetch: send };
}

async function rejection(call: Promise<unknown>): Promise<SegmentsProblem> {
  const outcome = await call.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected the call to fail, it answered ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(SegmentsProblem);
  return outcome.error as SegmentsProblem;
}

describe('the typed client', () => {
  let t: TestService;
  let baseUrl: string;

  beforeAll(async () => {
    t = await startTestService();
    baseUrl = await t.service.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  it('user 1000 added to AVITO_VOICE_MESSAGES for 2 days sees it in a read that asks to be consistent', async () => {
    const recorder = recordingFetch();
    const client = createSegmentsClient({ baseUrl, fetch: recorder.fetch });
    expect(client.lastWritePosition).toBeUndefined();
    await client.createSegment({ slug: 'AVITO_VOICE_MESSAGES' });
    const created = client.lastWritePosition;
    expect(created).toMatch(/^\d+\/\d+$/);

    const write = await client.changeUserSegments(1000, { add: [{ slug: 'AVITO_VOICE_MESSAGES', ttlSeconds: 2 * 24 * 3600 }] });
    expect(write.added).toEqual(['AVITO_VOICE_MESSAGES']);
    expect(client.lastWritePosition).toBe(write.position);
    expect(write.position).not.toBe(created);

    const read = await client.userSegments(1000, { consistent: true });
    expect(read.segments).toEqual([expect.objectContaining({ slug: 'AVITO_VOICE_MESSAGES', source: 'manual' })]);
    expect(Date.parse(read.segments[0]!.expiresAt!) - Date.parse(read.segments[0]!.addedAt)).toBe(2 * 24 * 3600 * 1000);
    expect(recorder.sent.at(-1)).toMatchObject({ method: 'GET', path: '/users/1000/segments', minPosition: write.position, status: 200 });
    // A read sends the position only when asked, and does not move it.
    await client.userSegments(1000);
    expect(recorder.sent.at(-1)).toMatchObject({ method: 'GET', minPosition: null, status: 200 });
    expect(client.lastWritePosition).toBe(write.position);
  });

  it('a segment deleted by the client is gone for its next consistent read', async () => {
    const recorder = recordingFetch();
    const client = createSegmentsClient({ baseUrl, fetch: recorder.fetch });
    await client.createSegment({ slug: 'AVITO_DISCOUNT_30', description: '30 % discount' });
    expect(await client.segment('AVITO_DISCOUNT_30', { consistent: true })).toMatchObject({ slug: 'AVITO_DISCOUNT_30', description: '30 % discount' });
    const beforeDelete = client.lastWritePosition;

    await client.deleteSegment('AVITO_DISCOUNT_30');
    expect(client.lastWritePosition).not.toBe(beforeDelete);
    const problem = await rejection(client.segment('AVITO_DISCOUNT_30', { consistent: true }));
    expect(problem).toMatchObject({ status: 404, type: '/problems/segment-not-found' });
    expect(recorder.sent.at(-1)).toMatchObject({ minPosition: client.lastWritePosition, status: 404 });
  });

  it('answers other than 2xx throw SegmentsProblem with the problem document, and are sent once', async () => {
    const recorder = recordingFetch();
    const client = createSegmentsClient({ baseUrl, fetch: recorder.fetch, retry: { attempts: 5, baseDelayMs: 1 } });

    const exists = await rejection(client.createSegment({ slug: 'AVITO_VOICE_MESSAGES' }));
    expect(exists).toMatchObject({
      status: 409,
      type: '/problems/segment-exists',
      title: 'Segment already exists',
      detail: 'segment AVITO_VOICE_MESSAGES already exists',
      errors: [],
      message: 'segment AVITO_VOICE_MESSAGES already exists',
    });
    expect(exists.document.slug).toBe('AVITO_VOICE_MESSAGES');
    expect(exists.requestId).toBe(recorder.sent.at(-1)!.requestId);

    const invalid = await rejection(client.changeUserSegments(1000, { add: ['AVITO_VOICE_MESSAGES', 'avito discount'] }));
    expect(invalid).toMatchObject({ status: 400, type: '/problems/validation', title: 'Invalid request' });
    expect(invalid.errors).toEqual([{ path: 'add.1', message: expect.stringContaining('letters, digits') }]);

    const unknown = await rejection(client.changeUserSegments(1004, { add: ['AVITO_DISCOUNT_70'], remove: ['AVITO_VOICE_MESAGES'] }));
    expect(unknown).toMatchObject({ status: 422, type: '/problems/unknown-segments' });
    expect(unknown.document.slugs).toEqual(['AVITO_DISCOUNT_70', 'AVITO_VOICE_MESAGES']);

    const notFound = await rejection(client.members('NO_SUCH_SEGMENT'));
    expect(notFound).toMatchObject({ status: 404, type: '/problems/segment-not-found' });

    expect(recorder.sent.map(({ status }) => status)).toEqual([409, 400, 422, 404]);
  });

  it('the raw api reaches every route with the same error handling and position', async () => {
    const client = createSegmentsClient({ baseUrl });
    const write = await client.changeUserSegments(1002, { add: ['AVITO_VOICE_MESSAGES'] });
    const { data } = await client.api.GET('/users/{userId}/history', {
      params: { path: { userId: '1002' } },
      headers: client.readYourWritesHeaders(),
    });
    expect(client.readYourWritesHeaders()).toEqual({ 'x-min-position': write.position });
    expect(data?.entries).toEqual([expect.objectContaining({ slug: 'AVITO_VOICE_MESSAGES', operation: 'added', reason: 'manual' })]);
    const problem = await rejection(client.api.GET('/users/{userId}/segments', { params: { path: { userId: '0042' } } }));
    expect(problem).toMatchObject({ status: 400, errors: [{ path: 'params.userId', message: expect.any(String) }] });
  });
});

describe('the typed client while the database does not answer', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let pool: Awaited<ReturnType<typeof createDatabasePool>>;
  let service: Service;
  let baseUrl: string;
  const quickRetries = { attempts: 3, baseDelayMs: 20, maxDelayMs: 40 };
  let databaseCut = false;
  const cutDatabase = async () => {
    await proxy.cut();
    databaseCut = true;
  };
  const restoreDatabase = async () => {
    if (!databaseCut) return;
    databaseCut = false;
    await proxy.restore();
  };

  beforeAll(async () => {
    // An api-only service whose connections to its database go through a proxy the test cuts.
    db = await createTestDatabase();
    const target = new URL(db.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    pool = await createDatabasePool(viaProxy.toString());
    service = await createService({ ...serviceParts(pool, viaProxy.toString()), roles: new Set(['api']) });
    baseUrl = await service.app.listen({ port: 0, host: '127.0.0.1' });
    await createSegmentsClient({ baseUrl }).createSegment({ slug: 'AVITO_VOICE_MESSAGES' });
  });
  afterAll(async () => {
    await service.stop();
    await closePool(pool);
    await proxy.close();
    await db.drop();
  });
  afterEach(restoreDatabase);

  it('a read answered 503 is sent again with one request id, and the last 503 is thrown when the tries run out', async () => {
    await cutDatabase();
    const recorder = recordingFetch();
    const client = createSegmentsClient({ baseUrl, fetch: recorder.fetch, retry: quickRetries });
    const problem = await rejection(client.userSegments(1000));
    expect(problem).toMatchObject({ status: 503, type: '/problems/unavailable' });
    expect(recorder.sent.map(({ status }) => status)).toEqual([503, 503, 503]);
    expect(new Set(recorder.sent.map(({ requestId }) => requestId)).size).toBe(1);
  });

  it('a write answered 503 /problems/unavailable (nothing applied) is sent again and applied once the database is back', async () => {
    await cutDatabase();
    const recorder = recordingFetch(async (sent) => {
      if (sent.length === 1) await restoreDatabase();
    });
    const client = createSegmentsClient({ baseUrl, fetch: recorder.fetch, retry: quickRetries });
    const write = await client.changeUserSegments(1000, { add: ['AVITO_VOICE_MESSAGES'] });
    expect(recorder.sent.map(({ method, status }) => `${method} ${status}`)).toEqual(['POST 503', 'POST 200']);
    expect(write).toMatchObject({ added: ['AVITO_VOICE_MESSAGES'], version: 1 });
    expect(client.lastWritePosition).toBe(write.position);
  });

  it('with one attempt the first 503 is thrown', async () => {
    await cutDatabase();
    const recorder = recordingFetch();
    const client = createSegmentsClient({ baseUrl, fetch: recorder.fetch, retry: { attempts: 1 } });
    expect(await rejection(client.createSegment({ slug: 'AVITO_DISCOUNT_50' }))).toMatchObject({ status: 503 });
    expect(recorder.sent).toHaveLength(1);
  });
});

describe('the typed client against a service with a rate limit', () => {
  let t: TestService;
  let baseUrl: string;

  beforeAll(async () => {
    // A request every 2 s, no bursts: a second call within 2 s of the first is refused for 1 or 2 s.
    t = await startTestService({ rateLimit: { perSecond: 0.5, burst: 1 } });
    baseUrl = await t.service.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  it('a write refused with 429 /problems/rate-limited is sent again after its Retry-After, with the same request id, and applied once', async () => {
    const recorder = recordingFetch();
    const client = createSegmentsClient({ baseUrl, fetch: recorder.fetch });
    await client.createSegment({ slug: 'AVITO_VOICE_MESSAGES' });
    const started = Date.now();
    const write = await client.changeUserSegments(1000, { add: ['AVITO_VOICE_MESSAGES'] });
    const waited = Date.now() - started;
    expect(recorder.sent.map(({ method, status }) => `${method} ${status}`)).toEqual(['POST 201', 'POST 429', 'POST 200']);
    expect(recorder.sent[1]!.requestId).toBe(recorder.sent[2]!.requestId);
    expect(waited).toBeGreaterThanOrEqual(950); // Retry-After: 1 or 2
    expect(write).toMatchObject({ added: ['AVITO_VOICE_MESSAGES'], version: 1 });
    expect((await client.userSegments(1000, { consistent: true })).segments.map(({ slug }) => slug)).toEqual(['AVITO_VOICE_MESSAGES']);
  });

  it('a 429 asking for a longer wait than the policy allows is thrown at once', async () => {
    const recorder = recordingFetch();
    const client = createSegmentsClient({ baseUrl, fetch: recorder.fetch, retry: { maxRetryAfterMs: 500 } });
    // The service's Retry-After is at least 1 s; whatever the bucket holds, a few calls reach it.
    let refused: unknown;
    for (let call = 0; call < 5 && refused === undefined; call++) refused = await client.userSegments(1000).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(SegmentsProblem);
    expect(refused).toMatchObject({ status: 429, type: '/problems/rate-limited' });
    expect(recorder.sent.filter(({ status }) => status === 429)).toHaveLength(1);
    expect(recorder.sent.at(-1)!.status).toBe(429);
  });
});
