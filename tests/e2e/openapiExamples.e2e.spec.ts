// Every request example of the OpenAPI document, sent to a running service in the order a newcomer
// would send them (segments before their members): each must get the documented success status,
// with an answer of the documented example's shape.
import type { InjectOptions } from 'fastify';
import { shapeDifferences } from '../support/jsonShape';
import { startTestService, type TestService } from '../support/testService';

interface Media {
  example?: unknown;
  examples?: Record<string, { summary?: string; value: unknown }>;
}
interface Operation {
  parameters?: { in: string; name: string; example?: unknown }[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { content?: Record<string, Media> }>;
}

/** The walk's order; every operation of the document is in it exactly once. */
const ORDER = [
  'GET /health/live',
  'GET /health/ready',
  'POST /segments',
  'GET /segments',
  'GET /segments/{slug}',
  'POST /users/{userId}/segments',
  'GET /users/{userId}/segments',
  'GET /users/{userId}/history',
  'POST /segments/{slug}/members',
  'GET /segments/{slug}/members',
  'PATCH /segments/{slug}',
  'POST /reports/history',
  'GET /reports/{file}',
  'GET /metrics',
  'GET /projections',
  'GET /projections/{name}',
  'POST /projections/{name}/rebuild',
  'DELETE /segments/{slug}',
];

describe('the OpenAPI document’s examples, sent to the service', () => {
  let t: TestService;
  let document: { paths: Record<string, Record<string, Operation>> };
  let reportUrl: string | undefined;

  beforeAll(async () => {
    t = await startTestService();
    document = (await t.request({ method: 'GET', url: '/docs/json' })).json();
    // As a caller would: the service answers once it is ready (its in-memory view loads first).
    const deadline = Date.now() + 15_000;
    while ((await t.request({ method: 'GET', url: '/health/ready' })).statusCode !== 200) {
      if (Date.now() > deadline) throw new Error('the service did not become ready within 15 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  afterAll(() => t.close());

  const operation = (name: string): Operation => {
    const [method, route] = name.split(' ') as [string, string];
    return document.paths[route]![method.toLowerCase()]!;
  };

  it('walks every operation of the document', () => {
    const documented = Object.entries(document.paths).flatMap(([route, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${route}`));
    expect([...ORDER].sort()).toEqual(documented.sort());
  });

  it.each(ORDER)('%s answers its documented success status with its documented shape', async (name) => {
    const [method, route] = name.split(' ') as [InjectOptions['method'] & string, string];
    const op = operation(name);
    let url = route.replace(/\{(\w+)\}/g, (_, parameter: string) => {
      const example = op.parameters?.find((p) => p.in === 'path' && p.name === parameter)?.example;
      expect(example).toBeDefined();
      return encodeURIComponent(String(example));
    });
    // A report's name is random: the link comes from the report requested just before.
    if (name === 'GET /reports/{file}') url = new URL(reportUrl!).pathname;
    const [status, success] = Object.entries(op.responses).find(([code]) => code.startsWith('2'))!;
    const bodies = Object.entries(op.requestBody?.content['application/json']?.examples ?? {});
    if (op.requestBody) expect(bodies.length).toBeGreaterThan(0);

    // Reads see the writes before them, as a caller sending X-Min-Position would.
    if (method === 'GET') await t.settle();
    for (const [label, example] of bodies.length > 0 ? bodies : [['no body', { value: undefined }] as const]) {
      const answer = await t.request({ method, url, payload: example.value as InjectOptions['payload'] });
      expect({ example: label, status: answer.statusCode, body: answer.statusCode === Number(status) ? 'as documented' : answer.body }).toEqual({
        example: label,
        status: Number(status),
        body: 'as documented',
      });
      const [mediaType, media] = Object.entries(success.content ?? {})[0] ?? [];
      if (mediaType) expect(answer.headers['content-type']).toMatch(new RegExp(`^${mediaType.replace(/[+/.]/g, '\\$&')}`));
      // Answers documented per request example carry the request example's name.
      if (media?.examples) expect(Object.keys(media.examples)).toContain(label);
      const documented = media?.examples?.[label]?.value ?? media?.example;
      if (documented !== undefined) {
        const actual = typeof documented === 'string' ? answer.body : answer.json();
        expect(shapeDifferences(documented, actual)).toEqual([]);
      }
      if (name === 'POST /reports/history') reportUrl = answer.json().url;
    }
    if (name === 'POST /projections/{name}/rebuild') await rebuildFinished();
  });

  /** The rebuild runs on after its 202; the segment is deleted only once it has swapped in. */
  async function rebuildFinished(): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const { rebuild } = (await t.request({ method: 'GET', url: '/projections/read_model' })).json();
      if (rebuild?.state === 'finished') return;
      if (rebuild?.state === 'failed') throw new Error(`the rebuild failed: ${rebuild.error}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('the rebuild did not finish within 20 s');
  }
});
