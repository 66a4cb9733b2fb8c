// The `segments` command, spawned for real (bin/segments.js through tsx) against a test database.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestClock } from '../support/testClock';
import { startTestService, type TestService } from '../support/testService';

const BIN = path.resolve(__dirname, '../../bin/segments.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('segments CLI', () => {
  const clock = new TestClock(new Date('2023-08-01T08:00:00.000Z'));
  let t: TestService;
  let directory: string;
  let appendedBetween: { from: string; to: string };

  const cli = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: t.db.url }, timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const post = (url: string, payload: unknown) => t.request({ method: 'POST', url, payload: payload as Record<string, unknown> });

  beforeAll(async () => {
    t = await startTestService({ clock });
    directory = await fs.mkdtemp(path.join(os.tmpdir(), 'segments-cli-'));
    await post('/segments', { slug: 'AVITO_DISCOUNT_30' });
    await post('/segments', { slug: 'AVITO_VOICE_MESSAGES' });
    clock.set(new Date('2023-08-05T10:00:00.000Z'));
    await post('/users/1000/segments', { add: ['AVITO_DISCOUNT_30', 'AVITO_VOICE_MESSAGES'] });
    const before = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    clock.set(new Date('2023-08-10T10:00:00.000Z'));
    await post('/users/1000/segments', { remove: ['AVITO_DISCOUNT_30'] });
    await post('/users/1002/segments', { add: ['AVITO_VOICE_MESSAGES'] });
    await new Promise((resolve) => setTimeout(resolve, 20));
    appendedBetween = { from: before, to: new Date().toISOString() };
  });
  afterAll(async () => {
    await t.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('replay --user prints the raw events of user 1000 readably, one line each', async () => {
    const run = await cli('replay', '--user', '1000');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}\d+\/\d+ +user-1000#0 {2}MembershipAdded {2}userId=1000 slug=AVITO_DISCOUNT_30 reason=manual addedAt=2023-08-05T10:00:00.000Z expiresAt=null segmentId=[0-9a-f-]{36} {2}\(by anonymous via api\)$/);
    expect(lines[2]).toMatch(/user-1000#2 {2}MembershipRemoved {2}userId=1000 slug=AVITO_DISCOUNT_30 reason=manual effectiveAt=2023-08-10T10:00:00.000Z segmentId=/);
    expect(run.stderr).toContain('3 events from DATABASE_URL');
  });

  it('replay --segment --json prints JSON lines of the segment stream and every membership event naming it', async () => {
    const run = await cli('replay', '--segment', 'AVITO_VOICE_MESSAGES', '--json');
    expect(run.code).toBe(0);
    const events = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(events.map((event) => `${event.stream} ${event.type}`)).toEqual([
      'segment-AVITO_VOICE_MESSAGES SegmentCreated',
      'user-1000 MembershipAdded',
      'user-1002 MembershipAdded',
    ]);
    expect(events[1]).toMatchObject({ revision: 1, data: { slug: 'AVITO_VOICE_MESSAGES', userId: 1000 }, metadata: { source: 'api' } });
    expect(events[1].position).toMatch(/^\d+\/\d+$/);
  });

  it('replay --from --to prints what was appended in that range', async () => {
    const run = await cli('replay', '--from', appendedBetween.from, '--to', appendedBetween.to, '--json');
    expect(run.code).toBe(0);
    const events = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(events.map((event) => `${event.stream} ${event.type} ${event.data.slug}`)).toEqual([
      'user-1000 MembershipRemoved AVITO_DISCOUNT_30',
      'user-1002 MembershipAdded AVITO_VOICE_MESSAGES',
    ]);
  });

  it('report --out writes the CSV to a file, with plain progress lines when stderr is not a terminal', async () => {
    const out = path.join(directory, 'august.csv');
    const run = await cli('report', '--period', '2023-08', '--out', out);
    expect(run.code).toBe(0);
    expect(await fs.readFile(out, 'utf8')).toBe(
      [
        'user_id;segment;operation;at',
        '1000;AVITO_DISCOUNT_30;added;2023-08-05T10:00:00.000Z',
        '1000;AVITO_VOICE_MESSAGES;added;2023-08-05T10:00:00.000Z',
        '1000;AVITO_DISCOUNT_30;removed;2023-08-10T10:00:00.000Z',
        '1002;AVITO_VOICE_MESSAGES;added;2023-08-10T10:00:00.000Z',
        '',
      ].join('\n'),
    );
    expect(run.stderr).not.toContain('\r');
    expect(run.stderr.trim().split('\n')).toEqual(['report 2023-08: 4 rows to write', `report 2023-08: 4 rows written to ${out}`]);
    expect(await fs.readdir(directory)).toEqual(['august.csv']);
  });

  it('report --user without --out writes one user to stdout', async () => {
    const run = await cli('report', '--period', '2023-08', '--user', '1002');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('user_id;segment;operation;at\n1002;AVITO_VOICE_MESSAGES;added;2023-08-10T10:00:00.000Z\n');
  });

  it('bad arguments exit with 2 and say what is wrong', async () => {
    for (const [args, message] of [
      [['report', '--period', '2023-8'], '--period: expected a month as YYYY-MM, got "2023-8"'],
      [['report', '--period', '2999-01'], '--period: 2999-01 is after the current month'],
      [['replay'], 'replay needs --user, --segment, or both --from and --to'],
      [['replay', '--user', 'abc'], '--user: expected a positive integer, got "abc"'],
      [['replay', '--users', '1000'], "Unknown option '--users'"],
      [['replay', '--user', '1', '--segment', 'AVITO_VOICE_MESSAGES'], 'replay takes --user or --segment, not both'],
      [['report'], 'report needs --period YYYY-MM'],
      [['rebuild'], 'unknown command "rebuild"'],
    ] as const) {
      const run = await cli(...args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
      expect(run.stderr).toContain('Usage:');
    }
  });
});
