// What a result was measured on: the machine, Node.js, and the code (git HEAD, read only).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { round } from './stats';

export interface MachineInfo {
  cpuModel: string;
  nproc: number;
  memoryGiB: number;
  platform: string;
  node: string;
  /** 1, 5 and 15 minute load averages when the run began: anything else busy on the machine. */
  loadAverageAtStart: number[];
}

export function machineInfo(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    // os.cpus() may report an empty model inside some VMs; /proc/cpuinfo has the name.
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() || cpuModel;
  } catch {
    // not Linux
  }
  return {
    cpuModel,
    nproc: os.availableParallelism(),
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((value) => round(value, 2)),
  };
}

export interface CodeVersion {
  commit: string | null;
  /** Whether src/ or infra/ differ from HEAD: then the commit alone does not name the code measured. */
  uncommittedChanges: boolean | null;
}

export function codeVersion(): CodeVersion {
  // Read-only git: no optional locks, so that a run never touches the index another git uses.
  const git = (...args: string[]) =>
    execFileSync('git', ['--no-optional-locks', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], cwd: __dirname }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    const changed = git('status', '--porcelain', '--', '../src', '../infra');
    return { commit, uncommittedChanges: changed.length > 0 };
  } catch {
    return { commit: null, uncommittedChanges: null };
  }
}
