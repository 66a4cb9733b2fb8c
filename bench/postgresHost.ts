// Runs the harness's embedded PostgreSQL in a process group of its own, so that Ctrl-C in the
// terminal reaches only the harness, which then stops the servers in order (the service before
// its database). Prints {"url", "port"} as one JSON line once the server is up. Stops it on
// SIGTERM, or when the harness goes away (stdin closes), and then removes the folder it was given.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/platform/embeddedPostgres';

async function main(folder: string): Promise<void> {
  const lastLines: string[] = [];
  const embedded = await startEmbeddedPostgres({
    dataDir: path.join(folder, 'postgres'),
    onLog: (line) => {
      lastLines.push(line);
      if (lastLines.length > 40) lastLines.shift();
    },
  }).catch((error: unknown) => {
    process.stderr.write(`${lastLines.join('\n')}\n`);
    throw error;
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await embedded.stop();
    rmSync(folder, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ url: embedded.url, port: embedded.port })}\n`);
}

const folder = process.argv[2];
if (!folder) {
  console.error('usage: postgresHost.ts <folder>');
  process.exit(2);
}
main(folder).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
