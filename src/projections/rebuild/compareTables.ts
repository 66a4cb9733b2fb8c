// Row-by-row comparison of a live table with its rebuilt copy, in PostgreSQL: only the rows that
// differ come back, up to a limit per table, with the number of all of them.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { ReadModelTable } from '../readModel/readModelTables';

export interface Difference {
  table: string;
  /** The key columns of the row that differs. */
  key: Record<string, unknown>;
  /** The row in the live read model; null when it has none. */
  live: Record<string, unknown> | null;
  /** The row a replay of the events gives; null when there is none. */
  rebuilt: Record<string, unknown> | null;
  /** Where both have the row: the columns whose values differ. */
  columns: string[];
}

export interface TableComparison {
  table: string;
  liveRows: number;
  rebuiltRows: number;
  /** All differing rows, of which `differences` holds up to the limit. */
  differing: number;
  differences: Difference[];
}

const row = z.record(z.unknown());
const differenceRow = z.object({ live: row.nullable(), rebuilt: row.nullable(), differing: z.number() });
const countsRow = z.object({ live_rows: z.number(), rebuilt_rows: z.number() });

export async function compareTable(
  db: CommonQueryMethods,
  schemas: { live: string; rebuilt: string },
  table: ReadModelTable,
  limit: number,
): Promise<TableComparison> {
  const live = sql.identifier([schemas.live, table.name]);
  const rebuilt = sql.identifier([schemas.rebuilt, table.name]);
  const column = (alias: string, name: string) => sql.identifier([alias, name]);
  const sameKey = sql.join(table.key.map((key) => sql.fragment`${column('l', key)} = ${column('s', key)}`), sql.fragment` AND `);
  const order = sql.join(table.key.map((key) => sql.fragment`coalesce(${column('l', key)}, ${column('s', key)})`), sql.fragment`, `);
  const counts = await db.one(sql.type(countsRow)`
    SELECT (SELECT count(*) FROM ${live})::int8 AS live_rows, (SELECT count(*) FROM ${rebuilt})::int8 AS rebuilt_rows`);
  // Row constructors compare column by column, a NULL equal to a NULL; a row missing on one side
  // is all NULLs there, so it differs too.
  const rows = await db.any(sql.type(differenceRow)`
    SELECT row_to_json(l) AS live, row_to_json(s) AS rebuilt, (count(*) OVER ())::int8 AS differing
    FROM ${live} l FULL JOIN ${rebuilt} s ON ${sameKey}
    WHERE ROW(l.*) IS DISTINCT FROM ROW(s.*)
    ORDER BY ${order}
    LIMIT ${limit}`);
  return {
    table: table.name,
    liveRows: counts.live_rows,
    rebuiltRows: counts.rebuilt_rows,
    differing: rows[0]?.differing ?? 0,
    differences: rows.map(({ live: liveRow, rebuilt: rebuiltRow }) => {
      const either = (liveRow ?? rebuiltRow)!;
      const columns =
        liveRow && rebuiltRow ? Object.keys(liveRow).filter((name) => JSON.stringify(liveRow[name]) !== JSON.stringify(rebuiltRow[name])) : [];
      return { table: table.name, key: Object.fromEntries(table.key.map((key) => [key, either[key]])), live: liveRow, rebuilt: rebuiltRow, columns };
    }),
  };
}
