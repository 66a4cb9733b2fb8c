// Memberships past their expiry whose removal is not recorded yet: the expiry timer's backlog (GET /metrics).
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';

export async function overdueExpiries(db: CommonQueryMethods, now: Date): Promise<number> {
  return db.oneFirst(sql.type(z.object({ overdue: z.number() }))`
    SELECT count(*)::int8 AS overdue FROM memberships WHERE expires_at <= ${now.toISOString()}::timestamptz`);
}
