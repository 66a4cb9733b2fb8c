// The read model's tables as a rebuild and a verify see them (src/projections/rebuild/): the ones
// the projection alone writes, which a rebuild fills afresh and swaps in, and the outbox it shares
// with the deletion sweep, which is never swapped because the sweep's progress lives in it.

export interface ReadModelTable {
  name: string;
  /** The columns that tell one row from another, to name a difference. */
  key: readonly string[];
}

/** Written by the projection alone. Segments first: memberships refer to them. */
export const REBUILT_TABLES: readonly ReadModelTable[] = [
  { name: 'segments', key: ['segment_id'] },
  { name: 'memberships', key: ['user_id', 'segment_id'] },
  { name: 'membership_audit', key: ['global_position'] },
  { name: 'membership_expiry_changes', key: ['global_position'] },
  { name: 'percentage_changes', key: ['global_position'] },
  { name: 'auto_membership_opt_outs', key: ['user_id', 'segment_id'] },
];

/** Filled by the projection, emptied by the deletion sweep (src/processes/segmentDeletionSweep.ts). */
export const DELETION_OUTBOX = 'segment_deletion_removals';

/**
 * Indexes the projection's own statements need, by the event whose statement does: a copy being
 * loaded gets one before the first such event, and every other index after the load. A segment's
 * deletion removes its members by `segment_id`.
 */
export const INDEXES_NEEDED_BY_EVENTS: Readonly<Record<string, readonly string[]>> = { SegmentDeleted: ['memberships_by_segment'] };
