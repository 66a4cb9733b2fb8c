// Just the part of autocannon 9 that bench/load.ts uses (the package ships no types, and adding
// @types/autocannon is not worth a dependency for one script).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    interface RequestSpec {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      /** A function, or (with `workers`) the absolute path of a CommonJS file exporting one. */
      setupRequest?: string | ((request: RequestSpec, context: Record<string, unknown>) => RequestSpec | null | undefined);
      /** A function, or (with `workers`) the absolute path of a CommonJS file exporting one. */
      onResponse?: string | ((status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void);
      /** Extra fields travel with the request to setupRequest (also into worker threads). */
      [extra: string]: unknown;
    }

    interface Options {
      url: string;
      connections?: number;
      /** Seconds. */
      duration?: number;
      /** Worker threads that generate the load (0: the calling thread). */
      workers?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      requests?: RequestSpec[];
      /** Seconds before a request times out. */
      timeout?: number;
      title?: string;
    }

    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p2_5: number;
      p50: number;
      p75: number;
      p90: number;
      p97_5: number;
      p99: number;
      p99_9: number;
      sent?: number;
      totalCount?: number;
    }

    interface Result {
      title?: string;
      url: string;
      connections: number;
      /** Seconds. */
      duration: number;
      start: Date;
      finish: Date;
      errors: number;
      timeouts: number;
      mismatches: number;
      non2xx: number;
      resets: number;
      '1xx': number;
      '2xx': number;
      '3xx': number;
      '4xx': number;
      '5xx': number;
      statusCodeStats: Record<string, { count: number }>;
      /** Milliseconds, recorded at 1 ms resolution. */
      latency: Histogram;
      /** Completed requests per sampled second; `total` is all completed requests. */
      requests: Histogram;
      throughput: Histogram;
    }

    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
    }
  }

  function autocannon(options: autocannon.Options): autocannon.Instance;
  export = autocannon;
}
