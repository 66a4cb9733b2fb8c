// Where the CPU went during a phase (Linux /proc only; elsewhere every figure is null): the service
// process, the baselines process, the API-only processes started beside the service (when any run),
// the run's PostgreSQL server (postmaster and backends, when it runs on this machine), this harness
// (the autocannon worker thread and the probes), everything else, and the whole machine. Figures are % of one core (100 = one core busy for the whole phase);
// `machineBusyPct` is % of all cores.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface CpuShare {
  servicePct: number | null;
  baselinesPct: number | null;
  /** The API-only processes running for the whole measurement, together; null when there were none. */
  apiProcessesPct: number | null;
  postgresPct: number | null;
  harnessPct: number | null;
  /** Processes that are none of the above: anything else running meanwhile. */
  othersPct: number | null;
  machineBusyPct: number | null;
}

export interface CpuMeter {
  /** Starts measuring; the returned function ends the measurement. */
  start(): () => CpuShare;
  /** Counts an API-only process from now on; the returned function stops counting it. */
  watch(pid: number): () => void;
}

let ticksPerSecond = 100;
try {
  ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // 100 is the Linux default.
}

/** Fields after the command name of a /proc stat line (field n of proc(5) is rest[n - 3]). */
function statFields(pid: number | 'self'): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

function ticks(rest: string[], ...fields: number[]): number {
  return fields.reduce((sum, field) => sum + Number(rest[field - 3] ?? 0), 0);
}

/** Parent pid of every live process. */
function parents(): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      byPid.set(Number(entry), Number(statFields(Number(entry))[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  return byPid;
}

/**
 * A process's time with its children's: those still running (PostgreSQL backends, a helper a
 * node process spawned) and, through cutime/cstime, those that ended and were waited for.
 */
function treeTicks(pid: number, parentOf: Map<number, number>): number {
  let total = ticks(statFields(pid), 14, 15, 16, 17);
  for (const [child, parent] of parentOf) {
    if (parent !== pid) continue;
    try {
      total += ticks(statFields(child), 14, 15);
    } catch {
      // ended meanwhile
    }
  }
  return total;
}

/**
 * The postmaster of the server a backend (from `SELECT pg_backend_pid()`, asked while its connection
 * is open) belongs to, if that server runs on this machine.
 */
export function postmasterOf(backendPid: number): number | undefined {
  try {
    const ppid = Number(statFields(backendPid)[1]);
    return readFileSync(`/proc/${ppid}/comm`, 'utf8').trim() === 'postgres' ? ppid : undefined;
  } catch {
    return undefined;
  }
}

interface Snapshot {
  wallNs: bigint;
  service: number;
  baselines: number;
  /** Ticks of each watched API-only process. */
  apiProcesses: Map<number, number>;
  postgres: number | null;
  harness: number;
  machineBusy: number;
  machineTotal: number;
}

const NO_FIGURES: CpuShare = {
  servicePct: null,
  baselinesPct: null,
  apiProcessesPct: null,
  postgresPct: null,
  harnessPct: null,
  othersPct: null,
  machineBusyPct: null,
};

/** Ticks of the processes watched both at the start and at the end; null when none was. */
function watchedTicks(start: Map<number, number>, end: Map<number, number>): number | null {
  let total: number | null = null;
  for (const [pid, ticksAtEnd] of end) {
    const ticksAtStart = start.get(pid);
    if (ticksAtStart !== undefined) total = (total ?? 0) + ticksAtEnd - ticksAtStart;
  }
  return total;
}

export function createCpuMeter(pids: { service: number; baselines: number; postmaster: number | undefined }): CpuMeter {
  const { postmaster } = pids;
  const watched = new Set<number>();
  const snapshot = (): Snapshot | null => {
    try {
      const parentOf = parents();
      const apiProcesses = new Map<number, number>();
      for (const pid of watched) {
        try {
          apiProcesses.set(pid, treeTicks(pid, parentOf));
        } catch {
          // exited meanwhile: not counted
        }
      }
      const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
      return {
        wallNs: process.hrtime.bigint(),
        service: treeTicks(pids.service, parentOf),
        baselines: treeTicks(pids.baselines, parentOf),
        apiProcesses,
        postgres: postmaster === undefined ? null : treeTicks(postmaster, parentOf),
        // Own time only: the service, the baselines and an embedded PostgreSQL are children too.
        harness: ticks(statFields('self'), 14, 15),
        machineBusy: cpu.slice(0, 8).reduce((sum, value) => sum + value, 0) - idle,
        machineTotal: cpu.slice(0, 8).reduce((sum, value) => sum + value, 0),
      };
    } catch {
      return null;
    }
  };
  return {
    watch(pid) {
      watched.add(pid);
      return () => watched.delete(pid);
    },
    start() {
      const start = snapshot();
      return () => {
        const end = snapshot();
        if (!start || !end) return NO_FIGURES;
        const seconds = Number(end.wallNs - start.wallNs) / 1e9;
        const pct = (delta: number) => Math.round((delta / ticksPerSecond / seconds) * 1000) / 10;
        const postgres = start.postgres === null || end.postgres === null ? null : end.postgres - start.postgres;
        const apiProcesses = watchedTicks(start.apiProcesses, end.apiProcesses);
        const known =
          end.service - start.service + (end.baselines - start.baselines) + (apiProcesses ?? 0) + (postgres ?? 0) + (end.harness - start.harness);
        const machineTotal = end.machineTotal - start.machineTotal;
        return {
          servicePct: pct(end.service - start.service),
          baselinesPct: pct(end.baselines - start.baselines),
          apiProcessesPct: apiProcesses === null ? null : pct(apiProcesses),
          postgresPct: postgres === null ? null : pct(postgres),
          harnessPct: pct(end.harness - start.harness),
          othersPct: postgres === null ? null : pct(end.machineBusy - start.machineBusy - known),
          machineBusyPct: machineTotal > 0 ? Math.round(((end.machineBusy - start.machineBusy) / machineTotal) * 1000) / 10 : null,
        };
      };
    },
  };
}
