// What the service is measured against, served from a process of its own on the same database:
//   GET  /ping       a fixed JSON body: fastify and Node's HTTP with no work at all;
//   GET  /read/:id   one named prepared select of a user's rows of the read model;
//   POST /write/:id  the least one write must do: in one transaction, read where the stream ends
//                    and insert one event after it (synchronous_commit as configured, on by default).
// Started by bench/run.ts with PORT and DATABASE_URL.
import { randomUUID } from 'node:crypto';
import fastify from 'fastify';
import { Pool, type PoolClient } from 'pg';

const port = Number(process.env.PORT);
const databaseUrl = process.env.DATABASE_URL;
if (!Number.isInteger(port) || !databaseUrl) {
  console.error('bench/baselines.ts needs PORT and DATABASE_URL');
  process.exit(2);
}

// The service's default pool size, so that both sides get the same number of connections.
const pool = new Pool({ connectionString: databaseUrl, max: 10 });

const READ = { name: 'baseline_read', text: 'SELECT slug, added_at, expires_at FROM memberships WHERE user_id = $1' };
const STREAM_END = { name: 'baseline_stream_end', text: 'SELECT max(stream_position) AS last FROM events WHERE stream_id = $1' };
const INSERT_EVENT = {
  name: 'baseline_insert_event',
  text: `INSERT INTO events (event_id, stream_id, stream_position, type, data, metadata)
         VALUES ($1, $2, $3, 'BaselineWrite', $4, $5)`,
};
/** Writers racing for one stream retry, as the service's commands do. */
const MAX_ATTEMPTS = 25;

const isUniqueViolation = (error: unknown) => (error as { code?: string } | null)?.code === '23505';

async function appendOne(client: PoolClient, stream: string, userId: number): Promise<number> {
  await client.query('BEGIN');
  try {
    const last = (await client.query<{ last: string | null }>({ ...STREAM_END, values: [stream] })).rows[0]?.last ?? null;
    const position = last === null ? 0 : Number(last) + 1;
    await client.query({
      ...INSERT_EVENT,
      values: [randomUUID(), stream, position, JSON.stringify({ userId }), JSON.stringify({ actor: 'baseline', source: 'bench' })],
    });
    await client.query('COMMIT');
    return position;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

const app = fastify({ logger: false });

app.get('/ping', async () => ({ ok: true }));

app.get<{ Params: { id: string } }>('/read/:id', async (request) => {
  const userId = Number(request.params.id);
  const { rows } = await pool.query({ ...READ, values: [userId] });
  return { userId, segments: rows };
});

app.post<{ Params: { id: string } }>('/write/:id', async (request) => {
  const userId = Number(request.params.id);
  // Not user-{id}: these events must not touch the service's users.
  const stream = `baseline-${userId}`;
  const client = await pool.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return { stream, position: await appendOne(client, stream, userId) };
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  } finally {
    client.release();
  }
});

const shutdown = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());

app.listen({ port, host: '127.0.0.1' }).catch((error: unknown) => {
  console.error('the baselines did not start:', error);
  process.exit(1);
});
