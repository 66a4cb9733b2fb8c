// The service's own metrics, recorded where things happen: each part is given the small recorder
// it needs (the event store's appends, the expiry timer's ticks, report generations) and the pools
// are read when scraped. All of it lives in the one registry GET /metrics serves, to which
// src/api/metrics.ts adds the request and projection metrics.
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DatabasePool } from 'slonik';

export interface ServiceMetrics {
  registry: Registry;
  appends: { appended(events: readonly { type: string }[]): void };
  timer: { tickEnded(outcome: { expired: number; failedUsers: number } | { skipped: string } | 'failed'): void };
  reports: { generated(outcome: 'succeeded' | 'failed', seconds: number): void };
}

type PoolCounts = Pick<Pool, 'totalCount' | 'idleCount' | 'waitingCount'>;

/** The pools a process uses: slonik's for writes and the read model, node-postgres's for the hot reads. */
export interface WatchedPools {
  write: DatabasePool;
  /** Counted when it is a node-postgres pool (tests may hand in something narrower). */
  read: object;
}

export function createServiceMetrics(pools?: WatchedPools): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const eventsAppended = new Counter({
    name: 'segments_events_appended_total',
    help: 'Events stored by appends of this process, by event type',
    labelNames: ['type'] as const,
    registers,
  });
  const timerRuns = new Counter({
    name: 'segments_expiry_timer_runs_total',
    help: 'Ticks of the membership expiry timer, by outcome: completed, failed, or skipped (another instance held the lock, or the previous tick still ran)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const expiriesRecorded = new Counter({
    name: 'segments_expiries_recorded_total',
    help: 'Membership expiries the timer appended (MembershipRemoved, reason expired)',
    registers,
  });
  const timerFailures = new Counter({
    name: 'segments_expiry_timer_failures_total',
    help: 'Failures of the expiry timer: kind "tick" for a tick that ended with an error (the database away), "user" for a user whose expiry could not be appended (the next tick retries both)',
    labelNames: ['kind'] as const,
    registers,
  });
  const reportDuration = new Histogram({
    name: 'segments_report_generation_duration_seconds',
    help: 'Time to generate and store a history report (POST /reports/history), by outcome: succeeded or failed',
    labelNames: ['outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers,
  });
  if (pools) watchPools(registry, pools);

  return {
    registry,
    appends: {
      appended(events) {
        for (const event of events) eventsAppended.inc({ type: event.type });
      },
    },
    timer: {
      tickEnded(outcome) {
        if (outcome === 'failed') {
          timerRuns.inc({ outcome: 'failed' });
          timerFailures.inc({ kind: 'tick' });
        } else if ('skipped' in outcome) {
          timerRuns.inc({ outcome: 'skipped' });
        } else {
          timerRuns.inc({ outcome: 'completed' });
          expiriesRecorded.inc(outcome.expired);
          timerFailures.inc({ kind: 'user' }, outcome.failedUsers);
        }
      },
    },
    reports: {
      generated(outcome, seconds) {
        reportDuration.observe({ outcome }, seconds);
      },
    },
  };
}

/** Open, idle and waiting connections of each pool, read when scraped. */
function watchPools(registry: Registry, pools: WatchedPools): void {
  const counts = (): Array<{ pool: string; total: number; idle: number; waiting: number }> => {
    const write = pools.write.state();
    const all = [{ pool: 'write', total: write.acquiredConnections + write.idleConnections, idle: write.idleConnections, waiting: write.waitingClients }];
    const read = pools.read as Partial<PoolCounts>;
    if (typeof read.totalCount === 'number') {
      all.push({ pool: 'read', total: read.totalCount, idle: read.idleCount ?? 0, waiting: read.waitingCount ?? 0 });
    }
    return all;
  };
  const poolGauge = (name: string, help: string, value: (pool: ReturnType<typeof counts>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['pool'] as const,
      registers: [registry],
      collect() {
        for (const pool of counts()) this.set({ pool: pool.pool }, value(pool));
      },
    });
  poolGauge('segments_database_pool_connections', 'Open connections of the pool, in use and idle: "write" is slonik\'s pool (commands, the projector, the read model), "read" node-postgres\'s (the hot reads and the event store\'s statements)', (pool) => pool.total);
  poolGauge('segments_database_pool_idle_connections', 'Open connections of the pool that nothing uses', (pool) => pool.idle);
  poolGauge('segments_database_pool_waiting_clients', 'Queries waiting for a connection of the pool: above 0 for long, the pool is too small (DATABASE_POOL_SIZE)', (pool) => pool.waiting);
}
