// A whole process's resident memory, as the kernel counts it (/proc/<pid>/status; Linux only):
// the V8 heap, Node.js, native buffers and code, all of it, which is what a host has to provide.
import { readFileSync } from 'node:fs';

export interface ResidentMemory {
  /** VmRSS: resident now. */
  rssBytes: number;
  /** VmHWM: the most the process has had resident since it started. */
  peakRssBytes: number;
}

/** null where /proc is missing or the process is gone. */
export function residentMemoryOf(pid: number): ResidentMemory | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kilobytes = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : null;
  };
  const rssBytes = kilobytes('VmRSS');
  const peakRssBytes = kilobytes('VmHWM');
  return rssBytes === null || peakRssBytes === null ? null : { rssBytes, peakRssBytes };
}
