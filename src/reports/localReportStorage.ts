// Reports on the service's own disk (DATA_DIR/reports), served by GET /reports/{name}.csv.
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { REPORT_NAME_PATTERN, type ReportStorage, type StoredReport } from './reportStorage';

/** A partial file older than this was left by a crash, not by a report still being written. */
const PARTIAL_FILE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export interface LocalReport {
  body: Readable;
  size: number;
}

export class LocalReportStorage implements ReportStorage {
  readonly kind = 'local' as const;

  constructor(
    private readonly directory: string,
    /** Base of the links handed out, e.g. http://127.0.0.1:8080. */
    private readonly publicUrl: string,
  ) {}

  async store(name: string, body: Readable, validForSeconds: number): Promise<StoredReport> {
    if (!REPORT_NAME_PATTERN.test(name)) throw new Error(`not a report name: ${name}`);
    await fs.mkdir(this.directory, { recursive: true });
    await this.removeExpired();
    // Written beside its final name and renamed when complete: a download never sees half a file.
    const partial = path.join(this.directory, `${name}.partial`);
    try {
      await pipeline(body, createWriteStream(partial, { flags: 'wx' }));
      await fs.rename(partial, this.fileOf(name));
      // The expiry travels with the file: its modification time is set to the moment it expires.
      const expiresAt = new Date(Date.now() + validForSeconds * 1000);
      await fs.utimes(this.fileOf(name), expiresAt, expiresAt);
    } catch (error) {
      await fs.rm(partial, { force: true });
      throw error;
    }
    return { url: `${this.publicUrl}/reports/${name}.csv` };
  }

  /** The report, or undefined for a name that is malformed, unknown or expired. */
  async open(name: string): Promise<LocalReport | undefined> {
    if (!REPORT_NAME_PATTERN.test(name)) return undefined;
    const file = this.fileOf(name);
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat) return undefined;
    if (stat.mtime.getTime() <= Date.now()) {
      await fs.rm(file, { force: true });
      return undefined;
    }
    return { body: createReadStream(file), size: stat.size };
  }

  /**
   * Deletes reports whose links have expired, and partial files a crash left behind (older than a
   * day), so the folder does not grow with reports nobody asks for again. Runs before each new
   * report: reports are rare, and a folder of them is cheap to list.
   */
  async removeExpired(now = Date.now()): Promise<number> {
    const entries = await fs.readdir(this.directory).catch(() => [] as string[]);
    let removed = 0;
    for (const entry of entries) {
      const isReport = entry.endsWith('.csv') && REPORT_NAME_PATTERN.test(entry.slice(0, -'.csv'.length));
      const isPartial = entry.endsWith('.partial');
      if (!isReport && !isPartial) continue;
      const file = path.join(this.directory, entry);
      const stat = await fs.stat(file).catch(() => undefined);
      if (!stat) continue;
      const expired = isReport ? stat.mtime.getTime() <= now : stat.mtime.getTime() <= now - PARTIAL_FILE_MAX_AGE_MS;
      if (expired) {
        await fs.rm(file, { force: true });
        removed++;
      }
    }
    return removed;
  }

  private fileOf(name: string): string {
    return path.join(this.directory, `${name}.csv`);
  }
}
