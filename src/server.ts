// Composition root: reads the configuration, starts (or connects to) PostgreSQL, runs this
// process's roles, listens, and shuts everything down cleanly on SIGTERM, SIGINT and SIGHUP
// (docs/shutdown.md).
import type { Server, ServerResponse } from 'node:http';
import path from 'node:path';
import pino from 'pino';
import { ConfigError, loadConfig, type Config } from './config';
import { notReadyWhileStopping, serveOperationsOnly } from './api/operationsOnly';
import { createEventStore, eventStoreSelection } from './eventstore/createEventStore';
import { applySchema, closePool, createDatabasePool, createReadPool } from './platform/database';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './platform/embeddedPostgres';
import { sleep } from './platform/sleep';
import { createReportStorage } from './reports/createReportStorage';
import { createService, type Service } from './service';

// Ctrl-C, systemd's stop, a closed terminal. A signal to the process group reaches npm too, which
// sends it on to this process: repeats are expected and ignored.
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * The HTTP side of a stop. Requests sent just before the signal may not have reached a handler
 * yet (their connection still waits to be accepted, or the request is still being read), and
 * fastify's close would refuse them with 503 or reset their connections. So the service first
 * keeps serving, answering with `Connection: close`, until no request has been open and no
 * connection or request has arrived for `quietMs` (at most `atMostMs`); fastify's close then
 * finds only idle connections.
 */
function httpDrain(server: Server, quietMs = 500, atMostMs = 5_000): () => Promise<void> {
  const open = new Set<ServerResponse>();
  let lastArrival = Date.now();
  let draining = false;
  const closeAfter = (response: ServerResponse) => {
    if (!response.headersSent) response.setHeader('connection', 'close');
  };
  server.on('connection', () => (lastArrival = Date.now()));
  server.on('request', (_request, response: ServerResponse) => {
    lastArrival = Date.now();
    if (draining) closeAfter(response);
    open.add(response);
    response.once('close', () => open.delete(response));
  });
  return async () => {
    draining = true;
    open.forEach(closeAfter);
    for (const end = Date.now() + atMostMs; Date.now() < end && (open.size > 0 || Date.now() - lastArrival < quietMs); ) {
      await sleep(25);
    }
  };
}

/**
 * The pools of the streaming replica an `api`-only process reads from (docs/deployment.md). A
 * process with any other role reads what it writes, so it stays on the primary.
 */
async function replicaPools(config: Config, logger: pino.Logger) {
  const url = config.readDatabaseUrl;
  if (!url) return undefined;
  if (config.roles.size > 1 || !config.roles.has('api')) {
    logger.warn({ roles: [...config.roles] }, 'READ_DATABASE_URL ignored: only a process with just the api role reads from a replica');
    return undefined;
  }
  const size = { maximumPoolSize: config.databasePoolSize };
  const pool = await createDatabasePool(url, size).catch((error: unknown) => {
    throw new Error(`READ_DATABASE_URL: the replica does not answer (${error instanceof Error ? error.message : String(error)})`);
  });
  logger.info('reads of the read model go to the replica in READ_DATABASE_URL');
  return { pool, readPool: createReadPool(url, size), lagLimitMs: config.projectionStallSeconds * 1000 };
}

async function main(config: Config): Promise<void> {
  const startedAt = Date.now();
  const logger = pino({ level: config.logLevel });
  // Handled from the first moment: the embedded PostgreSQL runs in a session of its own, and a
  // signal that ended this process during start-up would leave it running. A stop requested then
  // begins once start-up is done.
  let stopRequestedAt: number | undefined;
  let stop = () => {};
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      if (stopRequestedAt) return logger.info({ signal }, 'already shutting down');
      stopRequestedAt = Date.now();
      logger.info({ signal }, 'shutting down');
      setTimeout(() => {
        logger.error('shutdown took longer than 10 s; exiting');
        process.exit(1);
      }, 10_000).unref();
      stop();
    });
  }

  let embedded: EmbeddedPostgresHandle | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const dataDir = path.join(config.dataDir, 'postgres');
    logger.info({ dataDir }, 'no DATABASE_URL: starting embedded PostgreSQL');
    embedded = await startEmbeddedPostgres({
      dataDir,
      port: config.embeddedPostgresPort,
      // Out of reach of a signal to our process group: it stops after the requests it serves.
      ownSession: true,
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
    const replica = await replicaPools(config, logger);
    service = await createService({
      pool,
      readPool,
      replica,
      store,
      roles: config.roles,
      readView: config.readView,
      logger,
      apiTokens: config.apiTokens,
      bodyLimitBytes: config.bodyLimitBytes,
      rateLimit: config.rateLimit,
      requestTimeoutMs: config.requestTimeoutMs,
      publicUrl: config.publicUrl,
      reportStorage: createReportStorage(config),
      reportUrlExpirySeconds: config.reportUrlExpirySeconds,
      ttlSweepSchedule: config.ttlSweepSchedule,
      projectionStallMs: config.projectionStallSeconds * 1000,
      projectorSessionTimeoutMs: config.projectorSessionTimeoutSeconds * 1000,
    });
    service.start();
    // Every process answers its probes and scrapes; one without the api role only those.
    const api = config.roles.has('api');
    if (!api) serveOperationsOnly(service.app, [...config.roles]);
    notReadyWhileStopping(service.app, () => stopRequestedAt !== undefined);
    const drainHttp = httpDrain(service.app.server);
    await service.app.listen({ port: api ? config.port : (config.healthPort ?? config.port), host: config.host });
    logger.info(
      { roles: [...config.roles], url: api ? config.publicUrl : undefined, startupMs: Date.now() - startedAt },
      'segments service ready',
    );

    const running = service;
    const shutdown = async () => {
      try {
        await drainHttp();
        await running.stop();
        await closePool(pool);
        await readPool.end().catch(() => undefined);
        if (replica) await Promise.all([closePool(replica.pool), replica.readPool.end().catch(() => undefined)]);
      } finally {
        await stopEmbedded();
        logger.info({ shutdownMs: Date.now() - stopRequestedAt! }, 'stopped');
        // Everything of ours is closed. When the database died first, a driver may still hold a
        // socket or a reconnect timer; the process must not wait for the 10 s guard because of it.
        setTimeout(() => {
          logger.warn('a handle kept the process alive after it stopped; exiting');
          process.exit(0);
        }, 1_000).unref();
      }
    };
    stop = () =>
      void shutdown().catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
    if (stopRequestedAt) stop();
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
