// Counts every append statement PostgreSQL runs against `events`, including those that lose a race
// (their statement inserts nothing, or fails on the stream-position constraint and rolls back):
// a statement trigger bumps a sequence, and no rollback undoes a sequence. Appends tried minus
// appends stored is the number of appends that met a conflict, a signal that writers really raced.
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';

export async function countAppendAttempts(pool: DatabasePool): Promise<void> {
  await pool.query(sql.unsafe`CREATE SEQUENCE IF NOT EXISTS test_append_attempts`);
  await pool.query(sql.unsafe`
    CREATE OR REPLACE FUNCTION test_count_append_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM nextval('test_append_attempts');
      RETURN NULL;
    END $$`);
  await pool.query(sql.unsafe`
    CREATE OR REPLACE TRIGGER test_count_append_attempts BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION test_count_append_attempt()`);
}

/** Append statements tried, and those stored (each single-stream append is one transaction). */
export async function appendAttempts(pool: DatabasePool): Promise<{ tried: number; stored: number }> {
  return pool.one(sql.type(z.object({ tried: z.coerce.number(), stored: z.coerce.number() }))`
    SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM test_append_attempts) AS tried,
           (SELECT count(DISTINCT transaction_id) FROM events) AS stored`);
}
