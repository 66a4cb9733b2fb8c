// npm run openapi: writes docs/openapi.json from the route schemas (a test fails when it is stale).
import fs from 'node:fs/promises';
import path from 'node:path';
import { OPENAPI_FILE, renderOpenApiDocument } from '../src/api/openapi';

async function main(): Promise<void> {
  const target = path.resolve(__dirname, '..', OPENAPI_FILE);
  await fs.writeFile(target, await renderOpenApiDocument());
  console.log(`wrote ${OPENAPI_FILE}`);
}

void main();
