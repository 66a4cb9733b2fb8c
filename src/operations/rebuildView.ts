// A rebuild as GET /projections and the CLI show it: its state, how far it is, how fast it goes.
import { formatPosition } from '../eventstore/position';
import type { RebuildProgress, RebuildState } from '../projections/rebuild/rebuildProgress';

export interface RebuildView {
  /** `abandoned`: the process running it went away before it ended; the next rebuild cleans up. */
  state: RebuildState | 'abandoned';
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** The last event applied to the new tables. */
  position: string | null;
  eventsDone: number;
  eventsTotal: number | null;
  percent: number | null;
  eventsPerSecond: number | null;
  /** While it runs, at its rate so far. */
  etaSeconds: number | null;
  error: string | null;
}

export function rebuildViewOf(progress: RebuildProgress): RebuildView {
  const ended = progress.state === 'finished' || progress.state === 'failed';
  const running = !ended && progress.running;
  const state = ended || running ? progress.state : 'abandoned';
  // Both moments come from the database's clock, so the rate does not depend on this process's.
  const seconds = ((progress.finishedAt ?? progress.updatedAt).getTime() - progress.startedAt.getTime()) / 1000;
  const rate = seconds > 0 && progress.eventsDone > 0 ? progress.eventsDone / seconds : null;
  const total = progress.eventsTotal;
  const left = total === null ? null : Math.max(0, total - progress.eventsDone);
  return {
    state,
    startedAt: progress.startedAt.toISOString(),
    updatedAt: progress.updatedAt.toISOString(),
    finishedAt: progress.finishedAt?.toISOString() ?? null,
    position: progress.position ? formatPosition(progress.position) : null,
    eventsDone: progress.eventsDone,
    eventsTotal: total,
    percent: total === null ? null : total === 0 ? 100 : Math.min(100, Math.floor((progress.eventsDone / total) * 1000) / 10),
    eventsPerSecond: rate === null ? null : Math.round(rate),
    etaSeconds: running && rate !== null && left !== null ? Math.ceil(left / rate) : null,
    error: progress.error,
  };
}
