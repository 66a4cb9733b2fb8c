// The harness's own calls to the service over HTTP (set-up, probes), with its bearer token.
import { setTimeout as sleep } from 'node:timers/promises';

export interface Answer {
  status: number;
  body: unknown;
}

export interface UserWrite {
  status: number;
  /** "commit/prepare", to send back as X-Min-Position. */
  position: string | null;
  added: string[];
  removed: string[];
  segments: string[];
  problem: string | null;
}

interface ProjectionView {
  projection: string;
  state: string;
  eventsApplied: number;
  lagEvents: number | null;
  lastError: string | null;
}

export class ServiceClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async request(method: string, route: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 60_000): Promise<Answer> {
    const response = await fetch(`${this.url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed };
  }

  /** The body of a 2xx answer; anything else is an error naming the route and the answer. */
  async ok(method: string, route: string, body?: unknown): Promise<unknown> {
    const answer = await this.request(method, route, body);
    if (answer.status < 200 || answer.status > 299) {
      throw new Error(`${method} ${route} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
    }
    return answer.body;
  }

  async writeUser(userId: number, add: readonly string[], remove: readonly string[], timeoutMs?: number): Promise<UserWrite> {
    const answer = await this.request('POST', `/users/${userId}/segments`, { add, remove }, {}, timeoutMs);
    const body = answer.body as { position?: string; added?: string[]; removed?: string[]; segments?: { slug: string }[]; title?: string };
    return {
      status: answer.status,
      position: body?.position ?? null,
      added: body?.added ?? [],
      removed: body?.removed ?? [],
      segments: (body?.segments ?? []).map((segment) => segment.slug),
      problem: answer.status === 200 ? null : JSON.stringify(answer.body).slice(0, 300),
    };
  }

  /** The slugs of a user's active segments, and their sources. */
  async readUser(userId: number, minPosition?: string): Promise<{ status: number; segments: Array<{ slug: string; source: string }> }> {
    const answer = await this.request('GET', `/users/${userId}/segments`, undefined, minPosition ? { 'x-min-position': minPosition } : {});
    return { status: answer.status, segments: (answer.body as { segments?: Array<{ slug: string; source: string }> })?.segments ?? [] };
  }

  async readModel(): Promise<ProjectionView> {
    const body = (await this.ok('GET', '/projections')) as { projections: ProjectionView[] };
    const view = body.projections.find((item) => item.projection === 'read_model');
    if (!view) throw new Error('GET /projections lists no read_model projection');
    return view;
  }

  /**
   * Waits until the read model has no pending event (GET /projections: lagEvents 0), reporting
   * progress now and then; resolves with the seconds it took.
   */
  async waitForReadModel(label: string, progress: (message: string) => void, options: { timeoutSeconds: number; aborted: () => boolean }): Promise<number> {
    const began = Date.now();
    let lastReport = began;
    let lastApplied: number | undefined;
    for (;;) {
      if (options.aborted()) throw new Error('interrupted');
      const view = await this.readModel();
      if (view.lagEvents === 0) return (Date.now() - began) / 1000;
      if (view.lastError) progress(`${label}: projection error: ${view.lastError}`);
      if (Date.now() - lastReport >= 5_000) {
        const rate = lastApplied === undefined ? '' : `, ${Math.round(((view.eventsApplied - lastApplied) * 1000) / (Date.now() - lastReport))} events/s`;
        progress(`${label}: read model ${view.state}, ${view.eventsApplied} events applied, ${view.lagEvents ?? '?'} pending${rate}`);
        lastReport = Date.now();
        lastApplied = view.eventsApplied;
      }
      lastApplied ??= view.eventsApplied;
      if (Date.now() - began > options.timeoutSeconds * 1000) {
        throw new Error(`${label}: the read model did not catch up within ${options.timeoutSeconds} s (${view.lagEvents ?? '?'} events pending)`);
      }
      // Counting the lag reads up to a million index entries: ask often only when it is small.
      await sleep(view.lagEvents !== null && view.lagEvents < 20_000 ? 50 : 1_000);
    }
  }
}
