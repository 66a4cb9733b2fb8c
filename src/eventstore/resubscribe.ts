// What both adapters do when their subscription to all events loses the store: tell the caller,
// then pause with exponential backoff and jitter before subscribing again.
import { sleep } from '../platform/sleep';

export interface ResubscribeOptions {
  /** Pause before subscribing again after a drop: doubles from `initialMs` up to `maxMs`. */
  resubscribeBackoff?: { initialMs: number; maxMs: number };
  /** Told about each drop before the pause, e.g. to log it. */
  onSubscriptionDropped?: (error: Error, attempt: number, delayMs: number) => void;
}

/** The pause after the `failures`-th drop in a row (1 for the first); ends early on abort. */
export async function pauseAfterDrop(options: ResubscribeOptions, error: Error, failures: number, signal: AbortSignal): Promise<void> {
  const { initialMs, maxMs } = options.resubscribeBackoff ?? { initialMs: 100, maxMs: 5_000 };
  const delayMs = Math.min(initialMs * 2 ** (failures - 1), maxMs);
  options.onSubscriptionDropped?.(error, failures, delayMs);
  await sleep(delayMs * (0.5 + Math.random() / 2), signal);
}
