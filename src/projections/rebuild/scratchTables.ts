// Copies of live tables in a schema of their own, for a rebuild or a verify. A copy has the live
// table's columns, defaults and checks (LIKE) and its keys from the start, since the projection's
// ON CONFLICT needs them; its other indexes and its foreign keys come after the bulk load, which
// builds them faster than row by row. Indexes and constraints keep the live names, so a copy
// swapped in looks exactly like the table schema.sql created (and schema.sql finds it complete).
import { sql, type CommonQueryMethods, type DatabasePoolConnection, type DatabaseTransactionConnection } from 'slonik';
import { z } from 'zod';
import { sleep } from '../../platform/sleep';

export interface ScratchTables {
  /** The schema of the live tables (the connection's current schema). */
  live: string;
  scratch: string;
  tables: readonly string[];
  /** Statements PostgreSQL derived from the live tables, by when they run. */
  keys: string[];
  /** By index name: built when the load needs one (`ensureIndexes`), the rest once loaded. */
  indexes: ReadonlyMap<string, string>;
  built: Set<string>;
  foreignKeys: string[];
  grants: string[];
}

const ident = (...names: string[]) => sql.identifier(names);

/** The SQLSTATE of a database error, through slonik's wrapper. */
export function sqlStateOf(error: unknown): string | undefined {
  for (let link = error; link !== null && typeof link === 'object'; link = (link as { cause?: unknown }).cause) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * A statement PostgreSQL wrote itself from its catalog (format() with %I, pg_get_indexdef,
 * pg_get_constraintdef). slonik has no token for SQL text, so it goes in as a template without values.
 */
function catalogStatement(text: string) {
  const strings = Object.freeze(Object.assign([text], { raw: Object.freeze([text]) }));
  return sql.unsafe(strings as unknown as TemplateStringsArray);
}

const statementRow = z.object({ kind: z.enum(['key', 'foreign_key', 'index', 'grant']), name: z.string().nullable(), statement: z.string() });

/** Reads what copies of `tables` need. Run it with the service's search_path: foreign keys then name their tables unqualified. */
export async function planScratchTables(db: CommonQueryMethods, options: { scratch: string; tables: readonly string[] }): Promise<ScratchTables> {
  const { scratch, tables } = options;
  const live = await db.oneFirst(sql.type(z.object({ schema: z.string() }))`SELECT current_schema()::text AS schema`);
  const rows = await db.any(sql.type(statementRow)`
    WITH t AS (
      SELECT c.oid, c.relname, c.relowner, c.relacl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${live} AND c.relkind = 'r' AND c.relname = ANY(${sql.array([...tables], 'text')})
    )
    SELECT CASE con.contype WHEN 'f' THEN 'foreign_key' ELSE 'key' END AS kind, con.conname::text AS name,
           format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', ${scratch}::text, t.relname, con.conname, pg_get_constraintdef(con.oid)) AS statement
    FROM t JOIN pg_constraint con ON con.conrelid = t.oid
    WHERE con.contype IN ('p', 'u', 'f', 'x')
    UNION ALL
    SELECT 'index', i.relname::text,
           format('CREATE %sINDEX %I ON %I.%I USING %s', CASE WHEN x.indisunique THEN 'UNIQUE ' ELSE '' END, i.relname,
                  ${scratch}::text, t.relname, substring(pg_get_indexdef(x.indexrelid) FROM ' USING (.*)$'))
    FROM t JOIN pg_index x ON x.indrelid = t.oid JOIN pg_class i ON i.oid = x.indexrelid
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conrelid = t.oid AND con.conindid = x.indexrelid)
    UNION ALL
    SELECT 'grant', NULL,
           format('GRANT %s ON TABLE %I.%I TO %s', a.privilege_type, ${scratch}::text, t.relname,
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
    FROM t CROSS JOIN LATERAL aclexplode(t.relacl) a
    WHERE a.grantee <> t.relowner`);
  const found = await db.anyFirst(sql.type(z.object({ relname: z.string() }))`
    SELECT c.relname::text AS relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${live} AND c.relkind = 'r' AND c.relname = ANY(${sql.array([...tables], 'text')})`);
  const absent = tables.filter((table) => !found.includes(table));
  if (absent.length > 0) throw new Error(`no table ${absent.join(', ')} in schema ${live}`);
  const of = (kind: z.infer<typeof statementRow>['kind']) => rows.filter((row) => row.kind === kind);
  return {
    live,
    scratch,
    tables,
    keys: of('key').map((row) => row.statement),
    indexes: new Map(of('index').map((row) => [row.name!, row.statement])),
    built: new Set(),
    foreignKeys: of('foreign_key').map((row) => row.statement),
    grants: of('grant').map((row) => row.statement),
  };
}

/**
 * The schema and empty copies: unlogged (a crash loses nothing the event store cannot replay), and
 * left alone by autovacuum while they are loaded.
 */
export async function createScratchTables(db: CommonQueryMethods, plan: ScratchTables): Promise<void> {
  await db.query(sql.unsafe`CREATE SCHEMA ${ident(plan.scratch)}`);
  for (const table of plan.tables) {
    await db.query(sql.unsafe`
      CREATE UNLOGGED TABLE ${ident(plan.scratch, table)}
      (LIKE ${ident(plan.live, table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)
      WITH (autovacuum_enabled = false)`);
  }
  for (const statement of [...plan.keys, ...plan.grants]) await db.query(catalogStatement(statement));
}

/** Builds the named indexes of the copies that are not built yet. */
export async function ensureIndexes(db: CommonQueryMethods, plan: ScratchTables, names: Iterable<string>): Promise<void> {
  for (const name of names) {
    const statement = plan.indexes.get(name);
    if (statement === undefined || plan.built.has(name)) continue;
    await db.query(sql.unsafe`SET maintenance_work_mem = '256MB'`);
    await db.query(catalogStatement(statement));
    await db.query(sql.unsafe`RESET maintenance_work_mem`);
    plan.built.add(name);
  }
}

/** A copy whose rows are thrown away (the deletion outbox while the rebuild replays what the live one has). */
export async function createThrowawayTable(db: CommonQueryMethods, plan: ScratchTables, table: string): Promise<void> {
  await db.query(sql.unsafe`CREATE UNLOGGED TABLE ${ident(plan.scratch, table)} (LIKE ${ident(plan.live, table)} INCLUDING ALL)`);
}

/**
 * The transaction's unqualified table names find the copies first: the projection's own SQL fills
 * them. Its commit does not wait for the disk: the copies are unlogged until the swap anyway.
 */
export async function useScratchTables(tx: CommonQueryMethods, plan: ScratchTables): Promise<void> {
  await tx.query(sql.unsafe`SET LOCAL search_path = ${ident(plan.scratch)}, ${ident(plan.live)}`);
  await tx.query(sql.unsafe`SET LOCAL synchronous_commit = off`);
}

/**
 * After the bulk load. For a swap: logged (a swapped-in table must survive a crash), then the
 * remaining indexes and the foreign keys (a logged table may refer only to logged ones). Always:
 * statistics, so the planner knows the tables from their first query.
 */
export async function completeScratchTables(
  db: DatabasePoolConnection,
  plan: ScratchTables,
  options: { logged: boolean; indexes: boolean },
): Promise<void> {
  for (const table of plan.tables) {
    await db.query(sql.unsafe`ALTER TABLE ${ident(plan.scratch, table)} ${options.logged ? sql.fragment`SET LOGGED, ` : sql.fragment``}RESET (autovacuum_enabled)`);
  }
  if (options.indexes) {
    await ensureIndexes(db, plan, plan.indexes.keys());
    await db.transaction(async (tx) => {
      await useScratchTables(tx, plan);
      for (const statement of plan.foreignKeys) await tx.query(catalogStatement(statement));
    });
  }
  for (const table of plan.tables) await db.query(sql.unsafe`ANALYZE ${ident(plan.scratch, table)}`);
}

/**
 * In the swap's transaction: the live tables move to `replaced` and the copies take their place.
 * `alsoLocked` are live tables locked with them and left in place. Reads wait for the locks until
 * the transaction commits, then read the new tables.
 */
export async function swapIntoLive(
  tx: DatabaseTransactionConnection,
  plan: ScratchTables,
  options: { replaced: string; alsoLocked: readonly string[] },
): Promise<void> {
  await tx.query(sql.unsafe`CREATE SCHEMA ${ident(options.replaced)}`);
  await lockAtOnce(tx, [...options.alsoLocked, ...plan.tables].map((table) => ident(plan.live, table)));
  for (const table of plan.tables) await tx.query(sql.unsafe`ALTER TABLE ${ident(plan.live, table)} SET SCHEMA ${ident(options.replaced)}`);
  for (const table of plan.tables) await tx.query(sql.unsafe`ALTER TABLE ${ident(plan.scratch, table)} SET SCHEMA ${ident(plan.live)}`);
}

/**
 * Every table at once, each try waiting a short while: a reader that holds one of them and wants
 * another must never find the swap holding that other one and waiting for it (a deadlock would
 * fail one of the two). A try that times out lets go of what it took and tries again.
 */
async function lockAtOnce(tx: DatabaseTransactionConnection, tables: ReturnType<typeof ident>[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await tx.transaction(async (savepoint) => {
        await savepoint.query(sql.unsafe`SET LOCAL lock_timeout = '200ms'`);
        await savepoint.query(sql.unsafe`LOCK TABLE ${sql.join(tables, sql.fragment`, `)} IN ACCESS EXCLUSIVE MODE`);
      });
      await tx.query(sql.unsafe`SET LOCAL lock_timeout = DEFAULT`);
      return;
    } catch (error) {
      if (sqlStateOf(error) !== '55P03' || attempt === 150) throw error;
      await sleep(20 * Math.min(attempt, 10));
    }
  }
}

/** Drops the schemas whose names start with `prefix` (left by earlier rebuilds or verifies) and what is in them. */
export async function dropSchemasStartingWith(db: CommonQueryMethods, prefix: string): Promise<void> {
  const schemas = await db.anyFirst(sql.type(z.object({ nspname: z.string() }))`
    SELECT nspname::text AS nspname FROM pg_namespace WHERE starts_with(nspname, ${prefix})`);
  for (const schema of schemas) await db.query(sql.unsafe`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
}

/** Drops the copies, leaving the schema and anything else in it. */
export async function dropScratchTables(db: CommonQueryMethods, plan: ScratchTables, others: readonly string[] = []): Promise<void> {
  for (const table of [...plan.tables, ...others]) await db.query(sql.unsafe`DROP TABLE IF EXISTS ${ident(plan.scratch, table)} CASCADE`);
}
