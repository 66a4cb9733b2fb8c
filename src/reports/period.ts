// A report period: one calendar month in UTC, written YYYY-MM.
export interface Period {
  /** As the caller wrote it, e.g. "2023-08". */
  name: string;
  /** First instant of the month, inclusive. */
  start: Date;
  /** First instant of the next month, exclusive. */
  end: Date;
}

/** YYYY-MM from 1970-01: no change this service records can be older. */
export const PERIOD_PATTERN = /^(19[7-9]\d|[2-9]\d{3})-(0[1-9]|1[0-2])$/;

/** The month of `name`, or undefined when it is not a real YYYY-MM month. */
export function parsePeriod(name: string): Period | undefined {
  const match = PERIOD_PATTERN.exec(name);
  if (!match) return undefined;
  const year = Number(match[1]);
  const monthIndex = Number(match[2]) - 1;
  // Date.UTC rolls month 12 over into January of the next year, so December needs no special case
  // (and years from 1970 are never taken for 19xx, as 0–99 would be).
  return { name, start: new Date(Date.UTC(year, monthIndex, 1)), end: new Date(Date.UTC(year, monthIndex + 1, 1)) };
}

/** The month `now` falls in, as YYYY-MM (UTC). */
export function periodOf(now: Date): string {
  return now.toISOString().slice(0, 7);
}
