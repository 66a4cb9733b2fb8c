// The user's segments right after a write, for its answer: the write's own resulting state (the
// read model may not have applied it yet) with what only the read model knows, read in one
// query and one snapshot: which of the user's segments were deleted (a deletion reaches members'
// streams a little later, through the sweep) and the version of the percentage data.
import type { OptOut } from '../domain/percentageMembership';
import type { UserState } from '../domain/userMemberships';
import { userSegmentsAt, type UserSegment } from '../domain/userSegments';
import { PERCENTAGE_VERSION_SQL, type PercentageSegmentCache } from './percentageSegments';
import type { ReadPool } from './userSegments';

export type SegmentsAfterWrite = (userId: number, state: UserState, decidedAt: Date) => Promise<UserSegment[]>;

/** Run on every write: a named statement on the read pool, planned once per connection. */
const ANSWER = {
  name: 'segments_after_write_v1',
  text: `
    SELECT ARRAY(SELECT segment_id::text FROM segments WHERE deleted_at IS NOT NULL AND segment_id = ANY($1::uuid[])) AS deleted,
           ${PERCENTAGE_VERSION_SQL} AS version`,
};

export function createSegmentsAfterWrite(readPool: ReadPool, percentageSegments: PercentageSegmentCache): SegmentsAfterWrite {
  return async (userId, state, decidedAt) => {
    const segmentIds = [...state.memberships.keys()];
    const { rows } = await readPool.query<{ deleted: string[]; version: string }>({ ...ANSWER, values: [segmentIds] });
    const row = rows[0]!;
    const deleted = new Set(row.deleted);
    const memberships = [...state.memberships.values()]
      .filter((membership) => !deleted.has(membership.segmentId))
      .map((membership) => ({
        segmentId: membership.segmentId,
        slug: membership.slug,
        addedAt: new Date(membership.addedAt),
        expiresAt: membership.expiresAt === null ? null : new Date(membership.expiresAt),
      }));
    const optOuts: OptOut[] = [...state.optedOut].map(([segmentId, optOut]) => ({ segmentId, at: new Date(optOut.at), reason: optOut.reason }));
    const timelines = (await percentageSegments.at(row.version)).filter((timeline) => !deleted.has(timeline.segmentId));
    return userSegmentsAt({ userId, memberships, timelines, optOuts }, decidedAt);
  };
}
