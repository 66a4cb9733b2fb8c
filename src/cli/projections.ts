// `segments projections`: where each projection stands, and rebuilding or verifying the read model.
// Progress goes to stderr (a bar on a terminal, plain lines otherwise); results to stdout.
import { parseArgs } from 'node:util';
import type { Pool } from 'pg';
import type { DatabasePool } from 'slonik';
import type { EventStore } from '../eventstore/eventStore';
import { formatPosition } from '../eventstore/position';
import { REBUILDABLE_PROJECTIONS } from '../operations/projectionRebuilds';
import { createProjectionStatus } from '../operations/projectionStatus';
import { rebuildViewOf } from '../operations/rebuildView';
import { readLatestRebuild, type RebuildState } from '../projections/rebuild/rebuildProgress';
import { rebuildReadModel } from '../projections/rebuild/rebuildReadModel';
import { verifyReadModel, type Difference } from '../projections/rebuild/verifyReadModel';
import { createProgress, type Progress } from './progress';
import { UsageError } from './usageError';

/** Exit code of a verify that found a difference (2 is a usage error, 1 any other failure). */
export const DIFFERENCES_FOUND = 3;

export interface ProjectionsDatabase {
  pool: DatabasePool;
  store: EventStore;
  /** For COPY, which slonik does not do. */
  copyPool: Pick<Pool, 'connect'>;
  close(): Promise<void>;
}

type Open = () => Promise<ProjectionsDatabase>;

