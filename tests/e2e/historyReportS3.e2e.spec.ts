// The history report stored in S3-compatible storage: a real S3-protocol server (s3rver) on
// loopback, the service's minio client creating the bucket, and the presigned URL downloaded with
// plain fetch, no credentials.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'minio';
import S3rver from 's3rver';
import { parsePeriod } from '../../src/reports/period';
import { S3ReportStorage } from '../../src/reports/s3ReportStorage';
import { CHANGES_PER_USER, seedMembershipChanges } from '../support/seedMembershipChanges';
import { TestClock } from '../support/testClock';
import { startTestService, type TestService } from '../support/testService';

describe('history report in S3-compatible storage', () => {
  const clock = new TestClock(new Date('2023-09-10T00:00:00.000Z'));
  let s3: S3rver;
  let directory: string;
  let endpoint: string;
  let t: TestService;

  beforeAll(async () => {
    directory = await fs.mkdtemp(path.join(os.tmpdir(), 's3rver-'));
    s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
    const { port } = await s3.run();
    endpoint = `http://127.0.0.1:${port}`;
    // No projector: the seeded events name a segment the read model has never seen.
    t = await startTestService({
      clock,
      roles: ['api'],
      reportUrlExpirySeconds: 3600,
      reportStorage: new S3ReportStorage({
        endpoint,
        accessKey: 'S3RVER',
        secretKey: 'S3RVER',
        bucket: 'segment-reports',
        region: 'us-east-1',
        pathStyle: true,
      }),
    });
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('creates the missing bucket, uploads the CSV and answers with a presigned URL that plain fetch downloads', async () => {
    await seedMembershipChanges(t.db.pool, { period: parsePeriod('2023-08')!, count: 20, firstUserId: 1000, slug: 'AVITO_DISCOUNT_30' });
    const response = await t.request({ method: 'POST', url: '/reports/history', payload: { period: '2023-08', userId: 1001 } });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toMatchObject({ period: '2023-08', userId: 1001, rows: CHANGES_PER_USER, expiresAt: '2023-09-10T01:00:00.000Z' });

    const url = new URL(body.url);
    expect(url.origin).toBe(endpoint);
    expect(url.pathname).toMatch(/^\/segment-reports\/history\/[0-9a-f]{32}\.csv$/); // path-style
    expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
    const bucketExists = await new Client({ endPoint: '127.0.0.1', port: Number(url.port), useSSL: false, accessKey: 'S3RVER', secretKey: 'S3RVER' }).bucketExists('segment-reports');
    expect(bucketExists).toBe(true);

    const download = await fetch(body.url);
    expect(download.status).toBe(200);
    const lines = (await download.text()).trim().split(/\r?\n/);
    expect(lines[0]).toBe('user_id;segment;operation;at');
    expect(lines).toHaveLength(CHANGES_PER_USER + 1);
    expect(lines.slice(1).every((line) => /^1001;AVITO_DISCOUNT_30;(added|removed);2023-08-\d\dT[\d:.]+Z$/.test(line))).toBe(true);
    const moments = lines.slice(1).map((line) => line.split(';')[3]!);
    expect([...moments].sort()).toEqual(moments);
  });

  it('a report larger than one upload part (5 MiB) arrives whole and in time order', async () => {
    // The longest slug there is, so that a few rows make more than a part: about 170 bytes a row.
    const count = 40_000;
    const slug = `AVITO_${'PERFORMANCE_VAS_'.repeat(8)}`.slice(0, 128);
    await seedMembershipChanges(t.db.pool, { period: parsePeriod('2023-07')!, count, firstUserId: 10_000_000, slug });
    const response = await t.request({ method: 'POST', url: '/reports/history', payload: { period: '2023-07' } });
    expect(response.statusCode).toBe(201);
    expect(response.json().rows).toBe(count);

    const text = await (await fetch(response.json().url)).text();
    expect(Buffer.byteLength(text)).toBeGreaterThan(5 * 1024 * 1024);
    const lines = text.trim().split(/\r?\n/);
    expect(lines).toHaveLength(count + 1);
    const moments = lines.slice(1).map((line) => line.slice(line.lastIndexOf(';') + 1));
    const outOfOrder = moments.findIndex((at, index) => index > 0 && at < moments[index - 1]!);
    expect(outOfOrder).toBe(-1);
  });

  it('an empty month is the header row alone', async () => {
    const response = await t.request({ method: 'POST', url: '/reports/history', payload: { period: '2023-09' } });
    expect(response.json().rows).toBe(0);
    expect(await (await fetch(response.json().url)).text()).toBe('user_id;segment;operation;at\n');
  });
});
