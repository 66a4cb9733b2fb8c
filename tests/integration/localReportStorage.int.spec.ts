import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { LocalReportStorage } from '../../src/reports/localReportStorage';

const DAY = 24 * 60 * 60 * 1000;
const name = (digit: string) => digit.repeat(32);

describe('local report storage on a real folder', () => {
  let dir: string;
  let storage: LocalReportStorage;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'reports-'));
    storage = new LocalReportStorage(dir, 'http://127.0.0.1:8080');
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  const age = async (file: string, modified: Date) => fs.utimes(path.join(dir, file), modified, modified);

  it('deletes expired reports and stale partial files when it stores a new report, and keeps the rest', async () => {
    await storage.store(name('a'), Readable.from(['user_id;segment;operation;at\n']), 3600);
    await storage.store(name('b'), Readable.from(['user_id;segment;operation;at\n']), 3600);
    await age(`${name('b')}.csv`, new Date(Date.now() - 1000)); // its link expired a second ago
    await fs.writeFile(path.join(dir, `${name('c')}.partial`), 'left by a crash');
    await age(`${name('c')}.partial`, new Date(Date.now() - 2 * DAY));
    await fs.writeFile(path.join(dir, `${name('d')}.partial`), 'still being written');
    await fs.writeFile(path.join(dir, 'notes.txt'), 'not ours');

    const { url } = await storage.store(name('e'), Readable.from(['user_id;segment;operation;at\n']), 3600);

    expect(url).toBe(`http://127.0.0.1:8080/reports/${name('e')}.csv`);
    expect((await fs.readdir(dir)).sort()).toEqual(
      [`${name('a')}.csv`, `${name('d')}.partial`, `${name('e')}.csv`, 'notes.txt'].sort(),
    );
    expect(await storage.open(name('b'))).toBeUndefined();
    const kept = await storage.open(name('a'));
    expect(kept?.size).toBe('user_id;segment;operation;at\n'.length);
    kept?.body.destroy();
  });
});
