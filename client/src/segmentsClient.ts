// A typed client of the segmentation service: the routes and their types come from
// docs/openapi.json (api.generated.ts); this file adds read-your-writes, retries on 503 and
// problem documents thrown as SegmentsProblem.
import { randomUUID } from 'node:crypto';
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from './api.generated';
import { LastWritePosition } from './lastWritePosition';
import { SegmentsProblem } from './problem';
import { DEFAULT_RETRY_POLICY, retryingFetch, type RetryPolicy } from './retry';

type Operation<Path extends keyof paths, Method extends keyof paths[Path]> = paths[Path][Method];
type JsonBody<O> = O extends { requestBody: { content: infer Content } } ? Content[keyof Content] : never;
type Query<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

export type NewSegment = JsonBody<Operation<'/segments', 'post'>>;
export type SegmentChange = JsonBody<Operation<'/segments/{slug}', 'patch'>>;
export type MembersChange = JsonBody<Operation<'/segments/{slug}/members', 'post'>>;
export type UserSegmentsChange = JsonBody<Operation<'/users/{userId}/segments', 'post'>>;
export type HistoryReportRequest = JsonBody<Operation<'/reports/history', 'post'>>;
export type Page = Query<Operation<'/segments', 'get'>>;
export type UserId = number | string;

export interface ReadOptions {
  /** Wait until the read model has applied every write this client has made (X-Min-Position). */
  consistent?: boolean;
}

export interface SegmentsClientOptions {
  baseUrl: string;
  /** A token of API_TOKENS, sent as `Authorization: Bearer …`. */
  token?: string;
  retry?: Partial<RetryPolicy>;
  /** Sends one request (default: the global fetch). */
  fetch?: (request: Request) => Promise<Response>;
}

/** A call returns only when the answer was 2xx: the middleware has thrown every other one. */
async function dataOf<T>(call: Promise<{ data?: T }>): Promise<T> {
  return (await call).data as T;
}

export class SegmentsClient {
  /** Every route of docs/openapi.json; answers other than 2xx throw SegmentsProblem here too. */
  readonly api: Client<paths>;
  private readonly lastWrite = new LastWritePosition();

  constructor(options: SegmentsClientOptions) {
    const fetchOnce = options.fetch ?? ((request: Request) => fetch(request));
    this.api = createClient<paths>({
      baseUrl: options.baseUrl,
      headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
      fetch: retryingFetch({ ...DEFAULT_RETRY_POLICY, ...options.retry }, fetchOnce),
    });
    this.api.use(this.middleware());
  }

  /** The X-Position of this client's latest write, if it has made one. */
  get lastWritePosition(): string | undefined {
    return this.lastWrite.value;
  }

  /** Headers for a read through `api` that must see this client's writes. */
  readYourWritesHeaders(): Record<string, string> {
    return this.lastWrite.headers();
  }

  createSegment(segment: NewSegment) {
    return dataOf(this.api.POST('/segments', { body: segment }));
  }

  listSegments(page: Page = {}, read: ReadOptions = {}) {
    return dataOf(this.api.GET('/segments', { params: { query: page }, headers: this.readHeaders(read) }));
  }

  segment(slug: string, read: ReadOptions = {}) {
    return dataOf(this.api.GET('/segments/{slug}', { params: { path: { slug } }, headers: this.readHeaders(read) }));
  }

  updateSegment(slug: string, change: SegmentChange) {
    return dataOf(this.api.PATCH('/segments/{slug}', { params: { path: { slug } }, body: change }));
  }

  async deleteSegment(slug: string): Promise<void> {
    await this.api.DELETE('/segments/{slug}', { params: { path: { slug } } });
  }

  members(slug: string, page: Page = {}, read: ReadOptions = {}) {
    return dataOf(this.api.GET('/segments/{slug}/members', { params: { path: { slug }, query: page }, headers: this.readHeaders(read) }));
  }

  changeMembers(slug: string, change: MembersChange) {
    return dataOf(this.api.POST('/segments/{slug}/members', { params: { path: { slug } }, body: change }));
  }

  changeUserSegments(userId: UserId, change: UserSegmentsChange) {
    return dataOf(this.api.POST('/users/{userId}/segments', { params: { path: { userId: String(userId) } }, body: change }));
  }

  /** The user's active segments; `at`: as they were at that moment. */
  userSegments(userId: UserId, options: { at?: string } & ReadOptions = {}) {
    const { at, ...read } = options;
    return dataOf(
      this.api.GET('/users/{userId}/segments', {
        params: { path: { userId: String(userId) }, query: { at } },
        headers: this.readHeaders(read),
      }),
    );
  }

  userHistory(userId: UserId, options: { from?: string; to?: string } & ReadOptions = {}) {
    const { from, to, ...read } = options;
    return dataOf(
      this.api.GET('/users/{userId}/history', {
        params: { path: { userId: String(userId) }, query: { from, to } },
        headers: this.readHeaders(read),
      }),
    );
  }

  requestHistoryReport(request: HistoryReportRequest) {
    return dataOf(this.api.POST('/reports/history', { body: request }));
  }

  projections() {
    return dataOf(this.api.GET('/projections'));
  }

  private readHeaders(read: ReadOptions): Record<string, string> {
    return read.consistent ? this.lastWrite.headers() : {};
  }

  private middleware(): Middleware {
    return {
      onRequest: ({ request }) => {
        // One id for all attempts of a call (the retries send copies), so the service's log ties them together.
        if (!request.headers.has('x-request-id')) request.headers.set('x-request-id', randomUUID());
      },
      onResponse: async ({ request, response }) => {
        if (!response.ok) throw await SegmentsProblem.fromResponse(response);
        if (request.method !== 'GET' && request.method !== 'HEAD') this.lastWrite.record(response.headers.get('x-position'));
      },
    };
  }
}

export function createSegmentsClient(options: SegmentsClientOptions): SegmentsClient {
  return new SegmentsClient(options);
}
