export {
  SegmentsClient,
  createSegmentsClient,
  type HistoryReportRequest,
  type MembersChange,
  type NewSegment,
  type Page,
  type ReadOptions,
  type SegmentChange,
  type SegmentsClientOptions,
  type UserId,
  type UserSegmentsChange,
} from './segmentsClient';
export { SegmentsProblem, type ProblemDocument, type ProblemFieldError } from './problem';
export { DEFAULT_RETRY_POLICY, backoffDelayMs, mayRetry, retryAfterMs, type RetryPolicy } from './retry';
export type { paths } from './api.generated';
