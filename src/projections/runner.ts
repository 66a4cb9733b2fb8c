// Runs one projection: holds its advisory lock (one active instance; others stand by), reads
// batches from the event store and applies each in one transaction with the checkpoint.
import type { DatabasePool, DatabasePoolConnection } from 'slonik';
import type { EventStore, Position } from '../eventstore/eventStore';
import { formatPosition } from '../eventstore/position';
import { readCheckpoint, writeCheckpoint } from './checkpoints';
import type { Projection } from './projection';
import { waitWhilePaused } from './rebuild/projectorPause';
import { withTryAdvisoryLock } from '../platform/database';
import { sleep } from '../platform/sleep';

export type RunnerState = 'stopped' | 'standby' | 'catching_up' | 'live' | 'failing';

export interface RunnerStatus {
  projection: string;
  state: RunnerState;
  position: Position | null;
  lastAppliedAt: Date | null;
  lastError: string | null;
}

export interface RunnerLogger {
  info(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface ProjectionRunnerOptions {
  pool: DatabasePool;
  store: EventStore;
  projection: Projection;
  logger: RunnerLogger;
  batchSize?: number;
  /** Pause before another try after a failure or while another instance holds the lock. */
  retryDelayMs?: number;
  /** Called after each committed batch (in this process). */
  onBatchCommitted?: (position: Position, count: number) => void;
}

export class ProjectionRunner {
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private current: RunnerStatus;

  constructor(private readonly options: ProjectionRunnerOptions) {
    this.current = { projection: options.projection.name, state: 'stopped', position: null, lastAppliedAt: null, lastError: null };
  }

  status(): RunnerStatus {
    return { ...this.current };
  }

  start(): void {
    if (this.loop) return;
    this.controller = new AbortController();
    this.loop = this.runUntilStopped(this.controller.signal);
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
    this.loop = undefined;
    this.current.state = 'stopped';
  }

  private async runUntilStopped(signal: AbortSignal): Promise<void> {
    const { pool, projection, logger } = this.options;
    const retryDelayMs = this.options.retryDelayMs ?? 1_000;
    while (!signal.aborted) {
      try {
        const round = await withTryAdvisoryLock(pool, `projection:${projection.name}`, (connection) =>
          this.applyUntilStopped(connection, signal),
        );
        if (!round.locked) this.current.state = 'standby';
      } catch (error) {
        if (signal.aborted) break;
        this.current.state = 'failing';
        this.current.lastError = error instanceof Error ? error.message : String(error);
        logger.error({ err: error, projection: projection.name }, 'projection failed; it resumes from its checkpoint');
      }
      await sleep(retryDelayMs, signal);
    }
  }

  private async applyUntilStopped(connection: DatabasePoolConnection, signal: AbortSignal): Promise<void> {
    const { store, projection, logger } = this.options;
    const batchSize = this.options.batchSize ?? 1_000;
    const checkpoint = await readCheckpoint(connection, projection.name);
    this.current = { ...this.current, state: 'catching_up', position: checkpoint?.position ?? null, lastError: null };
    logger.info({ projection: projection.name, from: checkpoint ? formatPosition(checkpoint.position) : null }, 'projection active');

    for await (const batch of store.subscribeToAll({ from: checkpoint?.position, batchSize, signal })) {
      if (batch.length === 0) {
        this.current.state = 'live';
        continue;
      }
      const last = batch[batch.length - 1]!.position;
      await connection.transaction(async (tx) => {
        // A rebuild swapping in its tables pauses the projector here, between two batches.
        await waitWhilePaused(tx, projection.name);
        await projection.applyBatch(tx, batch);
        await writeCheckpoint(tx, projection.name, last, batch.length);
      });
      this.current.position = last;
      this.current.lastAppliedAt = new Date();
      this.current.state = batch.length < batchSize ? 'live' : 'catching_up';
      this.options.onBatchCommitted?.(last, batch.length);
    }
  }
}
