// Where the CPU went during a phase (Linux /proc only; elsewhere every figure is null):
// this process's main thread (the service's event loop, or the bare app, or the pg baseline's
// client loop), its other threads (the autocannon worker, libuv pool, V8 GC), the benchmark's
// PostgreSQL server (its postmaster and children, when it runs on this machine), everything else
// on the machine, and the whole machine. Figures are % of one core (100 = one core busy for the
// whole phase); `machineBusyPct` is % of all cores.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface CpuShare {
  mainThreadPct: number | null;
  otherThreadsPct: number | null;
  postgresPct: number | null;
  /** Processes that are neither this one nor its PostgreSQL: anything else running meanwhile. */
  othersPct: number | null;
  machineBusyPct: number | null;
}

interface Snapshot {
  wallNs: bigint;
  process: number;
  mainThread: number;
  postgres: number | null;
  machineBusy: number;
  machineTotal: number;
}

let ticksPerSecond = 100;
try {
  ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // 100 is the Linux default.
}

/** Fields after the command name of a /proc stat line (field n of proc(5) is rest[n - 3]). */
function statFields(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

function ticks(rest: string[], ...fields: number[]): number {
  return fields.reduce((sum, field) => sum + Number(rest[field - 3] ?? 0), 0);
}

let postmasterPid: number | undefined;

/**
 * Counts the PostgreSQL server whose postmaster is the parent of `backendPid` (from
 * `SELECT pg_backend_pid()`), if it runs on this machine; other PostgreSQL servers are ignored.
 */
export function watchPostgres(backendPid: number): boolean {
  try {
    const ppid = Number(statFields(`/proc/${backendPid}/stat`)[1]);
    if (readFileSync(`/proc/${ppid}/comm`, 'utf8').trim() !== 'postgres') return false;
    postmasterPid = ppid;
    return true;
  } catch {
    return false;
  }
}

/** The postmaster's own time, its reaped children's (backends that ended), and its live children's. */
function postgresTicks(): number | null {
  if (postmasterPid === undefined) return null;
  const postmaster = statFields(`/proc/${postmasterPid}/stat`);
  let total = ticks(postmaster, 14, 15, 16, 17);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const rest = statFields(`/proc/${entry}/stat`);
      if (Number(rest[1]) === postmasterPid) total += ticks(rest, 14, 15);
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}

function snapshot(): Snapshot | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
    const total = cpu.slice(0, 8).reduce((sum, value) => sum + value, 0);
    return {
      wallNs: process.hrtime.bigint(),
      process: ticks(statFields('/proc/self/stat'), 14, 15),
      mainThread: ticks(statFields(`/proc/self/task/${process.pid}/stat`), 14, 15),
      postgres: postgresTicks(),
      machineBusy: total - idle,
      machineTotal: total,
    };
  } catch {
    return null;
  }
}

/** Starts measuring; the returned function ends the measurement. */
export function measureCpu(): () => CpuShare {
  const start = snapshot();
  return () => {
    const end = snapshot();
    if (!start || !end) return { mainThreadPct: null, otherThreadsPct: null, postgresPct: null, othersPct: null, machineBusyPct: null };
    const seconds = Number(end.wallNs - start.wallNs) / 1e9;
    const pct = (deltaTicks: number) => Math.round((deltaTicks / ticksPerSecond / seconds) * 1000) / 10;
    const main = end.mainThread - start.mainThread;
    const machineTotal = end.machineTotal - start.machineTotal;
    const postgres = start.postgres === null || end.postgres === null ? null : end.postgres - start.postgres;
    return {
      mainThreadPct: pct(main),
      otherThreadsPct: pct(end.process - start.process - main),
      postgresPct: postgres === null ? null : pct(postgres),
      othersPct: postgres === null ? null : pct(end.machineBusy - start.machineBusy - (end.process - start.process) - postgres),
      machineBusyPct: machineTotal > 0 ? Math.round(((end.machineBusy - start.machineBusy) / machineTotal) * 1000) / 10 : null,
    };
  };
}
