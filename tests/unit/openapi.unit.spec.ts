import fs from 'node:fs';
import path from 'node:path';
import { OPENAPI_FILE, renderOpenApiDocument } from '../../src/api/openapi';

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
