// Builds the run's data set in steps: append users through the event store, wait until the
// service's projector has built the read model, read a sample back, and let PostgreSQL settle.
import { Client } from 'pg';
import type { Environment } from './environment';
import type { SeedingStep } from './results';
import { checkSeededUsers, MembershipDraw, seedExpiry, seedLongStream, seedUsers, type Segment } from './seed';
import { round } from './stats';

/** Users read back after each step, spread over the step. */
const CHECKED_USERS = 25;

export class Dataset {
  readonly steps: SeedingStep[] = [];
  memberships = 0;
  membershipsWithExpiry = 0;
  private readonly draw: MembershipDraw;

  constructor(
    private readonly env: Environment,
    manualSegments: readonly Segment[],
    private readonly options: {
      seed: number;
      batchUsers: number;
      progress: (message: string) => void;
      aborted: () => boolean;
      /** Waits until the read model has no pending event; resolves with the seconds it took. */
      settle: (label: string) => Promise<number>;
    },
  ) {
    this.draw = new MembershipDraw(options.seed, manualSegments, seedExpiry(new Date()));
  }

  /** Users `from`…`to` (in order after the previous step), and optionally one user with a long stream. */
  async seed(from: number, to: number, longStream?: { userId: number; segment: Segment; events: number }): Promise<void> {
    const { store, client, cpu, db } = this.env;
    const { progress, aborted } = this.options;
    const began = Date.now();
    const stopCpu = cpu.start();
    const sample = new Set(Array.from({ length: CHECKED_USERS }, (_, i) => from + Math.floor(((to - from) * i) / (CHECKED_USERS - 1))));
    const readModel = async () => {
      const view = await client.readModel();
      return `${view.state}, ${view.eventsApplied} events applied, ${view.lagEvents ?? '?'} pending`;
    };
    const seeded = await seedUsers(store, this.draw, { from, to, batchUsers: this.options.batchUsers }, sample, { progress, aborted, readModel });
    this.memberships += seeded.stats.events;
    this.membershipsWithExpiry += seeded.stats.withExpiry;
    let events = seeded.stats.events;
    if (longStream) {
      const seconds = await seedLongStream(store, longStream.userId, longStream.segment, longStream.events);
      progress(`seeding: user ${longStream.userId} got ${longStream.events} events in ${seconds.toFixed(1)} s`);
      events += longStream.events;
    }
    const appendSeconds = (Date.now() - began) / 1000;
    const catchUp = await this.options.settle(`read model after users ${from}…${to}`);
    const projectionSeconds = (Date.now() - began) / 1000;
    const cpuShare = stopCpu();
    await checkSeededUsers(client, seeded.expected);
    const vacuumSeconds = await settleTables(db.url);
    const step: SeedingStep = {
      users: { from, to },
      events,
      appendSeconds: round(appendSeconds, 2),
      appendEventsPerSecond: Math.round(events / appendSeconds),
      projectionSeconds: round(projectionSeconds, 2),
      projectionEventsPerSecond: Math.round(events / projectionSeconds),
      catchUpAfterAppendSeconds: round(catchUp, 2),
      cpu: cpuShare,
      vacuumSeconds: round(vacuumSeconds, 2),
    };
    progress(
      `seeding: ${events} events appended in ${step.appendSeconds} s (${step.appendEventsPerSecond}/s); read model built ` +
        `${step.projectionSeconds} s after the first append (${step.projectionEventsPerSecond}/s); ${sample.size} users read back; ` +
        `VACUUM ANALYZE and CHECKPOINT ${step.vacuumSeconds} s; cpu ${JSON.stringify(cpuShare)}`,
    );
    this.steps.push(step);
  }
}

/**
 * After a load of millions of rows autovacuum and the checkpointer get busy for a while; done here,
 * before the phases, that work does not land in one phase and not in another. Returns the seconds.
 */
async function settleTables(databaseUrl: string): Promise<number> {
  const began = Date.now();
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('VACUUM (ANALYZE) events, memberships, membership_audit');
    // Needs superuser or pg_checkpoint; on a server where the run has neither it is left out.
    await client.query('CHECKPOINT').catch(() => undefined);
  } finally {
    await client.end();
  }
  return (Date.now() - began) / 1000;
}
