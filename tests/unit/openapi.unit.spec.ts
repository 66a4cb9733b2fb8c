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
});
