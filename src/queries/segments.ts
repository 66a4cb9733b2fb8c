// Segments and their members, from the read model.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';

const segmentRow = z.object({
  segment_id: z.string(),
  slug: z.string(),
  description: z.string().nullable(),
  auto_assign_percent: z.string().nullable(),
  created_at: z.date(),
  member_count: z.number(),
});

export interface SegmentView {
  segmentId: string;
  slug: string;
  description: string | null;
  autoAssignPercent: number | null;
  createdAt: Date;
  memberCount: number;
}

function toView(row: z.infer<typeof segmentRow>): SegmentView {
  return {
    segmentId: row.segment_id,
    slug: row.slug,
    description: row.description,
    autoAssignPercent: row.auto_assign_percent === null ? null : Number(row.auto_assign_percent),
    createdAt: row.created_at,
    memberCount: row.member_count,
  };
}

const memberCount = (now: Date) => sql.fragment`
  (SELECT count(*) FROM memberships m
   WHERE m.segment_id = s.segment_id AND (m.expires_at IS NULL OR m.expires_at > ${now.toISOString()}::timestamptz))`;

export interface SegmentPage {
  segments: SegmentView[];
  /** The last slug of this page when more may follow. */
  nextAfter: string | null;
}

/** Live segments in slug order (byte order, as the API sorts: COLLATE "C"), a page at a time. */
export async function listSegments(
  db: CommonQueryMethods,
  now: Date,
  options: { limit: number; after?: string },
): Promise<SegmentPage> {
  const after = options.after === undefined ? sql.fragment`` : sql.fragment`AND s.slug COLLATE "C" > ${options.after}`;
  const rows = await db.any(sql.type(segmentRow)`
    SELECT s.segment_id::text, s.slug, s.description, s.auto_assign_percent::text, s.created_at,
           ${memberCount(now)} AS member_count
    FROM segments s WHERE s.deleted_at IS NULL ${after}
    ORDER BY s.slug COLLATE "C" LIMIT ${options.limit + 1}`);
  const page = rows.slice(0, options.limit).map(toView);
  return { segments: page, nextAfter: rows.length > options.limit ? page[page.length - 1]!.slug : null };
}

export async function liveSegment(db: CommonQueryMethods, slug: string, now: Date): Promise<SegmentView | undefined> {
  const row = await db.maybeOne(sql.type(segmentRow)`
    SELECT s.segment_id::text, s.slug, s.description, s.auto_assign_percent::text, s.created_at,
           ${memberCount(now)} AS member_count
    FROM segments s WHERE s.deleted_at IS NULL AND s.slug = ${slug}`);
  return row ? toView(row) : undefined;
}

const memberRow = z.object({ user_id: z.number(), added_at: z.date(), expires_at: z.date().nullable() });

export interface MemberPage {
  members: Array<{ userId: number; addedAt: Date; expiresAt: Date | null }>;
  /** The last user id of this page when more may follow. */
  nextAfter: number | null;
}

export async function membersOf(
  db: CommonQueryMethods,
  segmentId: string,
  options: { limit: number; after: number; now: Date },
): Promise<MemberPage> {
  const rows = await db.any(sql.type(memberRow)`
    SELECT user_id, added_at, expires_at FROM memberships
    WHERE segment_id = ${segmentId} AND user_id > ${options.after}
      AND (expires_at IS NULL OR expires_at > ${options.now.toISOString()}::timestamptz)
    ORDER BY user_id LIMIT ${options.limit + 1}`);
  const page = rows.slice(0, options.limit);
  return {
    members: page.map((row) => ({ userId: row.user_id, addedAt: row.added_at, expiresAt: row.expires_at })),
    nextAfter: rows.length > options.limit ? page[page.length - 1]!.user_id : null,
  };
}
