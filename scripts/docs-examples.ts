// npm run docs:examples: runs the README's walkthrough (scripts/walkthrough/scenes.ts), each scene
// on a fresh service with its own embedded PostgreSQL, and rewrites the README's example blocks
// with what the service answered. tests/e2e/readmeWalkthrough.e2e.spec.ts fails when the README
// no longer shows the statuses and shapes the walkthrough gets.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/platform/embeddedPostgres';
import { SHOWN_BASE } from './walkthrough/exchange';
import { rewriteReadme } from './walkthrough/readme';
import { Recorder, type Block } from './walkthrough/recorder';
import { SCENES, type Scene } from './walkthrough/scenes';

const ROOT = path.resolve(__dirname, '..');

async function runOnFreshService(scene: Scene): Promise<{ blocks: Block[]; base: string }> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), `segments-walkthrough-${scene.name}-`));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    // The links the service hands out name the address the README shows.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), DATA_DIR: dataDir, PUBLIC_URL: SHOWN_BASE, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    const recorder = new Recorder(base, scene.name);
    await waitForListening(base, child.exitCode);
    await recorder.untilReady();
    await scene.run(recorder);
    return { blocks: recorder.blocks, base };
  } finally {
    child.kill('SIGTERM');
    await exited;
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

async function waitForListening(base: string, exitCode: number | null): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await fetch(`${base}/health/live`);
      return;
    } catch {
      if (exitCode !== null || Date.now() > deadline) throw new Error(`the service at ${base} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function main(): Promise<void> {
  const readmePath = path.join(ROOT, 'README.md');
  let readme = await fs.readFile(readmePath, 'utf8');
  for (const scene of SCENES) {
    process.stdout.write(`scene ${scene.name}: `);
    const { blocks, base } = await runOnFreshService(scene);
    readme = rewriteReadme(readme, scene.name, blocks, base);
    console.log(`${blocks.length} blocks`);
  }
  await fs.writeFile(readmePath, readme);
  console.log('rewrote the example blocks of README.md');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
