// The live projector stops between two batches while a rebuild swaps its tables in, and while a
// verify takes its snapshot. Each batch of the projector takes this lock shared for its transaction;
// the swap and the verify take it exclusively. A batch in flight commits first, the next one waits
// until they are done: a pause, never a failure. The advisory lock the projector holds for its
// whole life (runner.ts) says which instance is active; this one says when it may write.
import { sql, type CommonQueryMethods } from 'slonik';

const pauseKey = (projection: string) => sql.fragment`hashtextextended(${`projection-pause:${projection}`}, 0)`;

/** In a projector batch's transaction, before anything else: waits while the projection is paused. */
export async function waitWhilePaused(tx: CommonQueryMethods, projection: string): Promise<void> {
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock_shared(${pauseKey(projection)})`);
}

/** Pauses the projector until the calling transaction ends (a batch in flight commits first). */
export async function pauseProjectorForTransaction(tx: CommonQueryMethods, projection: string): Promise<void> {
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${pauseKey(projection)})`);
}

/** Pauses the projector until `resumeProjector` on the same connection, across transactions. */
export async function pauseProjector(connection: CommonQueryMethods, projection: string): Promise<void> {
  await connection.query(sql.unsafe`SELECT pg_advisory_lock(${pauseKey(projection)})`);
}

export async function resumeProjector(connection: CommonQueryMethods, projection: string): Promise<void> {
  await connection.query(sql.unsafe`SELECT pg_advisory_unlock(${pauseKey(projection)})`);
}
