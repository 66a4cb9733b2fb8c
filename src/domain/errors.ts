// Domain errors: each knows its HTTP status and problem type; src/api/problems.ts renders them.
export abstract class DomainError extends Error {
  abstract readonly status: number;
  abstract readonly problemType: string;
  abstract readonly title: string;
  /** Machine-readable extras for the problem document. */
  extras(): Record<string, unknown> {
    return {};
  }
}

export class SegmentAlreadyExistsError extends DomainError {
  readonly status = 409;
  readonly problemType = 'segment-exists';
  readonly title = 'Segment already exists';
  constructor(readonly slug: string) {
    super(`segment ${slug} already exists`);
  }
  override extras() {
    return { slug: this.slug };
  }
}

export class SegmentNotFoundError extends DomainError {
  readonly status = 404;
  readonly problemType = 'segment-not-found';
  readonly title = 'Segment not found';
  constructor(readonly slug: string) {
    super(`segment ${slug} does not exist`);
  }
  override extras() {
    return { slug: this.slug };
  }
}

export class UnknownSegmentsError extends DomainError {
  readonly status = 422;
  readonly problemType = 'unknown-segments';
  readonly title = 'Unknown segments';
  constructor(readonly slugs: string[]) {
    super(`these segments do not exist: ${slugs.join(', ')}`);
  }
  override extras() {
    return { slugs: this.slugs };
  }
}

export class VersionMismatchError extends DomainError {
  readonly status = 409;
  readonly problemType = 'version-mismatch';
  readonly title = 'Version mismatch';
  constructor(
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`expected version ${expectedVersion}, but the user is at version ${actualVersion}`);
  }
  override extras() {
    return { expectedVersion: this.expectedVersion, actualVersion: this.actualVersion };
  }
}

export class TooMuchContentionError extends DomainError {
  readonly status = 503;
  readonly problemType = 'contention';
  readonly title = 'Too many concurrent changes';
  constructor(readonly stream: string) {
    super(`gave up after repeated concurrent changes to ${stream}; retry the request`);
  }
}

/** An `expiresAt` that is no longer in the future when the change is decided. */
export class ExpiryNotInFutureError extends DomainError {
  readonly status = 400;
  readonly problemType = 'validation';
  readonly title = 'Invalid request';
  constructor(
    readonly slug: string,
    readonly expiresAt: string,
  ) {
    super(`expiresAt ${expiresAt} of segment ${slug} is not in the future`);
  }
  override extras() {
    return { errors: [{ path: 'expiresAt', message: this.message }] };
  }
}

export class ReportNotFoundError extends DomainError {
  readonly status = 404;
  readonly problemType = 'report-not-found';
  readonly title = 'Report not found';
  constructor() {
    super('no such report, or its link has expired; request a new one with POST /reports/history');
  }
}
