// Runs one projection: holds its advisory lock (one active instance; others stand by), reads
// batches from the event store and applies each in one transaction with the checkpoint.
//
// The lock lives as long as the session that took it, and every batch is written through that
// session. A process killed outright closes it, and a standby takes the lock at its next try. A
// process that stops without closing it (frozen, its host or network gone) would keep it for good,
// so the session asks the server to end it when it stays idle for `sessionTimeoutMs`, and the
// active instance sends a heartbeat well within that while it waits for events. A process that
// wakes up after its session was ended finds its connection gone: it cannot write a batch after
// the standby took over, and it stands by.
import { sql, type DatabasePool, type DatabasePoolConnection } from 'slonik';
import type { EventStore, Position, RecordedEvent } from '../eventstore/eventStore';
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
  /** The server ends the active instance's session after this long without a word from it. */
  sessionTimeoutMs?: number;
}

/**
 * Long enough that a process starved of CPU for a few seconds keeps the projection (losing it
 * costs a failed batch and a takeover, never data), short enough that a frozen one gives it up soon.
 */
export const PROJECTOR_SESSION_TIMEOUT_MS = 10_000;

/** The next result, or undefined once `ms` pass without one (the promise stays valid to wait on again). */
async function within<T>(next: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([next, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
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
    const timeoutMs = String(this.options.sessionTimeoutMs ?? PROJECTOR_SESSION_TIMEOUT_MS);
    // idle_session_timeout is PostgreSQL 14 or later; before, only a dead connection frees the lock.
    await connection.query(sql.unsafe`
      SELECT set_config(name, ${timeoutMs}, false) FROM pg_settings
      WHERE name IN ('idle_session_timeout', 'idle_in_transaction_session_timeout')`);
    // Ends this round's subscription however the round ends, so that no poll outlives it.
    const round = new AbortController();
    try {
      await this.applyBatches(connection, AbortSignal.any([signal, round.signal]));
    } finally {
      round.abort();
      // The connection goes back to the pool without the timeouts (when it is still alive).
      await connection.query(sql.unsafe`RESET idle_session_timeout`).catch(() => undefined);
      await connection.query(sql.unsafe`RESET idle_in_transaction_session_timeout`).catch(() => undefined);
    }
  }

  private async applyBatches(connection: DatabasePoolConnection, signal: AbortSignal): Promise<void> {
    const { store, projection, logger } = this.options;
    const batchSize = this.options.batchSize ?? 1_000;
    const checkpoint = await readCheckpoint(connection, projection.name);
    this.current = { ...this.current, state: 'catching_up', position: checkpoint?.position ?? null, lastError: null };
    logger.info({ projection: projection.name, from: checkpoint ? formatPosition(checkpoint.position) : null }, 'projection active');

    const batches = store.subscribeToAll({ from: checkpoint?.position, batchSize, signal })[Symbol.asyncIterator]();
    try {
      await this.applyEach(batches, connection);
    } finally {
      // As `for await` would on leaving early; the subscription ends at once, or with the round's abort.
      void batches.return?.(undefined).catch(() => undefined);
    }
  }

  private async applyEach(batches: AsyncIterator<RecordedEvent[]>, connection: DatabasePoolConnection): Promise<void> {
    const { projection } = this.options;
    const batchSize = this.options.batchSize ?? 1_000;
    const heartbeatMs = (this.options.sessionTimeoutMs ?? PROJECTOR_SESSION_TIMEOUT_MS) / 5;
    for (let next = batches.next(); ; next = batches.next()) {
      let arrived = await within(next, heartbeatMs);
      while (arrived === undefined) {
        await connection.query(sql.unsafe`SELECT 1`);
        arrived = await within(next, heartbeatMs);
      }
      if (arrived.done) return;
      const batch = arrived.value;
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
