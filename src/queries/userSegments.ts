// A user's active segments, from the read model: one indexed query.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';

const membershipRow = z.object({ slug: z.string(), added_at: z.date(), expires_at: z.date().nullable() });

export interface UserSegment {
  slug: string;
  source: 'manual' | 'auto';
  addedAt: Date;
  expiresAt: Date | null;
}

export async function activeSegmentsOf(db: CommonQueryMethods, userId: number, now: Date): Promise<UserSegment[]> {
  const rows = await db.any(sql.type(membershipRow)`
    SELECT slug, added_at, expires_at FROM memberships
    WHERE user_id = ${userId} AND (expires_at IS NULL OR expires_at > ${now.toISOString()}::timestamptz)
    ORDER BY slug`);
  return rows.map((row) => ({ slug: row.slug, source: 'manual', addedAt: row.added_at, expiresAt: row.expires_at }));
}
