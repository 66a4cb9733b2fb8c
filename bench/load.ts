// Load phases: autocannon in a worker thread of the harness (the servers run in processes of their
// own), a warm-up that is not counted, then the measured run, with the CPU of each process.
import path from 'node:path';
import autocannon from 'autocannon';
import type { CpuMeter, CpuShare } from './cpu';
import { round } from './stats';

/** What bench/load/setupRequest.cjs builds; the fields travel into the worker thread with the request. */
export interface LoadTarget {
  url: string;
  kind: 'ping' | 'baselineRead' | 'baselineWrite' | 'serviceRead' | 'serviceWrite' | 'serviceMix';
  /** Requests pick user ids from 1 to this. */
  users: number;
  /** Manual slugs the writes choose from. */
  slugs?: readonly string[];
  token?: string;
}

export interface PhaseSpec {
  id: string;
  label: string;
  what: string;
  target: LoadTarget;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
}

export interface PhaseResult {
  id: string;
  label: string;
  what: string;
  users: number;
  connections: number;
  requestsPerSecond: number;
  requests: number;
  durationSeconds: number;
  /** autocannon's histogram, 1 ms resolution. */
  latencyMs: { p50: number; p99: number; mean: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  cpu: CpuShare;
}

const SETUP_REQUEST = path.join(__dirname, 'load', 'setupRequest.cjs');
const REPORT_NON_2XX = path.join(__dirname, 'load', 'reportNon2xx.cjs');

export class LoadGenerator {
  private current: autocannon.Instance | undefined;
  private stopped = false;
  /** Settles the run in progress when the load is stopped: autocannon's promise does not, with workers. */
  private readonly interrupted: Promise<never>;
  private interrupt: (error: Error) => void = () => undefined;

  constructor(
    private readonly cpu: CpuMeter,
    private readonly progress: (message: string) => void,
  ) {
    this.interrupted = new Promise<never>((_, reject) => {
      this.interrupt = reject;
    });
    this.interrupted.catch(() => undefined);
  }

  /** Stops the load now (Ctrl-C); later phases do not start. */
  stop(): void {
    this.stopped = true;
    this.current?.stop();
    this.interrupt(new Error('interrupted'));
  }

  /**
   * Warm-up, then the measured run. `during` runs beside the measured run only (a probe), and is
   * told to finish when the load ends; its result comes back with the phase's.
   */
  async measure<T = undefined>(spec: PhaseSpec, during?: (signal: AbortSignal) => Promise<T>): Promise<{ phase: PhaseResult; side: T | undefined }> {
    if (spec.warmupSeconds > 0) {
      this.progress(`${spec.label}: warm-up ${spec.warmupSeconds} s`);
      await this.run(spec.target, spec.connections, spec.warmupSeconds);
    }
    this.progress(`${spec.label}: measuring ${spec.durationSeconds} s, ${spec.connections} connections, users 1…${spec.target.users}`);
    const controller = new AbortController();
    const stopCpu = this.cpu.start();
    const sideRun = during?.(controller.signal);
    // Awaited after the load; a failure meanwhile must not count as unhandled.
    sideRun?.catch(() => undefined);
    let result: autocannon.Result;
    try {
      result = await this.run(spec.target, spec.connections, spec.durationSeconds);
    } finally {
      controller.abort();
    }
    const side = await sideRun;
    const phase = toPhaseResult(spec, result, stopCpu());
    this.progress(
      `${spec.label}: ${phase.requestsPerSecond} req/s, p50 ${phase.latencyMs.p50} ms, p99 ${phase.latencyMs.p99} ms, ` +
        `non-2xx ${phase.non2xx}, errors ${phase.errors}, status ${JSON.stringify(phase.statusCodes)}`,
    );
    return { phase, side };
  }

  /** Load that is not measured: a service that just started runs slower until its code is compiled and its caches are warm. */
  async warmUp(label: string, target: LoadTarget, connections: number, seconds: number): Promise<void> {
    this.progress(`${label}: ${seconds} s, not measured`);
    await this.run(target, connections, seconds);
  }

  private async run(target: LoadTarget, connections: number, seconds: number): Promise<autocannon.Result> {
    if (this.stopped) throw new Error('interrupted');
    const { url, token, ...fields } = target;
    const instance = autocannon({
      url,
      workers: 1,
      connections,
      duration: seconds,
      timeout: 30,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      requests: [{ setupRequest: SETUP_REQUEST, onResponse: REPORT_NON_2XX, ...fields, slugs: fields.slugs ? [...fields.slugs] : [] }],
    });
    this.current = instance;
    try {
      return await Promise.race([instance, this.interrupted]);
    } finally {
      this.current = undefined;
    }
  }
}

function toPhaseResult(spec: PhaseSpec, result: autocannon.Result, cpu: CpuShare): PhaseResult {
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats)) statusCodes[code] = stat.count;
  return {
    id: spec.id,
    label: spec.label,
    what: spec.what,
    users: spec.target.users,
    connections: spec.connections,
    // Completed requests over the run, not the mean of per-second samples: short runs have few.
    requestsPerSecond: round(result.requests.total / result.duration, 1),
    requests: result.requests.total,
    durationSeconds: round(result.duration, 2),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, mean: round(result.latency.average), max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    cpu,
  };
}
