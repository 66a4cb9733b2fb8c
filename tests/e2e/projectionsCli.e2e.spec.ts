// `segments projections verify` and `rebuild`, spawned for real (bin/segments.js through tsx)
// against a test database whose service, with its projector, runs in this process.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { sql } from 'slonik';
import { z } from 'zod';
import { holdAdvisoryLock } from '../support/advisoryLock';
import { startTestService, type TestService } from '../support/testService';

const BIN = path.resolve(__dirname, '../../bin/segments.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('segments projections', () => {
  let t: TestService;
  const cli = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [BIN, 'projections', ...args], { env: { ...process.env, DATABASE_URL: t.db.url }, timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const post = async (url: string, payload: object) => {
    const response = await t.request({ method: 'POST', url, payload });
    if (response.statusCode >= 300) throw new Error(`${url}: ${response.statusCode} ${response.body}`);
  };

  beforeAll(async () => {
    t = await startTestService();
    await post('/segments', { slug: 'AVITO_DISCOUNT_30' });
    await post('/segments', { slug: 'AVITO_VOICE_MESSAGES' });
    await post('/users/1000/segments', { add: ['AVITO_DISCOUNT_30', 'AVITO_VOICE_MESSAGES'] });
    await post('/users/1001/segments', { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 172_800 }] });
    await post('/segments/AVITO_VOICE_MESSAGES/members', { add: Array.from({ length: 500 }, (_, index) => 2000 + index) });
    await t.settle();
  });
  afterAll(() => t.close());

  it('verify finds nothing wrong in a read model the projector built, and exits 0', async () => {
    const run = await cli('verify');
    expect(run).toMatchObject({ code: 0, stdout: '' });
    expect(run.stderr).toMatch(/^read_model at \d+\/\d+ is equal to a replay of the events: 6 tables, [\d,]+ rows, against a replay of 5\d\d events$/m);
    expect(run.stderr).not.toContain('\r');
  });

  it('verify prints each difference planted in the read model and exits 3; a rebuild repairs them', async () => {
    const segmentId = await t.db.pool.oneFirst(sql.type(z.object({ segment_id: z.string() }))`
      SELECT segment_id::text FROM segments WHERE slug = 'AVITO_VOICE_MESSAGES'`);
    await t.db.pool.query(sql.unsafe`DELETE FROM memberships WHERE user_id = 1000 AND slug = 'AVITO_VOICE_MESSAGES'`);
    await t.db.pool.query(sql.unsafe`
      UPDATE memberships SET expires_at = '2030-01-01T00:00:00Z' WHERE user_id = 1001 AND slug = 'AVITO_DISCOUNT_30'`);

    const found = await cli('verify');
    expect(found.code).toBe(3);
    const lines = found.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(`memberships user_id=1000 segment_id=${segmentId}: missing from the read model; the events give `);
    expect(lines[0]).toContain('slug="AVITO_VOICE_MESSAGES"');
    expect(lines[1]).toMatch(/^memberships user_id=1001 segment_id=[0-9a-f-]{36}: expires_at is "2030-01-01T00:00:00\+00:00" in the read model, "20\d\d-[^"]+" from the events$/);
    expect(found.stderr).toMatch(/^read_model at \d+\/\d+ differs from a replay of the events \(memberships 2\)/m);

    const rebuilt = await cli('rebuild');
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stderr).not.toContain('\r');
    expect(rebuilt.stderr).toMatch(/^read_model rebuild: 5\d\d events to apply$/m);
    expect(rebuilt.stderr).toMatch(/^read_model: live projector paused; applying the last events and swapping the tables$/m);
    expect(rebuilt.stderr).toMatch(/^read_model rebuilt from 5\d\d events in [\d.]+ s \([\d,]+ events\/s\); swapped in at \d+\/\d+, the live projector paused \d+ ms$/m);

    expect(await cli('verify')).toMatchObject({ code: 0, stdout: '' });
    const user = await t.request({ method: 'GET', url: '/users/1000/segments' });
    expect(user.json().segments.map((segment: { slug: string }) => segment.slug)).toEqual(['AVITO_DISCOUNT_30', 'AVITO_VOICE_MESSAGES']);
    const status = JSON.parse((await cli('status')).stdout);
    expect(status.projections[0]).toMatchObject({ projection: 'read_model', rebuild: { state: 'finished', percent: 100, error: null } });
  }, 60_000);

  it('refuses to rebuild or verify while another rebuild holds its lock, and exits 1', async () => {
    const other = await holdAdvisoryLock(t.db.pool, 'projection-rebuild:read_model');
    try {
      const rebuild = await cli('rebuild');
      expect(rebuild).toMatchObject({ code: 1 });
      expect(rebuild.stderr).toContain('a rebuild or a verify of read_model is running');
      const verify = await cli('verify');
      expect(verify).toMatchObject({ code: 1 });
      expect(verify.stderr).toContain('a rebuild of read_model is running; try again after it');
    } finally {
      await other.release();
    }
  });

  it('an unknown projection is a usage error (exit 2)', async () => {
    const run = await cli('rebuild', 'read_models');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown projection "read_models" (known: read_model)');
  });
});
