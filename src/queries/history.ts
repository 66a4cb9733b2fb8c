// A user's membership history and their segments at a past moment, from the read model's audit
// table (membership_audit). Both are indexed by user: see infra/sql/schema.sql.
//
// Explicit memberships are one source of entries, membership by percentage
// (src/queries/percentageTimelines.ts) the other; src/domain/membershipHistory.ts combines them.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { combineHistories, type HistoryEntry } from '../domain/membershipHistory';
import { userSegmentsAt, type ExplicitMembership, type UserSegment } from '../domain/userSegments';
import { loadPercentageFacts, percentageHistoryOf } from './percentageTimelines';

export type { HistoryEntry, HistoryReason } from '../domain/membershipHistory';
export interface HistoryRange {
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

const entryRow = z.object({
  slug: z.string(),
  operation: z.enum(['added', 'removed']),
  reason: z.enum(['manual', 'expired', 'segment_deleted', 'auto', 'bulk']),
  at: z.date(),
});

/** The statement of manualHistoryOf, exported so a test can EXPLAIN the very SQL the route runs. */
export function manualHistoryQuery(userId: number, range: HistoryRange = {}) {
  const from = range.from ? sql.fragment`AND at >= ${range.from.toISOString()}::timestamptz` : sql.fragment``;
  const to = range.to ? sql.fragment`AND at < ${range.to.toISOString()}::timestamptz` : sql.fragment``;
  return sql.type(entryRow)`
    SELECT slug, operation, reason, at FROM (
      SELECT slug, operation, reason, at, global_position FROM membership_audit WHERE user_id = ${userId}
      UNION ALL
      SELECT slug, operation, reason, at, global_position FROM (${pendingDeletionRemovals(userId)}) pending
    ) entries
    WHERE TRUE ${from} ${to}
    ORDER BY at, global_position`;
}

/** Changes of the user's explicit memberships in the range, in the order they took effect. */
export async function manualHistoryOf(db: CommonQueryMethods, userId: number, range: HistoryRange = {}): Promise<HistoryEntry[]> {
  return [...(await db.any(manualHistoryQuery(userId, range)))];
}

/**
 * The removals a segment deletion has yet to record for the user. The read model drops a deleted
 * segment's memberships at once, and the deletion sweep appends each member's removal soon after
 * (src/processes/segmentDeletionSweep.ts); until it has, history takes them from its outbox,
 * with the moment and reason the sweep will record: the expiry if the membership (as last renewed)
 * expired before the deletion, else the deletion, but never before the add.
 */
function pendingDeletionRemovals(userId: number) {
  return sql.fragment`
    SELECT d.slug, 'removed' AS operation,
           CASE WHEN expiry.expires_at IS NOT NULL AND expiry.expires_at <= d.deleted_at THEN 'expired' ELSE 'segment_deleted' END AS reason,
           CASE WHEN expiry.expires_at IS NOT NULL AND expiry.expires_at <= d.deleted_at THEN expiry.expires_at
                ELSE greatest(d.deleted_at, last_change.at) END AS at,
           last_change.global_position::numeric + 0.5 AS global_position -- right after the add
    FROM segment_deletion_removals d
    JOIN LATERAL (
      SELECT a.operation, a.at, a.expires_at, a.global_position FROM membership_audit a
      WHERE a.user_id = d.user_id AND a.segment_id = d.segment_id
      ORDER BY a.at DESC, a.global_position DESC LIMIT 1
    ) last_change ON last_change.operation = 'added'
    LEFT JOIN LATERAL (
      SELECT coalesce(
        (SELECT c.expires_at FROM membership_expiry_changes c
         WHERE c.user_id = d.user_id AND c.segment_id = d.segment_id AND c.global_position > last_change.global_position
         ORDER BY c.global_position DESC LIMIT 1),
        last_change.expires_at) AS expires_at
    ) expiry ON TRUE
    WHERE d.user_id = ${userId}`;
}

const stateRow = z.object({
  segment_id: z.string(),
  slug: z.string(),
  operation: z.enum(['added', 'removed']),
  at: z.date(),
  expires_at: z.date().nullable(),
});

/** The statement of explicitMembershipsAt, exported so a test can EXPLAIN the very SQL the route runs. */
export function explicitMembershipsAtQuery(userId: number, at: Date) {
  const moment = sql.fragment`${at.toISOString()}::timestamptz`;
  return sql.type(stateRow)`
    SELECT last_change.segment_id::text, last_change.slug, last_change.operation, last_change.at,
           CASE WHEN renewal.global_position IS NULL THEN last_change.expires_at ELSE renewal.expires_at END AS expires_at
    FROM (
      SELECT DISTINCT ON (segment_id) segment_id, slug, operation, at, expires_at, global_position
      FROM membership_audit
      WHERE user_id = ${userId} AND at <= ${moment}
      ORDER BY segment_id, at DESC, global_position DESC
    ) last_change
    LEFT JOIN LATERAL (
      SELECT c.global_position, c.expires_at FROM membership_expiry_changes c
      WHERE c.user_id = ${userId} AND c.segment_id = last_change.segment_id
        AND c.global_position > last_change.global_position AND c.changed_at <= ${moment}
      ORDER BY c.changed_at DESC, c.global_position DESC
      LIMIT 1
    ) renewal ON TRUE
    WHERE last_change.operation = 'added'
      -- Deleted by then, and its removal not recorded yet (see pendingDeletionRemovals).
      AND NOT EXISTS (SELECT 1 FROM segment_deletion_removals d
                      WHERE d.user_id = ${userId} AND d.segment_id = last_change.segment_id AND d.deleted_at <= ${moment})
    ORDER BY last_change.slug`;
}

/**
 * The user's explicit memberships as they were at `at`: per segment the last change at or before
 * `at`, kept when it is an add whose expiry in force at `at` (the add's, or that of the last
 * renewal made by then) is later than `at` (userSegmentsAt checks that).
 */
async function explicitMembershipsAt(db: CommonQueryMethods, userId: number, at: Date): Promise<ExplicitMembership[]> {
  const rows = await db.any(explicitMembershipsAtQuery(userId, at));
  return rows.map((row) => ({ segmentId: row.segment_id, slug: row.slug, addedAt: row.at, expiresAt: row.expires_at }));
}

/** The user's whole history in the range: explicit memberships and automatic (percentage) ones. */
export async function historyOf(db: CommonQueryMethods, userId: number, range: HistoryRange = {}): Promise<HistoryEntry[]> {
  // Whether an entry in the range changes anything depends on the state before it, so both
  // sources are read from the beginning (up to `to`: later entries cannot change earlier ones)
  // and `from` is applied to the combined history.
  const upTo = { to: range.to };
  const [manual, auto] = await Promise.all([manualHistoryOf(db, userId, upTo), percentageHistoryOf(db, userId, upTo)]);
  return combineHistories(manual, auto).filter(
    (entry) =>
      (range.from === undefined || entry.at.getTime() >= range.from.getTime()) &&
      (range.to === undefined || entry.at.getTime() < range.to.getTime()),
  );
}

/** The user's segments at `at`, as GET /users/{id}/segments answered then. */
export async function segmentsAt(db: CommonQueryMethods, userId: number, at: Date): Promise<UserSegment[]> {
  const [memberships, percentage] = await Promise.all([explicitMembershipsAt(db, userId, at), loadPercentageFacts(db, userId)]);
  return userSegmentsAt({ userId, memberships, ...percentage }, at);
}
