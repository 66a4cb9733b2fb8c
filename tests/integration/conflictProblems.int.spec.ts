// PostgreSQL cancelling a statement for a conflict (a serialization failure, which is also how a
// hot standby cancels a read that conflicts with its recovery, and a deadlock) becomes a 503 that
// says nothing was changed, not a 500. The errors are real ones from PostgreSQL, through slonik's
// wrappers as a route meets them; the routes exist only in this test, since no route of the
// service can be made to meet such a conflict on demand.
import fastify, { type FastifyInstance } from 'fastify';
import { Client } from 'pg';
import { sql } from 'slonik';
import { registerProblemHandlers } from '../../src/api/problems';
import { mayRetry } from '../../client/src';
import { createTestDatabase, type TestDatabase } from '../support/database';

describe('a statement PostgreSQL cancels for a conflict', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let interloper: Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(sql.unsafe`CREATE TABLE conflict_rows (id int PRIMARY KEY, v int NOT NULL)`);
    await db.pool.query(sql.unsafe`INSERT INTO conflict_rows VALUES (1, 0), (2, 0)`);
    // Another session's write, outside the route's pool.
    interloper = new Client({ connectionString: db.url });
    await interloper.connect();
    app = fastify({ logger: false });
    registerProblemHandlers(app);
    // A repeatable-read transaction updates a row that another one changed after its snapshot.
    app.post('/serialization-failure', async () => {
      await db.pool.transaction(async (tx) => {
        await tx.query(sql.unsafe`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`);
        await tx.query(sql.unsafe`SELECT v FROM conflict_rows WHERE id = 1`);
        await interloper.query('UPDATE conflict_rows SET v = v + 1 WHERE id = 1');
        await tx.query(sql.unsafe`UPDATE conflict_rows SET v = v + 10 WHERE id = 1`);
      });
      return { changed: true };
    });
    // Two transactions lock the two rows in opposite orders; PostgreSQL cancels one after deadlock_timeout.
    app.post('/deadlock', async () => {
      const lockInOrder = (first: number, second: number) =>
        db.pool.transaction(async (tx) => {
          await tx.query(sql.unsafe`UPDATE conflict_rows SET v = v + 1 WHERE id = ${first}`);
          await new Promise((resolve) => setTimeout(resolve, 200));
          await tx.query(sql.unsafe`UPDATE conflict_rows SET v = v + 1 WHERE id = ${second}`);
        });
      const outcomes = await Promise.allSettled([lockInOrder(1, 2), lockInOrder(2, 1)]);
      const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed) throw failed.reason;
      return { changed: true };
    });
  });
  afterAll(async () => {
    await app.close();
    await interloper.end();
    await db.drop();
  });

  it.each(['/serialization-failure', '/deadlock'])('%s answers 503 /problems/cancelled, which a client may send again', async (url) => {
    const before = await db.pool.one(sql.unsafe`SELECT sum(v)::int AS total FROM conflict_rows`);
    const answer = await app.inject({ method: 'POST', url });
    expect(answer.statusCode).toBe(503);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(answer.json()).toMatchObject({ type: '/problems/cancelled', title: 'Cancelled by a conflict', status: 503 });
    expect(answer.body).not.toMatch(/could not serialize|deadlock detected|UPDATE/);
    expect(mayRetry('POST', 503, answer.json().type)).toBe(true);
    // The cancelled transaction changed nothing; only the other one (the interloper, or the winner) did.
    const after = await db.pool.one(sql.unsafe`SELECT sum(v)::int AS total FROM conflict_rows`);
    expect(after.total - before.total).toBe(url === '/deadlock' ? 2 : 1);
  });
});
