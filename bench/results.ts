// Everything one run measured, as written to bench/results/<timestamp>.json and latest.json.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BulkProbe } from './bulk';
import type { CpuShare } from './cpu';
import type { PhaseResult } from './load';
import type { CodeVersion, MachineInfo } from './machine';
import type { BenchOptions } from './options';
import type { LagProbe, ReadAfterWriteProbe, StreamLengthProbe } from './probes';
import type { ReadViewResults } from './readViews';
import { ratio } from './stats';

export interface SeedingStep {
  users: { from: number; to: number };
  events: number;
  /** Appending the events through the store. */
  appendSeconds: number;
  appendEventsPerSecond: number;
  /** From the first append until GET /projections showed no pending event (the projector runs meanwhile). */
  projectionSeconds: number;
  projectionEventsPerSecond: number;
  /** How long the read model took to catch up after the last append. */
  catchUpAfterAppendSeconds: number;
  /** From the first append until the read model caught up. */
  cpu: CpuShare;
  /** VACUUM ANALYZE of the seeded tables and a CHECKPOINT, after the read model caught up. */
  vacuumSeconds: number;
}

export interface BenchResults {
  date: string;
  command: string;
  machine: MachineInfo;
  code: CodeVersion;
  postgres: { version: string; kind: string };
  settings: Omit<BenchOptions, 'resultsDir' | 'writeDocs'> & { loadGenerator: string; probeUsers: { from: number; to: number } };
  data: {
    users: number;
    manualSegments: number;
    percentageSegments: Array<{ slug: string; percent: number }>;
    memberships: number;
    membershipsWithExpiry: number;
    longStream: { userId: number; events: number };
  };
  seeding: SeedingStep[];
  phases: PhaseResult[];
  projectionLag: LagProbe;
  readAfterWrite: ReadAfterWriteProbe;
  streamLength: StreamLengthProbe;
  bulk: BulkProbe;
  /** API-only processes in memory and database mode, side by side. */
  readViews: ReadViewResults;
  ratios: Ratios;
  outputLines: { service: number; baselines: number };
}

export interface Ratios {
  /** c / b: the service's read ÷ the bare pg read route, req/s. */
  readToBaselineRead: number | null;
  readP99ToBaselineReadP99: number | null;
  /** e / d: the service's write ÷ the bare write route, req/s. */
  writeToBaselineWrite: number | null;
  writeP99ToBaselineWriteP99: number | null;
  /** c / a */
  readToPing: number | null;
  /** Full size ÷ the smaller size, the same short phases. */
  readGrowth: number | null;
  readP99Growth: number | null;
  writeGrowth: number | null;
  writeP99Growth: number | null;
}

export function ratiosOf(phases: readonly PhaseResult[]): Ratios {
  const byId = new Map(phases.map((phase) => [phase.id, phase]));
  const rps = (id: string) => byId.get(id)?.requestsPerSecond;
  const p99 = (id: string) => byId.get(id)?.latencyMs.p99;
  return {
    readToBaselineRead: ratio(rps('serviceRead'), rps('baselineRead')),
    readP99ToBaselineReadP99: ratio(p99('serviceRead'), p99('baselineRead')),
    writeToBaselineWrite: ratio(rps('serviceWrite'), rps('baselineWrite')),
    writeP99ToBaselineWriteP99: ratio(p99('serviceWrite'), p99('baselineWrite')),
    readToPing: ratio(rps('serviceRead'), rps('ping')),
    readGrowth: ratio(rps('serviceReadFull'), rps('serviceReadSmall')),
    readP99Growth: ratio(p99('serviceReadFull'), p99('serviceReadSmall')),
    writeGrowth: ratio(rps('serviceWriteFull'), rps('serviceWriteSmall')),
    writeP99Growth: ratio(p99('serviceWriteFull'), p99('serviceWriteSmall')),
  };
}

/** Writes `<timestamp>.json` and `latest.json`; returns the first's path. */
export async function writeResults(directory: string, results: BenchResults): Promise<string> {
  await fs.mkdir(directory, { recursive: true });
  const text = `${JSON.stringify(results, null, 2)}\n`;
  const file = path.join(directory, `${results.date.replace(/[:.]/g, '-')}.json`);
  await fs.writeFile(file, text);
  await fs.writeFile(path.join(directory, 'latest.json'), text);
  return file;
}

const START_MARKER = '<!-- bench:scale:start -->';
const END_MARKER = '<!-- bench:scale:end -->';

/** Replaces what stands between the markers of docs/benchmarks.md with `markdown`. */
export async function writeIntoDocs(docsFile: string, markdown: string): Promise<void> {
  const text = await fs.readFile(docsFile, 'utf8');
  const start = text.indexOf(START_MARKER);
  const end = text.indexOf(END_MARKER);
  if (start < 0 || end < start) throw new Error(`${docsFile} has no ${START_MARKER} … ${END_MARKER} section`);
  await fs.writeFile(docsFile, `${text.slice(0, start + START_MARKER.length)}\n${markdown.trim()}\n${text.slice(end)}`);
}
