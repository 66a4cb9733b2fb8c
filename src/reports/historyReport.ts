// The monthly history report: the month's membership changes from the event store, formatted by
// fast-csv and streamed to storage with backpressure, so memory holds one batch, not the month.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { format } from 'fast-csv';
import type { Clock } from '../platform/clock';
import type { MembershipChange, MembershipChangeSource } from './membershipChangeLog';
import type { Period } from './period';
import type { ReportStorage } from './reportStorage';

export const REPORT_HEADER = ['user_id', 'segment', 'operation', 'at'] as const;

export interface HistoryReportRequest {
  period: Period;
  userId?: number;
}

export interface HistoryReport {
  url: string;
  period: string;
  userId: number | null;
  rows: number;
  expiresAt: string;
}

export interface ReportProgress {
  onTotal?: (total: number) => void;
  onRows?: (written: number) => void;
}

/** A fast-csv formatter for report rows: `;`-separated, header row even when there is no change. */
export function reportFormatter() {
  const formatter = format<string[], string[]>({
    delimiter: ';',
    headers: [...REPORT_HEADER],
    alwaysWriteHeaders: true,
    includeEndRowDelimiter: true,
  });
  // A failed report destroys the formatter with its error, which also reaches the caller through
  // writeHistoryRows' rejection. Until storage has piped the formatter somewhere (it first makes
  // its folder, or its bucket), nothing else listens, and an 'error' event nobody listens to ends
  // the process: a database blip during a report request must not.
  formatter.on('error', () => undefined);
  return formatter;
}

/**
 * Writes the report's CSV into `formatter` (ended on success, destroyed on failure) and returns the
 * number of rows. Waits for the formatter to drain, so a slow consumer slows the cursor down.
 */
export async function writeHistoryRows(
  source: MembershipChangeSource,
  request: HistoryReportRequest,
  formatter: Writable,
  progress: ReportProgress = {},
): Promise<number> {
  try {
    let written = 0;
    let read = 0;
    let previous = '';
    await source(
      request,
      async (changes: MembershipChange[]) => {
        if (formatter.destroyed) throw new Error('the report could not be stored');
        for (const change of changes) {
          // Removing an explicit member of a percentage segment records the removal and the
          // opt-out in one append, at one moment: one change for the user, so one row.
          const key = `${change.userId};${change.slug};${change.operation};${change.at}`;
          if (change.operation === 'removed' && key === previous) continue;
          previous = key;
          written++;
          if (!formatter.write([String(change.userId), change.slug, change.operation, change.at])) await once(formatter, 'drain');
        }
        read += changes.length;
        progress.onRows?.(read);
      },
      { onTotal: progress.onTotal },
    );
    formatter.end();
    return written;
  } catch (error) {
    formatter.destroy(error as Error);
    throw error;
  }
}

export interface HistoryReports {
  create(request: HistoryReportRequest): Promise<HistoryReport>;
}

/** What report generation records for GET /metrics: each generation's outcome and duration. */
export interface ReportMetrics {
  generated(outcome: 'succeeded' | 'failed', seconds: number): void;
}

export function createHistoryReports(deps: {
  source: MembershipChangeSource;
  storage: ReportStorage;
  clock: Clock;
  urlExpirySeconds: number;
  metrics?: ReportMetrics;
}): HistoryReports {
  const generate = async (request: HistoryReportRequest): Promise<HistoryReport> => {
    const name = randomBytes(16).toString('hex');
    const formatter = reportFormatter();
    // Storage failing (S3 down, disk full) stops the writer, which closes its cursor.
    const storing = deps.storage.store(name, formatter, deps.urlExpirySeconds).catch((error: unknown) => {
      formatter.destroy(error as Error);
      throw error;
    });
    const [rows, stored] = await Promise.all([writeHistoryRows(deps.source, request, formatter), storing]);
    return {
      url: stored.url,
      period: request.period.name,
      userId: request.userId ?? null,
      rows,
      expiresAt: new Date(deps.clock.now().getTime() + deps.urlExpirySeconds * 1000).toISOString(),
    };
  };
  return {
    async create(request) {
      const startedAt = performance.now();
      const seconds = () => (performance.now() - startedAt) / 1000;
      try {
        const report = await generate(request);
        deps.metrics?.generated('succeeded', seconds());
        return report;
      } catch (error) {
        deps.metrics?.generated('failed', seconds());
        throw error;
      }
    },
  };
}
