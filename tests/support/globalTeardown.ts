import fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const embedded = globalThis.embeddedPostgresForTests;
  if (!embedded) return;
  await embedded.handle.stop();
  fs.rmSync(embedded.dir, { recursive: true, force: true });
}
