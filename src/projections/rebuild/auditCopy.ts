// A rebuild's audit rows, streamed into its copy of membership_audit by COPY on a connection of
// their own, while the batch's transaction goes on with the memberships. The audit table takes one
// row per membership change, most of what a rebuild writes; COPY costs PostgreSQL about half of
// what the projection's INSERT … unnest … ON CONFLICT does, and a second connection lets it run on
// another core. A copy starts empty and takes each event once, so no row can conflict.
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { AuditRow } from '../readModel/readModelRules';

/** COPY's text format: backslash, tab and line ends escaped; \N for null. */
const text = (value: string) => value.replace(/[\\\t\n\r]/g, (char) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[char]!);

function line(row: AuditRow): string {
  const expiresAt = row.expiresAt === null ? '\\N' : text(row.expiresAt);
  return `${row.globalPosition}\t${row.userId}\t${row.segmentId}\t${text(row.slug)}\t${row.operation}\t${text(row.reason)}\t${text(row.at)}\t${expiresAt}\n`;
}

export class AuditCopy {
  private client: Promise<PoolClient> | undefined;
  /** One promise per append still being copied, oldest first; each waits for the one before. */
  private copies: Array<Promise<void>> = [];
  private failure: unknown;

  constructor(
    private readonly pool: Pick<Pool, 'connect'>,
    /** The quoted, schema-qualified name of the copy. */
    private readonly table: string,
  ) {}

  /** Queues the rows after those appended before; `drained` reports a failure. */
  append(rows: readonly AuditRow[]): void {
    const body = rows.map(line).join('');
    const previous = this.copies.at(-1) ?? Promise.resolve();
    const copied: Promise<void> = previous
      .then(async () => {
        if (this.failure !== undefined) return;
        const client = await this.connection();
        await new Promise<void>((resolve, reject) => {
          const stream = client.query(
            copyFrom(`COPY ${this.table} (global_position, user_id, segment_id, slug, operation, reason, at, expires_at) FROM STDIN`),
          );
          stream.on('finish', resolve).on('error', reject);
          stream.end(body);
        });
      })
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.copies = this.copies.filter((copy) => copy !== copied);
      });
    this.copies.push(copied);
  }

  /** Waits until at most `behind` appends are still being copied (none when 0); throws a failed copy's error. */
  async drained(behind = 0): Promise<void> {
    const waitFor = this.copies.length > behind ? this.copies[this.copies.length - 1 - behind] : undefined;
    await waitFor;
    if (this.failure !== undefined) throw this.failure;
  }

  /** Ends the connection, which carries this copy's session settings. */
  async close(): Promise<void> {
    await this.drained().catch(() => undefined);
    const client = await this.client?.catch(() => undefined);
    client?.release(true);
    this.client = undefined;
  }

  private connection(): Promise<PoolClient> {
    this.client ??= this.pool.connect().then(async (client) => {
      // Its commits need not wait for the disk: the copy is unlogged until the swap anyway.
      await client.query('SET synchronous_commit = off');
      return client;
    });
    return this.client;
  }
}
