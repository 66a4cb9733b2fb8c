// Once per test run: a PostgreSQL server for every test file. DATABASE_URL when it is set,
// otherwise an embedded one on a free port with its data in a temporary folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/platform/embeddedPostgres';

declare global {
  // eslint-disable-next-line no-var
  var embeddedPostgresForTests: { handle: EmbeddedPostgresHandle; dir: string } | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.env.TEST_ADMIN_DATABASE_URL = process.env.DATABASE_URL;
    console.log(`\ntests use the PostgreSQL server of DATABASE_URL`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segments-tests-'));
  const started = Date.now();
  const handle = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), database: 'postgres' });
  globalThis.embeddedPostgresForTests = { handle, dir };
  process.env.TEST_ADMIN_DATABASE_URL = handle.url;
  console.log(`\ntests use an embedded PostgreSQL on port ${handle.port} (started in ${Date.now() - started} ms)`);
}
