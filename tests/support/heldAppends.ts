// Holds chosen appends half-way, to make a race happen in a chosen order: a trigger the test adds
// to `events` makes the insert of each matching row wait for an advisory lock the test holds.
// The append's statement has then inserted the rows before that one and taken its transaction id
// (the column default), inside its still-open transaction: readers see none of it, and a later
// append gets a later position in the global order. release() lets the held appends commit.
import { Client } from 'pg';
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';

export interface HeldAppends {
  /** Resolves once `count` appends are waiting at the held row. */
  waitUntilHolding(count: number, timeoutMs?: number): Promise<void>;
  /** Lets the held appends commit and removes the trigger. */
  release(): Promise<void>;
}

/** Holds the insert of every event of `type` in the named streams until release(). One hold at a time per database. */
export async function holdAppends(
  pool: DatabasePool,
  databaseUrl: string,
  rows: { type: string; streams: readonly string[] },
): Promise<HeldAppends> {
  const key = 1 + Math.floor(Math.random() * 2_000_000_000);
  const holder = new Client({ connectionString: databaseUrl });
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock($1::bigint)', [key]);
  await holder.query(`
    CREATE OR REPLACE FUNCTION test_hold_append() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock_shared(${key});
      RETURN NEW;
    END $$`);
  await holder.query(`
    CREATE OR REPLACE TRIGGER test_hold_appends BEFORE INSERT ON events FOR EACH ROW
    WHEN (NEW.type = ${holder.escapeLiteral(rows.type)} AND NEW.stream_id = ANY(${holder.escapeLiteral(`{${rows.streams.join(',')}}`)}::text[]))
    EXECUTE FUNCTION test_hold_append()`);

  const waiting = () =>
    pool.oneFirst(sql.type(z.object({ waiting: z.number() }))`
      SELECT count(*)::int AS waiting FROM pg_locks
      WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid = ${key} AND objsubid = 1`);

  let released = false;
  return {
    async waitUntilHolding(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const now = await waiting();
        if (now >= count) return;
        if (Date.now() > deadline) throw new Error(`${now} of ${count} appends reached the held row within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async release() {
      if (released) return;
      released = true;
      // The lock goes first: dropping the trigger waits for the held inserts' transactions.
      await holder.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
      await holder.query('DROP TRIGGER IF EXISTS test_hold_appends ON events');
      await holder.end();
    },
  };
}
