// Every error answer of the service is an RFC 7807 problem document; the client throws it as one class.
import type { paths } from './api.generated';

type UserSegmentsChange = paths['/users/{userId}/segments']['post'];
type ConflictContent = UserSegmentsChange['responses'][409]['content'];
/** A problem document as docs/openapi.json describes it, with the extra fields some types carry (`slugs`, `actualVersion`, …). */
export type ProblemDocument = ConflictContent[keyof ConflictContent];
export type ProblemFieldError = NonNullable<ProblemDocument['errors']>[number];

export class SegmentsProblem extends Error {
  override readonly name = 'SegmentsProblem';
  readonly status: number;
  /** `/problems/validation`, `/problems/segment-exists`, …; `about:blank` when the answer was no problem document (a proxy's error page). */
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** One entry per invalid field of a 400 `/problems/validation`; empty otherwise. */
  readonly errors: ProblemFieldError[];
  /** The id the service logged the request under. */
  readonly requestId: string | null;

  constructor(
    readonly document: ProblemDocument,
    options: { requestId?: string | null } = {},
  ) {
    super(document.detail ?? document.title);
    this.status = document.status;
    this.type = document.type;
    this.title = document.title;
    this.detail = document.detail;
    this.errors = document.errors ?? [];
    this.requestId = options.requestId ?? null;
  }

  /** Reads an error answer; a body that is not a problem document becomes an `about:blank` problem with the answer's status. */
  static async fromResponse(response: Response): Promise<SegmentsProblem> {
    const text = await response.text().catch(() => '');
    const requestId = response.headers.get('x-request-id');
    const parsed = parseJson(text);
    if (isProblemDocument(parsed)) return new SegmentsProblem(parsed, { requestId });
    return new SegmentsProblem(
      { type: 'about:blank', title: response.statusText || `HTTP ${response.status}`, status: response.status, detail: text.slice(0, 500) || undefined },
      { requestId },
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isProblemDocument(value: unknown): value is ProblemDocument {
  if (typeof value !== 'object' || value === null) return false;
  const { type, title, status } = value as Record<string, unknown>;
  return typeof type === 'string' && typeof title === 'string' && typeof status === 'number';
}
