// Holds a session advisory lock the way the service takes it (hashtextextended of the name), on a
// connection of its own, until released: a test stands in for another process holding it.
import { sql, type DatabasePool } from 'slonik';

export async function holdAdvisoryLock(pool: DatabasePool, name: string): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const taken = new Promise<void>((resolve) => (locked = resolve));
  const held = pool.connect(async (connection) => {
    await connection.query(sql.unsafe`SELECT pg_advisory_lock(hashtextextended(${name}, 0))`);
    locked();
    await released;
    await connection.query(sql.unsafe`SELECT pg_advisory_unlock(hashtextextended(${name}, 0))`);
  });
  await Promise.race([taken, held]);
  return {
    async release() {
      release();
      await held;
    },
  };
}
