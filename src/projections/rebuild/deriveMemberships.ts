// The memberships table of a rebuild, derived at the end of its bulk replay from what the replay
// wrote: the audit (one row per add and removal) and the expiry changes. It equals what applying
// the events one by one leaves (readModelRules.ts), because every event of a (user, segment) is in
// that user's stream, so their order by global position is their order of effect:
// - a membership is there when the last audit row of its (user, segment) is an add and its segment
//   is not deleted (a deletion removes every member, and an add to a deleted segment never shows);
// - it was added at that add, and ends at the last expiry change after it, or as the add said.
import { sql, type DatabaseTransactionConnection } from 'slonik';
import { useScratchTables, type ScratchTables } from './scratchTables';

export async function deriveMemberships(tx: DatabaseTransactionConnection, plan: ScratchTables): Promise<void> {
  await useScratchTables(tx, plan);
  await tx.query(sql.unsafe`SET LOCAL work_mem = '256MB'`);
  await tx.query(sql.unsafe`
    INSERT INTO memberships (user_id, segment_id, slug, added_at, expires_at)
    SELECT last.user_id, last.segment_id, last.slug, last.at,
           CASE WHEN change.global_position > last.global_position THEN change.expires_at ELSE last.expires_at END
    FROM (
      SELECT DISTINCT ON (user_id, segment_id) global_position, user_id, segment_id, slug, operation, at, expires_at
      FROM membership_audit
      ORDER BY user_id, segment_id, global_position DESC
    ) AS last
    JOIN segments s ON s.segment_id = last.segment_id AND s.deleted_at IS NULL
    LEFT JOIN (
      SELECT DISTINCT ON (user_id, segment_id) global_position, user_id, segment_id, expires_at
      FROM membership_expiry_changes
      ORDER BY user_id, segment_id, global_position DESC
    ) AS change ON change.user_id = last.user_id AND change.segment_id = last.segment_id
    WHERE last.operation = 'added'`);
}
