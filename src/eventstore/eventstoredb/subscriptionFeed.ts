// Turns one EventStoreDB catch-up subscription (a Node readable) into batches, with backpressure,
// remembering where the server said "caught up" and whether the subscription dropped.
import type { AllStreamResolvedEvent, AllStreamSubscription } from '@eventstore/db-client';

export type FeedItem =
  | { kind: 'events'; events: AllStreamResolvedEvent[]; caughtUp: boolean }
  | { kind: 'dropped'; error: Error };

export class SubscriptionFeed {
  private readonly queue: AllStreamResolvedEvent[] = [];
  private delivered = 0;
  private taken = 0;
  /** The count of delivered events at which the server reported being caught up. */
  private caughtUpAt: number | undefined;
  private dropped: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly subscription: AllStreamSubscription,
    private readonly highWaterMark: number,
  ) {
    subscription.on('data', (event: AllStreamResolvedEvent) => {
      this.queue.push(event);
      this.delivered++;
      if (this.queue.length >= this.highWaterMark) subscription.pause();
      this.notify();
    });
    subscription.on('caughtUp', () => {
      // Events the server sent before this message may still sit in the readable's buffer.
      this.caughtUpAt = this.delivered + subscription.readableLength;
      this.notify();
    });
    subscription.on('error', (error: Error) => this.drop(error));
    subscription.on('end', () => this.drop(new Error('the subscription ended')));
    subscription.on('close', () => this.drop(new Error('the subscription closed')));
  }

  /** Up to `max` events as soon as any are there, or a caught-up marker, or the reason it dropped. */
  async next(max: number, signal: AbortSignal): Promise<FeedItem | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      if (this.queue.length > 0) {
        const events = this.queue.splice(0, max);
        this.taken += events.length;
        if (this.queue.length < this.highWaterMark / 2 && this.subscription.isPaused()) this.subscription.resume();
        return { kind: 'events', events, caughtUp: this.isCaughtUp() };
      }
      if (this.isCaughtUp()) {
        this.caughtUpAt = undefined; // reported once; the server says it again after falling behind
        return { kind: 'events', events: [], caughtUp: true };
      }
      if (this.dropped) return { kind: 'dropped', error: this.dropped };
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          this.wake = undefined;
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  async close(): Promise<void> {
    this.subscription.removeAllListeners('data');
    // A subscription that already failed has nothing to cancel.
    await this.subscription.unsubscribe().catch(() => undefined);
    this.subscription.destroy();
  }

  private isCaughtUp(): boolean {
    return this.caughtUpAt !== undefined && this.taken >= this.caughtUpAt;
  }

  private drop(error: Error): void {
    this.dropped ??= error;
    this.notify();
  }

  private notify(): void {
    this.wake?.();
  }
}
