// What the events table says, read by a test on its own and without the service's code: every
// user's explicit memberships folded from the membership events, the read model's own rows beside
// them, and a wait until the projector has applied every event. For tests that crash or cut off
// parts of the service and then check that the read model equals what the log says.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';

/** "userId segmentId slug" for every explicit membership, sorted: comparable with toEqual. */
export type MembershipRows = string[];

const membershipEvent = z.object({
  type: z.enum(['MembershipAdded', 'MembershipRemoved', 'MembershipExpiryChanged', 'AutoMembershipOptedOut']),
  user_id: z.coerce.number(),
  segment_id: z.string(),
  slug: z.string(),
  stream_position: z.coerce.number(),
});

/**
 * The fold of every user stream, in each stream's order. Expiry moments are not looked at: the
 * memberships table, too, keeps an expired membership until its removal is appended. Each event
 * must be a change of the state before it (no second add of an active membership, no removal of
 * an absent one): a writer that decided on a stale state, a lost update, breaks that.
 */
export async function membershipsFromEvents(db: CommonQueryMethods): Promise<MembershipRows> {
  const events = await db.any(sql.type(membershipEvent)`
    SELECT type, (data->>'userId')::bigint AS user_id, data->>'segmentId' AS segment_id, data->>'slug' AS slug, stream_position
    FROM events WHERE stream_id LIKE 'user-%' ORDER BY stream_id, stream_position`);
  const memberships = new Map<string, string>();
  for (const event of events) {
    const key = `${event.user_id} ${event.segment_id}`;
    const change = `${event.type} of ${event.slug} at revision ${event.stream_position} of user ${event.user_id}`;
    if (event.type === 'MembershipAdded') {
      if (memberships.has(key)) throw new Error(`${change}: already a member`);
      memberships.set(key, `${key} ${event.slug}`);
    }
    if (event.type === 'MembershipRemoved' && !memberships.delete(key)) throw new Error(`${change}: not a member`);
  }
  return [...memberships.values()].sort();
}

export async function membershipsInReadModel(db: CommonQueryMethods): Promise<MembershipRows> {
  const rows = await db.anyFirst(sql.type(z.object({ row: z.string() }))`
    SELECT user_id || ' ' || segment_id || ' ' || slug AS row FROM memberships`);
  return [...rows].sort();
}

/** The global positions of every membership change in the log, and of every audit row: each change is one row. */
export async function auditAgainstEvents(db: CommonQueryMethods): Promise<{ events: number[]; audit: number[] }> {
  const position = z.object({ position: z.coerce.number() });
  const events = await db.anyFirst(sql.type(position)`
    SELECT global_position AS position FROM events
    WHERE type IN ('MembershipAdded', 'MembershipRemoved') ORDER BY global_position`);
  const audit = await db.anyFirst(sql.type(position)`SELECT global_position AS position FROM membership_audit ORDER BY global_position`);
  return { events: [...events], audit: [...audit] };
}

/** The position of the last event in the log as the API writes it ("commit/prepare"), for X-Min-Position. */
export async function lastPosition(db: CommonQueryMethods): Promise<string> {
  return db.oneFirst(sql.type(z.object({ position: z.string() }))`
    SELECT transaction_id::text || '/' || global_position AS position FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1`);
}

/**
 * Until the read model's checkpoint covers every event in the log and, unless `outboxEmpty` is
 * false, the deletion outbox is empty (the sweep has recorded every removal).
 */
export async function waitUntilProjected(db: CommonQueryMethods, timeoutMs = 20_000, { outboxEmpty = true } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending = await db.oneFirst(sql.type(z.object({ pending: z.boolean() }))`
      SELECT EXISTS (
        SELECT 1 FROM events e
        WHERE NOT EXISTS (SELECT 1 FROM projection_checkpoints c
                          WHERE c.projection = 'read_model'
                            AND (e.transaction_id::text::numeric, e.global_position) <= (c.commit_position, c.prepare_position))
      ) OR (${outboxEmpty} AND EXISTS (SELECT 1 FROM segment_deletion_removals)) AS pending`);
    if (!pending) return;
    if (Date.now() > deadline) throw new Error(`the read model did not catch up with the log within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Once the projector has applied the whole log: the read model's memberships and the audit equal
 * what the log says. Answers the log's memberships ("user segment slug" rows).
 */
export async function expectReadModelToEqualLog(db: CommonQueryMethods, timeoutMs?: number): Promise<string[]> {
  await waitUntilProjected(db, timeoutMs);
  const fromLog = await membershipsFromEvents(db);
  expect(await membershipsInReadModel(db)).toEqual(fromLog);
  const { events, audit } = await auditAgainstEvents(db);
  expect(audit).toEqual(events);
  return fromLog;
}
