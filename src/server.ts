// Composition root: reads the configuration, starts (or connects to) PostgreSQL, runs this
// process's roles, listens, and shuts everything down cleanly on SIGTERM/SIGINT.
import path from 'node:path';
import pino from 'pino';
import { ConfigError, loadConfig, type Config } from './config';
import { createEventStore, eventStoreSelection } from './eventstore/createEventStore';
import { applySchema, closePool, createDatabasePool, createReadPool } from './platform/database';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './platform/embeddedPostgres';
import { createReportStorage } from './reports/createReportStorage';
import { createService, type Service } from './service';

async function main(config: Config): Promise<void> {
  const startedAt = Date.now();
  const logger = pino({ level: config.logLevel });

  let embedded: EmbeddedPostgresHandle | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const dataDir = path.join(config.dataDir, 'postgres');
    logger.info({ dataDir }, 'no DATABASE_URL: starting embedded PostgreSQL');
    embedded = await startEmbeddedPostgres({
      dataDir,
      port: config.embeddedPostgresPort,
      onLog: (message) => logger.debug({ postgres: message }, 'embedded postgres'),
      onWarning: (message) => logger.warn(message),
    });
    databaseUrl = embedded.url;
    logger.info({ port: embedded.port }, 'embedded PostgreSQL ready');
  }

  let service: Service | undefined;
  const stopEmbedded = async () => {
    await embedded?.stop().catch((error: unknown) => logger.error({ err: error }, 'embedded PostgreSQL did not stop'));
  };
  try {
    await applySchema(databaseUrl);
    const pool = await createDatabasePool(databaseUrl, { maximumPoolSize: config.databasePoolSize });
    const readPool = createReadPool(databaseUrl, { maximumPoolSize: config.databasePoolSize });
    const store = createEventStore(eventStoreSelection(config), { pool, databaseUrl, statementPool: readPool }, logger);
    logger.info({ eventStore: config.eventStore }, 'event store selected');
    service = await createService({
      pool,
      readPool,
      store,
      roles: config.roles,
      readView: config.readView,
      logger,
      apiTokens: config.apiTokens,
      bodyLimitBytes: config.bodyLimitBytes,
      publicUrl: config.publicUrl,
      reportStorage: createReportStorage(config),
      reportUrlExpirySeconds: config.reportUrlExpirySeconds,
      ttlSweepSchedule: config.ttlSweepSchedule,
    });
    service.start();
    if (config.roles.has('api')) {
      await service.app.listen({ port: config.port, host: config.host });
    }
    logger.info(
      { roles: [...config.roles], url: config.roles.has('api') ? config.publicUrl : undefined, startupMs: Date.now() - startedAt },
      'segments service ready',
    );

    const running = service;
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        logger.error('shutdown took longer than 10 s; exiting');
        process.exit(1);
      }, 10_000);
      force.unref();
      try {
        await running.stop();
        await closePool(pool);
        await readPool.end().catch(() => undefined);
      } finally {
        await stopEmbedded();
        logger.info('stopped');
        // Everything of ours is closed. When the database died first, a driver may still hold a
        // socket or a reconnect timer; the process must not wait for the 10 s guard because of it.
        setTimeout(() => {
          logger.warn('a handle kept the process alive after it stopped; exiting');
          process.exit(0);
        }, 1_000).unref();
      }
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  } catch (error) {
    await service?.stop().catch(() => undefined);
    await stopEmbedded();
    throw error;
  }
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}

main(config).catch((error: unknown) => {
  console.error('the service did not start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
