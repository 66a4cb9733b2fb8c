// How figures are written in the run's Markdown tables.
import type { CpuShare } from './cpu';

export const number = (value: number | null | undefined, digits = 0) =>
  value == null ? 'n/a' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const times = (value: number | null | undefined) => (value == null ? 'n/a' : `${number(value, 3)}`);
export const pct = (value: number | null) => (value === null ? '–' : number(value));
export const megabytes = (bytes: number | null | undefined) => (bytes == null ? 'n/a' : `${number(bytes / 1e6, 1)} MB`);
export const statuses = (codes: Record<string, number>) =>
  Object.entries(codes)
    .map(([code, count]) => `${code}: ${number(count)}`)
    .join(', ') || 'none';

/** service / baselines / PostgreSQL / harness / anything else, % of one core. */
export const cpuCell = (cpu: CpuShare) =>
  `${pct(cpu.servicePct)} / ${pct(cpu.baselinesPct)} / ${pct(cpu.postgresPct)} / ${pct(cpu.harnessPct)} / ${pct(cpu.othersPct)}`;
