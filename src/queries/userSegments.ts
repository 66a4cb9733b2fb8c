// A user's segments now: from the API process's in-memory view (READ_VIEW=memory) once it is
// ready, with no database round trip; otherwise (READ_VIEW=database, or while the view loads) the
// explicit memberships, opt-outs and the version of the percentage data
// from the read model in one named prepared statement, the live percentage timelines from the
// cache, and the domain's one rule over them.
//
// The hottest statement of the service goes through node-postgres directly (the read pool):
// named, so each connection plans it once and reuses the plan, and without slonik's per-query
// work. Sent unnamed, as slonik sends every statement, it was planned on every read.
import type { Pool } from 'pg';
import type { OptOut } from '../domain/percentageMembership';
import type { ReadView } from '../projections/memoryView/readView';
import type { WaitForReadModel } from '../projections/readModelPosition';
import { userSegmentsAt, type ExplicitMembership, type UserSegment } from '../domain/userSegments';
import { PERCENTAGE_VERSION_SQL, type PercentageSegmentCache } from './percentageSegments';

export type { UserSegment } from '../domain/userSegments';

/** What the read needs of a pool: node-postgres's query with a named statement. */
export type ReadPool = Pick<Pool, 'query' | 'connect'>;

const KIND_MEMBERSHIP = 0;
const KIND_OPT_OUT = 1;

const USER_SEGMENT_ROWS = {
  name: 'user_segment_rows_v1',
  text: `
    SELECT ${KIND_MEMBERSHIP} AS kind, m.segment_id::text AS segment_id, m.slug, m.added_at AS at, m.expires_at, NULL::text AS reason
    FROM memberships m
    WHERE m.user_id = $1 AND (m.expires_at IS NULL OR m.expires_at > $2::timestamptz)
    UNION ALL
    SELECT ${KIND_OPT_OUT}, o.segment_id::text, o.slug, o.opted_out_at, NULL, o.reason
    FROM auto_membership_opt_outs o
    WHERE o.user_id = $1
    UNION ALL
    SELECT 2, ${PERCENTAGE_VERSION_SQL}, NULL, NULL, NULL, NULL`,
  rowMode: 'array' as const,
};

type Row = [kind: number, segmentIdOrVersion: string, slug: string, at: Date, expiresAt: Date | null, reason: string | null];

export async function activeSegmentsOf(
  readPool: ReadPool,
  userId: number,
  now: Date,
  percentageSegments?: PercentageSegmentCache,
): Promise<UserSegment[]> {
  const { rows } = await readPool.query<Row>({ ...USER_SEGMENT_ROWS, values: [userId, now.toISOString()] });
  const memberships: ExplicitMembership[] = [];
  const optOuts: OptOut[] = [];
  let version = '0';
  for (const [kind, segmentIdOrVersion, slug, at, expiresAt, reason] of rows) {
    if (kind === KIND_MEMBERSHIP) memberships.push({ segmentId: segmentIdOrVersion, slug, addedAt: at, expiresAt });
    else if (kind === KIND_OPT_OUT) optOuts.push({ segmentId: segmentIdOrVersion, at, reason: reason as OptOut['reason'] });
    else version = segmentIdOrVersion;
  }
  const timelines = percentageSegments ? await percentageSegments.at(version) : [];
  return userSegmentsAt({ userId, memberships, timelines, optOuts }, now);
}

/** A user's segments now from the in-memory view: the same rule over the same facts, held in memory. */
export function activeSegmentsInView(view: NonNullable<ReadView['ready']>, userId: number, now: Date): UserSegment[] {
  return userSegmentsAt(view.factsOf(userId, now), now);
}

export interface UserSegmentsNow {
  activeSegmentsOf(userId: number, now: Date): Promise<UserSegment[]>;
  /** X-Min-Position of that read: waits on what will answer it, the view or the tables. */
  waitFor: WaitForReadModel;
}

/** GET /users/{id}/segments without `?at=`: the view when there is one and it is ready, else the tables. */
export function createUserSegmentsNow(deps: {
  readPool: ReadPool;
  percentageSegments: PercentageSegmentCache;
  readView: ReadView | undefined;
  waitForTables: WaitForReadModel;
}): UserSegmentsNow {
  const { readPool, percentageSegments, readView, waitForTables } = deps;
  return {
    activeSegmentsOf(userId, now) {
      const view = readView?.ready;
      return view ? Promise.resolve(activeSegmentsInView(view, userId, now)) : activeSegmentsOf(readPool, userId, now, percentageSegments);
    },
    async waitFor(position, timeoutMs) {
      if (!readView) return waitForTables(position, timeoutMs);
      if (readView.ready) return readView.waitFor(position, timeoutMs);
      // Still loading: whichever reaches the position first answers; a view that became ready
      // meanwhile answers the read, so then it must have reached the position too.
      const deadline = Date.now() + timeoutMs;
      const reached = await Promise.race([readView.waitFor(position, timeoutMs), waitForTables(position, timeoutMs)]);
      if (!reached || !readView.ready) return reached;
      return readView.waitFor(position, Math.max(0, deadline - Date.now()));
    },
  };
}
