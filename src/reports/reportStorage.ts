// Where finished reports go: object storage (S3/MinIO) or the service's own disk.
import type { Readable } from 'node:stream';

export interface StoredReport {
  /** A link that downloads the report without further credentials. */
  url: string;
}

export interface ReportStorage {
  readonly kind: 's3' | 'local';
  /**
   * Stores everything `body` yields under `name` and answers with a link valid for `validForSeconds`
   * (wall-clock time: links outlive any clock the service is given in tests). Resolves only once the
   * whole report is stored; a failed body stores nothing.
   */
  store(name: string, body: Readable, validForSeconds: number): Promise<StoredReport>;
}

/** Report names are random: the name is the only credential a download link carries. */
export const REPORT_NAME_PATTERN = /^[0-9a-f]{32}$/;
