// Every row of every table of a test database, as text: two dumps are equal only when no row was
// added, removed or changed in place (a description, a percentage, an expiry), not just counted.
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';

export type StateDump = Record<string, string[]>;

export async function dumpState(pool: DatabasePool): Promise<StateDump> {
  const tables = await pool.anyFirst(sql.type(z.object({ table_name: z.string() }))`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
    ORDER BY table_name`);
  const dump: StateDump = {};
  for (const table of tables) {
    dump[table] = [
      ...(await pool.anyFirst(sql.type(z.object({ row: z.string() }))`
        SELECT row_to_json(t)::text AS row FROM ${sql.identifier([table])} AS t ORDER BY 1`)),
    ];
  }
  return dump;
}

/** The tables whose rows differ, with the rows only one side has (a few of each). */
export function stateDifference(before: StateDump, after: StateDump): Record<string, { gone: string[]; added: string[] }> {
  const difference: Record<string, { gone: string[]; added: string[] }> = {};
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const was = new Set(before[table] ?? []);
    const is = new Set(after[table] ?? []);
    const gone = [...was].filter((row) => !is.has(row));
    const added = [...is].filter((row) => !was.has(row));
    if (gone.length > 0 || added.length > 0 || (before[table]?.length ?? 0) !== (after[table]?.length ?? 0)) {
      difference[table] = { gone: gone.slice(0, 5), added: added.slice(0, 5) };
    }
  }
  return difference;
}
