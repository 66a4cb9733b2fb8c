// The user's segments right after a write, for its answer: the write's own resulting state (the
// read model may not have applied it yet) with what only a read model knows: which of the user's
// segments were deleted (a deletion reaches members' streams a little later, through the sweep)
// and the live percentage segments.
//
// The change is stored before this runs, so nothing here may turn the answer into an error: with
// the in-memory view ready those facts come from memory; otherwise from one query on the read
// pool, tried twice, and when both fail (the database went away after the append) from what the
// process last knew: no deletions, the percentage segments of its last read. The answer is then
// at worst a little stale, never a 503 for a change that was made.
import type { OptOut, PercentageTimeline } from '../domain/percentageMembership';
import type { UserState } from '../domain/userMemberships';
import { userSegmentsAt, type UserSegment } from '../domain/userSegments';
import type { ReadView } from '../projections/memoryView/readView';
import { PERCENTAGE_VERSION_SQL, type PercentageSegmentCache } from './percentageSegments';
import type { ReadPool } from './userSegments';

export type SegmentsAfterWrite = (userId: number, state: UserState, decidedAt: Date) => Promise<UserSegment[]>;

interface SegmentFacts {
  deleted: ReadonlySet<string>;
  timelines: readonly PercentageTimeline[];
}

/** Run on every write in `database` mode: a named statement on the read pool, planned once per connection. */
const ANSWER = {
  name: 'segments_after_write_v1',
  text: `
    SELECT ARRAY(SELECT segment_id::text FROM segments WHERE deleted_at IS NOT NULL AND segment_id = ANY($1::uuid[])) AS deleted,
           ${PERCENTAGE_VERSION_SQL} AS version`,
};

const ATTEMPTS = 2;

export function createSegmentsAfterWrite(deps: {
  readPool: ReadPool;
  percentageSegments: PercentageSegmentCache;
  readView: ReadView | undefined;
  logger: { warn(object: object, message: string): void };
}): SegmentsAfterWrite {
  const { readPool, percentageSegments, readView, logger } = deps;

  const fromTables = async (segmentIds: string[]): Promise<SegmentFacts> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await readPool.query<{ deleted: string[]; version: string }>({ ...ANSWER, values: [segmentIds] });
        const row = rows[0]!;
        return { deleted: new Set(row.deleted), timelines: await percentageSegments.at(row.version) };
      } catch (error) {
        if (attempt < ATTEMPTS) continue;
        logger.warn({ err: error }, 'the answer of a stored write is composed from what this process last read');
        return { deleted: new Set(), timelines: percentageSegments.lastKnown() };
      }
    }
  };

  return async (userId, state, decidedAt) => {
    const segmentIds = [...state.memberships.keys()];
    const view = readView?.ready;
    const { deleted, timelines } = view ? view.segmentFacts(segmentIds) : await fromTables(segmentIds);
    const memberships = [...state.memberships.values()]
      .filter((membership) => !deleted.has(membership.segmentId))
      .map((membership) => ({
        segmentId: membership.segmentId,
        slug: membership.slug,
        addedAt: new Date(membership.addedAt),
        expiresAt: membership.expiresAt === null ? null : new Date(membership.expiresAt),
      }));
    const optOuts: OptOut[] = [...state.optedOut].map(([segmentId, optOut]) => ({ segmentId, at: new Date(optOut.at), reason: optOut.reason }));
    const live = timelines.filter((timeline) => !deleted.has(timeline.segmentId));
    return userSegmentsAt({ userId, memberships, timelines: live, optOuts }, decidedAt);
  };
}