export async function runProjections(args: string[], open: Open): Promise<number> {
  const [action = 'status', ...rest] = args;
  const { positionals } = parseArgs({ args: rest, options: {}, allowPositionals: true, strict: true });
  if (positionals.length > 1) throw new UsageError(`projections ${action} takes one projection name at most`);
  const name = positionals[0] ?? REBUILDABLE_PROJECTIONS[0]!;
  if (action !== 'status' && !REBUILDABLE_PROJECTIONS.includes(name)) {
    throw new UsageError(`unknown projection "${name}" (known: ${REBUILDABLE_PROJECTIONS.join(', ')})`);
  }
  if (!['status', 'rebuild', 'verify'].includes(action)) throw new UsageError(`unknown projections command "${action}"`);
  const db = await open();
  // Ctrl-C stops a rebuild or verify cleanly: the copies are dropped, the live tables stay as they were.
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    if (action === 'rebuild') return await rebuild(db, name, controller.signal);
    if (action === 'verify') return await verify(db, name, controller.signal);
    const all = await createProjectionStatus({ pool: db.pool, store: db.store, runner: undefined })();
    const projections = positionals[0] === undefined ? all : all.filter((view) => view.projection === positionals[0]);
    process.stdout.write(`${JSON.stringify({ projections }, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    process.stderr.write(`\nsegments projections ${action}: stopped; its copies are dropped and the live tables are as they were\n`);
    return 130;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    await db.close();
  }
}

const count = (value: number) => value.toLocaleString('en');

const PHASES: Partial<Record<RebuildState, (name: string, events: number) => string>> = {
  indexing: (name, events) => `${name}: ${count(events)} events applied; indexing the new tables`,
  catching_up: (name) => `${name}: catching up with the events the live projector applied meanwhile`,
  swapping: (name) => `${name}: live projector paused; applying the last events and swapping the tables`,
};

function followPhases(progress: Progress, name: string) {
  let phase: RebuildState | undefined;
  let total: number | null = null;
  return (state: RebuildState, eventsDone: number, eventsTotal: number | null) => {
    if (state !== phase) {
      phase = state;
      const note = PHASES[state];
      if (note) progress.note(note(name, eventsDone));
    }
    if (eventsTotal !== null && eventsTotal !== total) progress.total((total = eventsTotal));
    progress.update(eventsDone);
  };
}

async function rebuild(db: ProjectionsDatabase, name: string, signal: AbortSignal): Promise<number> {
  const progress = createProgress(process.stderr, `${name} rebuild`, { unit: 'events', rate: true });
  const follow = followPhases(progress, name);
  const outcome = await rebuildReadModel(
    { pool: db.pool, store: db.store, copyPool: db.copyPool },
    {
      signal,
      onStarted: () => progress.note(`${name}: replaying every event into new tables beside the live ones; reads and writes go on`),
      onProgress: ({ state, eventsDone, eventsTotal }) => follow(state, eventsDone, eventsTotal),
    },
  );
  if (!outcome.rebuilt) {
    const latest = await readLatestRebuild(db.pool, name);
    const view = latest && rebuildViewOf(latest);
    const running = view && !['finished', 'failed', 'abandoned'].includes(view.state);
    const detail = running ? ` (started ${view.startedAt}, ${view.state}${view.percent === null ? '' : `, ${view.percent}%`})` : '';
    process.stderr.write(`segments projections rebuild: a rebuild or a verify of ${name} is running${detail}\n`);
    return 1;
  }
  const { summary } = outcome;
  const at = summary.position ? formatPosition(summary.position) : 'the start';
  progress.finish(
    `${name} rebuilt from ${count(summary.events)} events in ${summary.seconds.toFixed(1)} s ` +
      `(${count(Math.round(summary.events / summary.seconds))} events/s); swapped in at ${at}, the live projector paused ${summary.pausedMs} ms`,
  );
  return 0;
}

async function verify(db: ProjectionsDatabase, name: string, signal: AbortSignal): Promise<number> {
  const progress = createProgress(process.stderr, `${name} verify`, { unit: 'events', rate: true });
  const follow = followPhases(progress, name);
  const outcome = await verifyReadModel(
    { pool: db.pool, store: db.store },
    { signal, onProgress: (eventsDone, eventsTotal) => follow('building', eventsDone, eventsTotal) },
  );
  if (!outcome.verified) {
    process.stderr.write(`segments projections verify: a ${outcome.reason === 'rebuild running' ? 'rebuild' : 'verify'} of ${name} is running; try again after it\n`);
    return 1;
  }
  const { report } = outcome;
  for (const difference of report.differences) process.stdout.write(`${describe(difference)}\n`);
  const differing = report.tables.filter((table) => table.differing > 0);
  for (const table of differing) {
    const unlisted = table.differing - report.differences.filter((difference) => difference.table === table.table).length;
    if (unlisted > 0) process.stdout.write(`${table.table}: ${count(unlisted)} more differences not listed\n`);
  }
  const at = report.position ? formatPosition(report.position) : 'the start';
  const rows = report.tables.reduce((sum, table) => sum + table.liveRows, 0);
  const compared = `${report.tables.length} tables, ${count(rows)} rows, against a replay of ${count(report.events)} events`;
  if (differing.length === 0) {
    progress.finish(`${name} at ${at} is equal to a replay of the events: ${compared}`);
    return 0;
  }
  const where = differing.map((table) => `${table.table} ${count(table.differing)}`).join(', ');
  progress.finish(`${name} at ${at} differs from a replay of the events (${where}): ${compared}`);
  return DIFFERENCES_FOUND;
}

const fields = (row: Record<string, unknown>, names: string[]) => names.map((key) => `${key}=${JSON.stringify(row[key])}`).join(' ');

/** One line a person reads: which row, and what the read model has against what the events give. */
export function describe(difference: Difference): string {
  const key = Object.entries(difference.key)
    .map(([column, value]) => `${column}=${String(value)}`)
    .join(' ');
  const { live, rebuilt } = difference;
  if (!live) return `${difference.table} ${key}: missing from the read model; the events give ${fields(rebuilt!, Object.keys(rebuilt!))}`;
  if (!rebuilt) return `${difference.table} ${key}: in the read model, but not in the events: ${fields(live, Object.keys(live))}`;
  const changes = difference.columns.map((column) => `${column} is ${JSON.stringify(live[column])} in the read model, ${JSON.stringify(rebuilt[column])} from the events`);
  return `${difference.table} ${key}: ${changes.join('; ')}`;
}
