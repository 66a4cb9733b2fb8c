// `npm run bench` at a tiny scale, spawned for real against the test PostgreSQL server: it must
// finish, measure every phase, and find every read-after-write read, and every read through another
// API process in the visibility probe, showing its write.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

interface Phase {
  id: string;
  requests: number;
  non2xx: number;
}

interface Results {
  data: { users: number; memberships: number };
  seeding: Array<{ events: number }>;
  phases: Phase[];
  projectionLag: { samples: { count: number } };
  readAfterWrite: { pairs: { count: number }; mismatches: number };
  streamLength: { long: { count: number }; fresh: { count: number } };
  bulk: { users: number; status: number };
  readViews: {
    memberships: number;
    processes: Array<{ readView: string; startToReadyMs: number; idle: { rssBytes: number } | null; afterCollection: { rssBytes: number } | null }>;
    bytesPerMembershipAfterCollection: number | null;
    phases: Phase[];
    visibility: { samples: { count: number }; mismatches: number; failedReads: number };
    targets: unknown[];
  };
}

describe('the benchmark harness', () => {
  let resultsDir: string;
  beforeAll(async () => {
    resultsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'segments-bench-results-'));
  });
  afterAll(async () => {
    await fs.rm(resultsDir, { recursive: true, force: true });
  });

  it('runs every phase and probe on 300 users, with no read-after-write or visibility mismatch', async () => {
    const args = [
      ...['--import', 'tsx', 'bench/run.ts'],
      ...['--users', '300', '--duration', '1', '--warmup', '0', '--connections', '4'],
      ...['--long-stream', '200', '--sequential-writes', '20', '--bulk-writers', '2', '--rss-settle', '0', '--results-dir', resultsDir],
    ];
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        args,
        { cwd: ROOT, env: { ...process.env, DATABASE_URL: process.env.TEST_ADMIN_DATABASE_URL }, timeout: 170_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    if (run.code !== 0) {
      // The harness's own lines say where it stopped; the servers' log lines may crowd them out.
      const progress = run.stderr.split('\n').filter((line) => line.startsWith('[bench'));
      throw new Error(`the harness exited with ${run.code}:\n${progress.slice(-40).join('\n')}\n${run.stderr.slice(-3000)}`);
    }

    const results = JSON.parse(await fs.readFile(path.join(resultsDir, 'latest.json'), 'utf8')) as Results;
    expect(results.data.users).toBe(300);
    expect(results.seeding.map((step) => step.events).reduce((a, b) => a + b, 0)).toBe(results.data.memberships + 200);
    expect(results.phases.map((phase) => phase.id).sort()).toEqual(
      ['ping', 'baselineRead', 'serviceRead', 'baselineWrite', 'serviceWrite', 'serviceMix', 'serviceReadSmall', 'serviceWriteSmall', 'serviceReadFull', 'serviceWriteFull'].sort(),
    );
    for (const phase of results.phases) {
      expect({ id: phase.id, measured: phase.requests > 0, non2xx: phase.non2xx }).toEqual({ id: phase.id, measured: true, non2xx: 0 });
    }
    expect(results.projectionLag.samples.count).toBeGreaterThan(0);
    expect(results.readAfterWrite.pairs.count).toBeGreaterThan(0);
    expect(results.readAfterWrite.mismatches).toBe(0);
    expect(results.streamLength.long.count).toBe(20);
    expect(results.streamLength.fresh.count).toBe(20);
    expect(results.bulk.users).toBe(300);
    expect(results.bulk.status).toBeGreaterThan(0);
    // API-only processes in both read views, side by side.
    const { readViews } = results;
    expect(readViews.processes.map((apiProcess) => apiProcess.readView)).toEqual(['memory', 'database', 'memory']);
    for (const apiProcess of readViews.processes) {
      expect(apiProcess.startToReadyMs).toBeGreaterThan(0);
      expect(apiProcess.idle?.rssBytes).toBeGreaterThan(0);
      // A full collection asked for through the inspector ran, and the process lives on.
      expect(apiProcess.afterCollection?.rssBytes).toBeGreaterThan(0);
    }
    expect(readViews.bytesPerMembershipAfterCollection).not.toBeNull();
    expect(readViews.memberships).toBeGreaterThan(0);
    expect(readViews.phases.map((phase) => phase.id)).toEqual(['readMemory', 'readDatabase', 'visibilityWrites']);
    for (const phase of readViews.phases) {
      expect({ id: phase.id, measured: phase.requests > 0, non2xx: phase.non2xx }).toEqual({ id: phase.id, measured: true, non2xx: 0 });
    }
    expect(readViews.visibility.samples.count).toBeGreaterThan(0);
    expect(readViews.visibility.mismatches).toBe(0);
    expect(readViews.visibility.failedReads).toBe(0);
    expect(readViews.targets).toHaveLength(6);
    // The same figures as Markdown tables on stdout.
    expect(run.stdout).toContain('| c / b: service read ÷ bare pg read route, req/s |');
    expect(run.stdout).toContain('| issue 12 target | measured | |');
  }, 180_000);
});
