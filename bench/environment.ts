// What a run measures on: its database, the service and the baselines in processes of their own,
// and the event store the data is appended through. Everything started is undone by `Cleanups`.
import { rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createEventStore } from '../src/eventstore/createEventStore';
import type { EventStore } from '../src/eventstore/eventStore';
import { applySchema, closePool, createDatabasePool } from '../src/platform/database';
import { createCpuMeter, type CpuMeter } from './cpu';
import { openBenchDatabase, type BenchDatabase } from './database';
import { startBaselines, startService, type ChildServer, type ServiceSettings } from './processes';
import { ServiceClient } from './serviceClient';

/** The service's API token for this run (API_TOKENS wants at least 16 characters). */
export const TOKEN = 'bench-harness-token';

/** Things to undo on the way out, last first. */
export class Cleanups {
  private readonly steps: Array<{ label: string; run: () => Promise<unknown> }> = [];

  constructor(private readonly progress: (message: string) => void) {}

  add(label: string, run: () => Promise<unknown>): void {
    this.steps.push({ label, run });
  }

  async runAll(): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step.run();
      } catch (error) {
        this.progress(`shutdown: ${step.label} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

export interface Environment {
  db: BenchDatabase;
  /** The service's own event store over the run's database, for seeding. */
  store: EventStore;
  service: ChildServer;
  /** How the service was started: further processes of it (API-only) start the same way. */
  serviceSettings: ServiceSettings;
  baselines: ChildServer;
  client: ServiceClient;
  cpu: CpuMeter;
}

export async function startEnvironment(options: {
  serviceEnv: Record<string, string>;
  cleanups: Cleanups;
  progress: (message: string) => void;
  onUnexpectedExit: (reason: string) => void;
}): Promise<Environment> {
  const { cleanups, progress, onUnexpectedExit } = options;
  const db = await openBenchDatabase(progress);
  cleanups.add('close the database', () => db.close());
  await applySchema(db.url);

  // Where the service keeps local reports; the benchmark makes none, but the folder must exist.
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'segments-bench-data-'));
  const removeDataDir = () => rmSync(dataDir, { recursive: true, force: true });
  process.once('exit', removeDataDir);
  cleanups.add('remove the service data folder', async () => removeDataDir());

  const pool = await createDatabasePool(db.url, { maximumPoolSize: 4 });
  const store = createEventStore({ kind: 'postgres' }, { pool, databaseUrl: db.url });
  cleanups.add('close the seeding store', async () => {
    await store.close();
    await closePool(pool);
  });

  const serviceSettings: ServiceSettings = {
    databaseUrl: db.url,
    dataDir,
    apiTokens: `bench:${TOKEN}:admin`,
    extraEnv: options.serviceEnv,
    progress,
    onUnexpectedExit,
  };
  const service = await startService(serviceSettings);
  cleanups.add('stop the service', () => service.stop());
  const baselines = await startBaselines({ databaseUrl: db.url, progress, onUnexpectedExit });
  cleanups.add('stop the baselines', () => baselines.stop());

  if (db.postmasterPid === undefined) progress('PostgreSQL does not run on this machine: its CPU is not measured');
  const cpu = createCpuMeter({ service: service.pid, baselines: baselines.pid, postmaster: db.postmasterPid });
  return { db, store, service, serviceSettings, baselines, client: new ServiceClient(service.url, TOKEN), cpu };
}
