// The read model in PostgreSQL: segments, active explicit memberships, one audit row per
// membership change, the outbox of members still to be removed from deleted segments, and for
// percentage segments their percentage changes and users' opt-outs. Tables: infra/sql/schema.sql.
// What each event means is readModelRules.ts, shared with the in-memory view of the API processes.
//
// Membership events are applied set-wise: a run of them between two segment events is folded in
// memory to the final state per (user, segment) and written with a few statements, so a bulk
// change of 100,000 users costs a handful of round trips per batch, not one per event.
import { sql, type DatabaseTransactionConnection } from 'slonik';
import { z } from 'zod';
import { rolloutSeedOf } from '../../domain/percentage';
import type { Projection } from '../projection';
import { applyReadModelStep, readModelSteps, type AuditRow, type Final, type MembershipRun, type ReadModelTarget } from './readModelRules';

export const READ_MODEL_PROJECTION = 'read_model';

export interface ReadModelProjectionOptions {
  /**
   * Takes the audit rows instead of the batch's transaction: a rebuild streams them into its copy
   * of the table on a connection of its own (src/projections/rebuild/auditCopy.ts).
   */
  appendAudit?(rows: readonly AuditRow[]): void;
  /**
   * Leaves the memberships table (and the deletion outbox) alone: a rebuild's bulk replay writes
   * the audit and the expiry changes only, and derives the memberships from them once at its end
   * (src/projections/rebuild/deriveMemberships.ts), which costs a fraction of keeping them per batch.
   */
  membershipsDerivedLater?: boolean;
}

export function createReadModelProjection(options: ReadModelProjectionOptions = {}): Projection {
  return {
    name: READ_MODEL_PROJECTION,
    async applyBatch(tx, events) {
      const tables = tablesOf(tx, options);
      for (const step of readModelSteps(events)) await applyReadModelStep(tables, step);
    },
  };
}

function tablesOf(tx: DatabaseTransactionConnection, options: ReadModelProjectionOptions): ReadModelTarget<Promise<void>> {
  return {
    async segmentCreated(data, globalPosition) {
      const { segmentId, slug, description, autoAssignPercent, createdAt } = data;
      await tx.query(sql.unsafe`
        INSERT INTO segments (segment_id, slug, description, auto_assign_percent, rollout_seed, created_at)
        VALUES (${segmentId}, ${slug}, ${description}, ${autoAssignPercent}, ${rolloutSeedOf(data)}, ${createdAt})
        ON CONFLICT (segment_id) DO NOTHING`);
      if (autoAssignPercent !== null) {
        await tx.query(sql.unsafe`
          INSERT INTO percentage_changes (global_position, segment_id, percent, at)
          VALUES (${globalPosition}, ${segmentId}, ${autoAssignPercent}, ${createdAt})
          ON CONFLICT (global_position) DO NOTHING`);
      }
    },
    async segmentUpdated(data, globalPosition) {
      const { segmentId, description, autoAssignPercent, updatedAt } = data;
      // A change of the percentage (not of the description alone) enters the percentage timeline.
      await tx.query(sql.unsafe`
        INSERT INTO percentage_changes (global_position, segment_id, percent, at)
        SELECT ${globalPosition}, segment_id, ${autoAssignPercent}, ${updatedAt}
        FROM segments
        WHERE segment_id = ${segmentId} AND auto_assign_percent IS DISTINCT FROM ${autoAssignPercent}::numeric
        ON CONFLICT (global_position) DO NOTHING`);
      await tx.query(sql.unsafe`
        UPDATE segments SET description = ${description}, auto_assign_percent = ${autoAssignPercent}
        WHERE segment_id = ${segmentId}`);
    },
    async segmentDeleted(data, globalPosition) {
      const { segmentId, deletedAt } = data;
      await tx.query(sql.unsafe`UPDATE segments SET deleted_at = ${deletedAt} WHERE segment_id = ${segmentId}`);
      // Deleting a segment that ever had a percentage ends its automatic membership for everyone.
      await tx.query(sql.unsafe`
        INSERT INTO percentage_changes (global_position, segment_id, percent, deleted, at)
        SELECT ${globalPosition}, ${segmentId}, NULL, true, ${deletedAt}
        WHERE EXISTS (SELECT 1 FROM percentage_changes WHERE segment_id = ${segmentId})
        ON CONFLICT (global_position) DO NOTHING`);
      if (options.membershipsDerivedLater) return;
      // Every member leaves now for reads; their streams get the removal from the outbox sweep.
      await tx.query(sql.unsafe`
        WITH gone AS (DELETE FROM memberships WHERE segment_id = ${segmentId} RETURNING user_id, segment_id, slug)
        INSERT INTO segment_deletion_removals (user_id, segment_id, slug, deleted_at)
        SELECT user_id, segment_id, slug, ${deletedAt} FROM gone
        ON CONFLICT DO NOTHING`);
    },
    memberships: (run) => flush(tx, run, options),
  };
}

