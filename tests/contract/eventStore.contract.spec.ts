// Runs the event-store contract against PostgreSQL always, and against EventStoreDB when
// EVENTSTORE_CONNECTION_STRING names a server (e.g. `esdb://127.0.0.1:2113?tls=false`).
import { PostgresEventStore } from '../../src/eventstore/postgres/postgresEventStore';
import { closePool, createDatabasePool } from '../../src/platform/database';
import { createTestDatabase } from '../support/database';
import { createEventStoreDbForTests, eventStoreDbConnectionString, newStreamPrefix } from '../support/eventStores';
import { startTcpProxy } from '../support/tcpProxy';
import { describeEventStoreContract } from './eventStoreContract';

const backoff = { initialMs: 50, maxMs: 500 };

describeEventStoreContract('PostgreSQL', async () => {
  const db = await createTestDatabase();
  const target = new URL(db.url);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  const pool = await createDatabasePool(viaProxy.toString());
  let drops = 0;
  const store = new PostgresEventStore(pool, {
    connectionString: viaProxy.toString(),
    pollIntervalMs: 50,
    resubscribeBackoff: backoff,
    onSubscriptionDropped: () => drops++,
  });
  const direct = new PostgresEventStore(db.pool, { connectionString: db.url, pollIntervalMs: 50 });
  return {
    store,
    direct,
    multiStreamAtomic: true,
    cutConnections: () => proxy.cut(),
    restoreConnections: () => proxy.restore(),
    droppedSubscriptions: () => drops,
    async close() {
      await store.close();
      await direct.close();
      await closePool(pool);
      await proxy.close();
      await db.drop();
    },
  };
});

if (!eventStoreDbConnectionString) {
  process.stdout.write(
    'EventStoreDB contract tests skipped: EVENTSTORE_CONNECTION_STRING is not set (no EventStoreDB server to run them against)\n',
  );
}

describeEventStoreContract(
  'EventStoreDB',
  async () => {
    const target = new URL(eventStoreDbConnectionString!.replace(/^esdb(\+discover)?:/, 'http:'));
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 2113) });
    const viaProxy = new URL(eventStoreDbConnectionString!.replace(/^esdb(\+discover)?:/, 'http:'));
    viaProxy.port = String(proxy.port);
    const streamPrefix = newStreamPrefix();
    let drops = 0;
    const store = createEventStoreDbForTests(viaProxy.toString().replace(/^http:/, 'esdb:'), {
      streamPrefix,
      resubscribeBackoff: backoff,
      onSubscriptionDropped: () => drops++,
    });
    const direct = createEventStoreDbForTests(eventStoreDbConnectionString!, { streamPrefix });
    return {
      store,
      direct,
      multiStreamAtomic: false,
      cutConnections: () => proxy.cut(),
      restoreConnections: () => proxy.restore(),
      droppedSubscriptions: () => drops,
      async close() {
        await store.close();
        await direct.close();
        await proxy.close();
      },
    };
  },
  { skip: !eventStoreDbConnectionString },
);
