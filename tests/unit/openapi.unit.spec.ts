import fs from 'node:fs';
import path from 'node:path';
import { OPENAPI_FILE, renderOpenApiDocument } from '../../src/api/openapi';
import { OPERATION_DOCS } from '../../src/api/openapiExamples';

describe('docs/openapi.json', () => {
  it('is the document the routes generate (run `npm run openapi` after changing a route)', async () => {
    const committed = fs.readFileSync(path.resolve(__dirname, '../..', OPENAPI_FILE), 'utf8');
    expect(committed).toEqual(await renderOpenApiDocument());
  });

  it('documents every route of the contract', async () => {
    const document = JSON.parse(await renderOpenApiDocument());
    expect(Object.keys(document.paths).sort()).toEqual(
      expect.arrayContaining([
        '/segments',
        '/segments/{slug}',
        '/segments/{slug}/members',
        '/users/{userId}/segments',
        '/health/live',
        '/health/ready',
        '/projections',
      ]),
    );
    expect(document.paths['/users/{userId}/segments'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('add');
  });

  it('states the bearer requirement on every route that needs a scope, and on no public one', async () => {
    const document = JSON.parse(await renderOpenApiDocument());
    const secured: string[] = [];
    const open: string[] = [];
    for (const [route, operations] of Object.entries(document.paths as Record<string, Record<string, { security?: unknown }>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        (operation.security ? secured : open).push(`${method.toUpperCase()} ${route}`);
      }
    }
    expect(secured).toEqual(expect.arrayContaining(['POST /users/{userId}/segments', 'GET /users/{userId}/segments', 'GET /projections', 'POST /reports/history']));
    expect(open.sort()).toEqual(['GET /health/live', 'GET /health/ready', 'GET /reports/{file}']);
    expect(document.paths['/projections'].get.description).toContain('scope `admin`');
  });
});

describe('what the document says about each operation', () => {
  const operations = async () => {
    const document = JSON.parse(await renderOpenApiDocument());
    return Object.entries(document.paths as Record<string, Record<string, OpenApiOperation>>).flatMap(([route, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ name: `${method.toUpperCase()} ${route}`, operation })),
    );
  };

  it('names every answer for what it is (none is "Default Response")', async () => {
    const unnamed = (await operations()).flatMap(({ name, operation }) =>
      Object.entries(operation.responses)
        .filter(([, response]) => !response.description || response.description === 'Default Response' || response.description.startsWith('RFC 7807'))
        .map(([status]) => `${name} ${status}`),
    );
    expect(unnamed).toEqual([]);
  });

  it('has an example of every request body, every path parameter and every success answer with a body', async () => {
    const missing = (await operations()).flatMap(({ name, operation }) => {
      const gaps: string[] = [];
      const body = operation.requestBody?.content['application/json'];
      if (body && !body.example && !body.examples) gaps.push(`${name} request body`);
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in === 'path' && parameter.example === undefined) gaps.push(`${name} parameter ${parameter.name}`);
      }
      for (const [status, response] of Object.entries(operation.responses)) {
        const media = Object.values(response.content ?? {})[0];
        if (Number(status) < 300 && status !== '204' && media?.example === undefined && !media?.examples) gaps.push(`${name} ${status} answer`);
      }
      return gaps;
    });
    expect(missing).toEqual([]);
  });

  it('describes no operation the routes do not have', async () => {
    const names = (await operations()).map(({ name }) => name);
    expect(Object.keys(OPERATION_DOCS).filter((key) => !names.includes(key))).toEqual([]);
  });

  it('names the scope of every secured operation in x-required-scope, as its description does', async () => {
    const mismatched = (await operations())
      .filter(({ operation }) => operation.security)
      .filter(({ operation }) => !operation['x-required-scope'] || !operation.description?.includes(`scope \`${operation['x-required-scope']}\``));
    expect(mismatched.map(({ name }) => name)).toEqual([]);
    const scopes = Object.fromEntries((await operations()).map(({ name, operation }) => [name, operation['x-required-scope']]));
    expect(scopes).toMatchObject({ 'GET /users/{userId}/segments': 'read', 'POST /users/{userId}/segments': 'write', 'POST /projections/{name}/rebuild': 'admin' });
  });

  it('says of every operation without a security requirement that it needs no token', async () => {
    const silent = (await operations()).filter(({ operation }) => !operation.security && !operation.description?.includes('Needs no token'));
    expect(silent.map(({ name }) => name)).toEqual([]);
  });
});

interface OpenApiMedia {
  example?: unknown;
  examples?: Record<string, { value: unknown }>;
}

interface OpenApiOperation {
  description?: string;
  'x-required-scope'?: string;
  security?: unknown[];
  parameters?: { in: string; name: string; example?: unknown }[];
  requestBody?: { content: Record<string, OpenApiMedia> };
  responses: Record<string, { description?: string; content?: Record<string, OpenApiMedia> }>;
}
