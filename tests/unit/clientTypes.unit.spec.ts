// client/src/api.generated.ts is committed, like docs/openapi.json that it is generated from; this
// fails when the two differ.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.resolve(__dirname, '../..');
const GENERATED = 'client/src/api.generated.ts';

describe(GENERATED, () => {
  it('holds the types openapi-typescript generates from docs/openapi.json (run `npm run client:types` after `npm run openapi`)', async () => {
    const cli = path.join(ROOT, 'node_modules/openapi-typescript/bin/cli.js');
    // Without -o the CLI writes the file's content to stdout, the same text `npm run client:types` writes.
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'docs/openapi.json'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    expect(stdout).toContain('export interface paths');
    expect(fs.readFileSync(path.join(ROOT, GENERATED), 'utf8')).toEqual(stdout);
  });
});
