// LISTEN for the events table's append notifications: a hint that wakes subscribers early.
import { sleep } from '../../platform/sleep';
import { Client } from 'pg';

const CHANNEL = 'events_appended';

export class AppendListener {
  private pending: { promise: Promise<void>; resolve: () => void } | undefined;
  private client: Client | undefined;
  private reconnecting = false;
  private closed = false;

  private constructor(private readonly connectionString: string) {}

  static async connect(connectionString: string): Promise<AppendListener> {
    const listener = new AppendListener(connectionString);
    await listener.open().catch(() => listener.reconnectLater()); // polling works meanwhile
    return listener;
  }

  /** A promise settled at the next notification (or never, if notifications are down). */
  next(): Promise<void> {
    if (!this.pending) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      this.pending = { promise, resolve };
    }
    return this.pending.promise;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async open(): Promise<void> {
    const client = new Client({ connectionString: this.connectionString });
    client.on('notification', () => this.wakeAll());
    client.on('error', () => this.reconnectLater());
    client.on('end', () => this.reconnectLater());
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.client = client;
  }

  private reconnectLater(): void {
    if (this.closed || this.reconnecting) return;
    this.reconnecting = true;
    this.client = undefined;
    setTimeout(() => {
      this.reconnecting = false;
      if (!this.closed) this.open().catch(() => this.reconnectLater());
    }, 1_000).unref();
  }

  private wakeAll(): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve();
  }
}

/** Resolves on a notification, after `timeoutMs`, or when the signal aborts, whichever is first. */
export async function waitForAppend(wake: Promise<void>, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const woken = new AbortController();
  const end = () => woken.abort();
  signal.addEventListener('abort', end, { once: true });
  void wake.then(end);
  await sleep(timeoutMs, woken.signal);
  signal.removeEventListener('abort', end);
}
