// LISTEN for the events table's append notifications: a hint that wakes subscribers early.
import net from 'node:net';
import { Client } from 'pg';
import { sleep } from '../../platform/sleep';

const CHANNEL = 'events_appended';

export class AppendListener {
  /** Notifications received so far: a subscriber marks this before reading, then waits for more. */
  private notifications = 0;
  /** Each waiting subscriber's wake-up, removed when it wakes for any reason: nothing piles up while idle. */
  private readonly waiters = new Set<() => void>();
  private client: Client | undefined;
  /**
   * The socket of a connection being opened (at start or by a reconnect): close() must end it too,
   * or it outlives the store. Destroyed rather than ended: a server that has not answered yet never
   * completes the goodbye, and `end()` on a connecting client would wait for it forever.
   */
  private connecting: net.Socket | undefined;
  private reconnecting = false;
  private closed = false;

  private constructor(private readonly connectionString: string) {}

  static async connect(connectionString: string): Promise<AppendListener> {
    const listener = new AppendListener(connectionString);
    await listener.open().catch(() => listener.reconnectLater()); // polling works meanwhile
    return listener;
  }

  /** The notifications so far; `waitAfter` returns at once if any arrived since. */
  mark(): number {
    return this.notifications;
  }

  /** Resolves at the first notification after `mark`, after `timeoutMs`, or when `signal` aborts. */
  async waitAfter(mark: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.notifications > mark || this.closed || signal.aborted) return;
    const woken = new AbortController();
    const wake = () => woken.abort();
    this.waiters.add(wake);
    signal.addEventListener('abort', wake, { once: true });
    try {
      await sleep(timeoutMs, woken.signal);
    } finally {
      this.waiters.delete(wake);
      signal.removeEventListener('abort', wake);
    }
  }

  /** Subscribers waiting now (for tests of the listener's own bookkeeping). */
  get waiting(): number {
    return this.waiters.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
    const client = this.client;
    this.client = undefined;
    this.connecting?.destroy(); // its connect() then fails, and open() ends the client
    this.connecting = undefined;
    await client?.end().catch(() => undefined);
  }

  private async open(): Promise<void> {
    const socket = new net.Socket();
    const client = new Client({ connectionString: this.connectionString, stream: () => socket });
    client.on('notification', () => this.wakeAll());
    client.on('error', () => this.reconnectLater());
    client.on('end', () => this.reconnectLater());
    this.connecting = socket;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    } finally {
      if (this.connecting === socket) this.connecting = undefined;
    }
    if (this.closed) {
      await client.end().catch(() => undefined); // closed while it connected
      return;
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
    this.notifications++;
    for (const wake of [...this.waiters]) wake();
  }
}
