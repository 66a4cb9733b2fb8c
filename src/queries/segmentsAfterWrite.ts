// The user's segments right after a write, for its answer: the write's own resulting state (the
// read model may not have applied it yet) with what only the read model knows, read in one
// query and one snapshot: which of the user's segments were deleted (a deletion reaches members'
// streams a little later, through the sweep) and the version of the percentage data.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { OptOut } from '../domain/percentageMembership';
import type { UserState } from '../domain/userMemberships';
import { userSegmentsAt, type UserSegment } from '../domain/userSegments';
import { percentageVersion, type PercentageSegmentCache } from './percentageSegments';

export type SegmentsAfterWrite = (userId: number, state: UserState, decidedAt: Date) => Promise<UserSegment[]>;

const answerRow = z.object({ deleted: z.array(z.string()), version: z.string() });

export function createSegmentsAfterWrite(db: CommonQueryMethods, percentageSegments: PercentageSegmentCache): SegmentsAfterWrite {
  return async (userId, state, decidedAt) => {
    const segmentIds = [...state.memberships.keys()];
    const row = await db.one(sql.type(answerRow)`
      SELECT ARRAY(SELECT segment_id::text FROM segments
                   WHERE deleted_at IS NOT NULL AND segment_id = ANY(${sql.array(segmentIds, 'uuid')})) AS deleted,
             ${percentageVersion} AS version`);
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
