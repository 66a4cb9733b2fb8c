// What the HTTP layer is given by the composition root.
import type { Registry } from 'prom-client';
import type { DatabasePool } from 'slonik';
import type { SegmentCommands } from '../commands/segmentCommands';
import type { UserCommands } from '../commands/userCommands';
import type { ProjectionRebuilds } from '../operations/projectionRebuilds';
import type { ProjectionStatusView } from '../operations/projectionStatus';
import type { ReadinessCheck } from '../operations/readiness';
import type { Clock } from '../platform/clock';
import type { WaitForReadModel } from '../projections/readModelPosition';
import type { SegmentsAfterWrite } from '../queries/segmentsAfterWrite';
import type { UserSegmentsNow } from '../queries/userSegments';
import type { HistoryReports } from '../reports/historyReport';
import type { LocalReportStorage } from '../reports/localReportStorage';

export type { ProjectionStatusView } from '../operations/projectionStatus';
export type { ReadinessCheck } from '../operations/readiness';

export interface AppDeps {
  readModel: DatabasePool;
  segmentCommands: SegmentCommands;
  userCommands: UserCommands;
  clock: Clock;
  /** A user's segments now (GET /users/{id}/segments without `?at=`) and the wait for a position before it. */
  userSegmentsNow: UserSegmentsNow;
  /** The user's segments after a write, for its answer. */
  segmentsAfterWrite: SegmentsAfterWrite;
  waitForReadModel: WaitForReadModel;
  readiness(): Promise<ReadinessCheck[]>;
  projections(): Promise<ProjectionStatusView[]>;
  /** Rebuilds started over HTTP, run in this process. */
  projectionRebuilds: ProjectionRebuilds;
  /** Memberships past their expiry whose removal is not recorded yet (for GET /metrics). */
  overdueExpiries(): Promise<number>;
  historyReports: HistoryReports;
  /** Set when reports are kept on local disk: the service serves their downloads. */
  localReports?: LocalReportStorage;
  /** The registry the service's parts record into (src/platform/serviceMetrics.ts); GET /metrics serves it. */
  metricsRegistry?: Registry;
}
