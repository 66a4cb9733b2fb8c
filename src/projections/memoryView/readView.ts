// The in-memory view of one API process over its life: loaded from the read model's snapshot
// (viewSnapshot.ts), then kept current by following the global event feed through the event-store
// port from the snapshot's position, applying each batch with the read model's rules at once (no
// read sees half a batch). It knows its position, so X-Min-Position can wait on it, and it is
// ready once it has reached the position the read model had when the process started.
import type { Pool } from 'pg';
import type { DatabasePool } from 'slonik';
import type { EventStore, Position } from '../../eventstore/eventStore';
import { comparePositions, formatPosition, START_POSITION } from '../../eventstore/position';
import { sleep } from '../../platform/sleep';
import { readCheckpoint } from '../checkpoints';
import { READ_MODEL_PROJECTION } from '../readModel/readModelProjection';
import { applyReadModelStep, readModelSteps } from '../readModel/readModelRules';
import type { MembershipView } from './membershipView';
import { loadViewSnapshot } from './viewSnapshot';

export type ReadViewState = 'loading' | 'following' | 'failing' | 'stopped';

export interface ReadViewLogger {
  info(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface ReadViewOptions {
  /** node-postgres pool of the read model's database, for the snapshot. */
  pool: Pick<Pool, 'connect'>;
  store: EventStore;
  logger: ReadViewLogger;
  /** The read model's position when the process started: the view is ready from there on. */
  readyFrom: () => Promise<Position | null>;
  batchSize?: number;
  retryDelayMs?: number;
}

interface Waiter {
  position: Position;
  resolve: (reached: boolean) => void;
  timer: NodeJS.Timeout;
}

export class ReadView {
  private view: MembershipView | undefined;
  private position: Position | null = null;
  private readyAt: Position | null = null;
  private current: ReadViewState = 'stopped';
  private lastError: string | null = null;
  private readonly waiters = new Set<Waiter>();
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: ReadViewOptions) {}

  /** The view once loaded and caught up with the read model's position at start; undefined before. */
  get ready(): MembershipView | undefined {
    if (!this.view || (this.readyAt && !this.reached(this.readyAt))) return undefined;
    return this.view;
  }

  status(): { state: ReadViewState; position: Position | null; ready: boolean; memberships: number; users: number; lastError: string | null } {
    return {
      state: this.current,
      position: this.position,
      ready: this.ready !== undefined,
      memberships: this.view?.membershipTotal ?? 0,
      users: this.view?.userCount ?? 0,
      lastError: this.lastError,
    };
  }

  start(): void {
    if (this.loop) return;
    this.controller = new AbortController();
    this.loop = this.run(this.controller.signal);
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
    this.loop = undefined;
    this.current = 'stopped';
    for (const waiter of this.waiters) this.settle(waiter, false);
  }

  /** Resolves true once the view has applied `position`, false after `timeoutMs` or on stop. */
  waitFor(position: Position, timeoutMs: number): Promise<boolean> {
    if (this.reached(position)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = { position, resolve, timer: setTimeout(() => this.settle(waiter, false), timeoutMs) };
      this.waiters.add(waiter);
    });
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { logger } = this.options;
    const retryDelayMs = this.options.retryDelayMs ?? 1_000;
    while (!signal.aborted) {
      try {
        if (!this.view) await this.load();
        this.current = 'following';
        this.lastError = null;
        await this.follow(signal);
      } catch (error) {
        if (signal.aborted) break;
        this.current = 'failing';
        this.lastError = error instanceof Error ? error.message : String(error);
        logger.error({ err: error }, this.view ? 'read view lost the event feed; it resumes from its position' : 'read view did not load');
        await sleep(retryDelayMs, signal);
      }
    }
  }

  private async load(): Promise<void> {
    const { logger } = this.options;
    this.current = 'loading';
    const startedAt = Date.now();
    this.readyAt = await this.options.readyFrom();
    const snapshot = await loadViewSnapshot(this.options.pool, (memberships) => logger.info({ memberships }, 'read view loading'));
    this.view = snapshot.view;
    this.position = snapshot.position;
    const { membershipTotal: memberships, userCount: users } = snapshot.view;
    logger.info(
      { memberships, users, position: this.position && formatPosition(this.position), loadMs: Date.now() - startedAt },
      'read view loaded',
    );
    this.wakeWaiters();
  }

  private async follow(signal: AbortSignal): Promise<void> {
    const view = this.view!;
    const batchSize = this.options.batchSize ?? 1_000;
    for await (const batch of this.options.store.subscribeToAll({ from: this.position ?? undefined, batchSize, signal })) {
      if (batch.length === 0) continue;
      for (const step of readModelSteps(batch)) applyReadModelStep(view, step);
      this.position = batch[batch.length - 1]!.position;
      this.wakeWaiters();
    }
  }

  private reached(position: Position): boolean {
    return this.view !== undefined && comparePositions(this.position ?? START_POSITION, position) >= 0;
  }

  private wakeWaiters(): void {
    for (const waiter of this.waiters) if (this.reached(waiter.position)) this.settle(waiter, true);
  }

  private settle(waiter: Waiter, reached: boolean): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
    waiter.resolve(reached);
  }
}

/** The view of an API process, ready once it has reached the read model's checkpoint at start. */
export function createReadView(deps: { pool: DatabasePool; readPool: Pick<Pool, 'connect'>; store: EventStore; logger: ReadViewLogger }): ReadView {
  const { pool, readPool, store, logger } = deps;
  const readyFrom = async () => (await readCheckpoint(pool, READ_MODEL_PROJECTION))?.position ?? null;
  return new ReadView({ pool: readPool, store, logger, readyFrom });
}