async function flush(tx: DatabaseTransactionConnection, run: MembershipRun, options: ReadModelProjectionOptions): Promise<void> {
  if (run.optOuts.length > 0) {
    await tx.query(sql.unsafe`
      INSERT INTO auto_membership_opt_outs (user_id, segment_id, slug, reason, opted_out_at)
      SELECT * FROM ${sql.unnest(
        run.optOuts.map((optOut) => [optOut.userId, optOut.segmentId, optOut.slug, optOut.reason, optOut.effectiveAt]),
        ['int8', 'uuid', 'text', 'text', 'timestamptz'],
      )}
      ON CONFLICT (user_id, segment_id) DO NOTHING`);
  }
  if (run.expiryUpdates.size > 0 && !options.membershipsDerivedLater) {
    await tx.query(sql.unsafe`
      UPDATE memberships m SET expires_at = u.expires_at
      FROM ${sql.unnest(
        [...run.expiryUpdates.values()].map((update) => [update.userId, update.segmentId, update.expiresAt]),
        ['int8', 'uuid', 'timestamptz'],
      )} AS u(user_id, segment_id, expires_at)
      WHERE m.user_id = u.user_id AND m.segment_id = u.segment_id`);
  }
  if (run.expiryChanges.length > 0) {
    await tx.query(sql.unsafe`
      INSERT INTO membership_expiry_changes (global_position, user_id, segment_id, changed_at, expires_at)
      SELECT * FROM ${sql.unnest(
        run.expiryChanges.map((row) => [row.globalPosition, row.userId, row.segmentId, row.changedAt, row.expiresAt]),
        ['int8', 'int8', 'uuid', 'timestamptz', 'timestamptz'],
      )}
      ON CONFLICT (global_position) DO NOTHING`);
  }
  if (run.audit.length === 0) return;

  if (options.appendAudit) options.appendAudit(run.audit);
  else {
    await tx.query(sql.unsafe`
      INSERT INTO membership_audit (global_position, user_id, segment_id, slug, operation, reason, at, expires_at)
      SELECT * FROM ${sql.unnest(
        run.audit.map((row) => [row.globalPosition, row.userId, row.segmentId, row.slug, row.operation, row.reason, row.at, row.expiresAt]),
        ['int8', 'int8', 'uuid', 'text', 'text', 'text', 'timestamptz', 'timestamptz'],
      )}
      ON CONFLICT (global_position) DO NOTHING`);
  }

  if (options.membershipsDerivedLater) return;
  const finals = [...run.finals.values()];
  const removed = finals.filter((final) => !final.present);
  if (removed.length > 0) {
    const pairs = sql.unnest(removed.map((final) => [final.userId, final.segmentId]), ['int8', 'uuid']);
    await tx.query(sql.unsafe`
      DELETE FROM memberships m USING ${pairs} AS r(user_id, segment_id)
      WHERE m.user_id = r.user_id AND m.segment_id = r.segment_id`);
    // A removal the deletion sweep appended leaves the outbox as it enters the audit: history,
    // which shows the outbox's pending removals, never misses it in between.
    await tx.query(sql.unsafe`
      DELETE FROM segment_deletion_removals o USING ${pairs} AS r(user_id, segment_id)
      WHERE o.user_id = r.user_id AND o.segment_id = r.segment_id`);
  }

  const present = finals.filter((final): final is Extract<Final, { present: true }> => final.present);
  if (present.length === 0) return;
  // An add that lost the race against its segment's deletion must not become visible; the
  // outbox makes the sweep record its removal in the user's stream.
  const deleted = new Set(
    await tx.anyFirst(sql.type(z.object({ segment_id: z.string() }))`
      SELECT segment_id::text FROM segments
      WHERE deleted_at IS NOT NULL
        AND segment_id = ANY(${sql.array([...new Set(present.map((final) => final.segmentId))], 'uuid')})`),
  );
  const live = present.filter((final) => !deleted.has(final.segmentId));
  const late = present.filter((final) => deleted.has(final.segmentId));
  if (live.length > 0) {
    await tx.query(sql.unsafe`
      INSERT INTO memberships (user_id, segment_id, slug, added_at, expires_at)
      SELECT * FROM ${sql.unnest(
        live.map((final) => [final.userId, final.segmentId, final.slug, final.addedAt, final.expiresAt]),
        ['int8', 'uuid', 'text', 'timestamptz', 'timestamptz'],
      )}
      ON CONFLICT (user_id, segment_id) DO UPDATE SET
        slug = excluded.slug, added_at = excluded.added_at, expires_at = excluded.expires_at`);
  }
  if (late.length > 0) {
    await tx.query(sql.unsafe`
      INSERT INTO segment_deletion_removals (user_id, segment_id, slug, deleted_at)
      SELECT r.user_id, r.segment_id, r.slug, s.deleted_at
      FROM ${sql.unnest(late.map((final) => [final.userId, final.segmentId, final.slug]), ['int8', 'uuid', 'text'])}
        AS r(user_id, segment_id, slug)
      JOIN segments s USING (segment_id)
      ON CONFLICT DO NOTHING`);
  }
}
