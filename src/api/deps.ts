// What the HTTP layer is given by the composition root.
import type { DatabasePool } from 'slonik';
import type { SegmentCommands } from '../commands/segmentCommands';
import type { UserCommands } from '../commands/userCommands';
import type { Position } from '../eventstore/eventStore';
import type { Clock } from '../infra/clock';
import type { HistoryReports } from '../reports/historyReport';
import type { LocalReportStorage } from '../reports/localReportStorage';
import type { PercentageSegmentCache } from '../queries/percentageSegments';

export interface ProjectionStatusView {
  projection: string;
  state: string;
  position: string | null;
  eventsApplied: number;
  lagEvents: number | null;
  lastAppliedAt: string | null;
  lastError: string | null;
}

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface AppDeps {
  readModel: DatabasePool;
  segmentCommands: SegmentCommands;
  userCommands: UserCommands;
  clock: Clock;
  /** The live percentage segments, cached; reads pass it the version they saw. */
  percentageSegments: PercentageSegmentCache;
  /** Resolves true once the read model has applied `position`, false after `timeoutMs`. */
  waitForReadModel(position: Position, timeoutMs: number): Promise<boolean>;
  readiness(): Promise<ReadinessCheck[]>;
  projections(): Promise<ProjectionStatusView[]>;
  /** Memberships past their expiry whose removal is not recorded yet (for GET /metrics). */
  overdueExpiries(): Promise<number>;
  historyReports: HistoryReports;
  /** Set when reports are kept on local disk: the service serves their downloads. */
  localReports?: LocalReportStorage;
}
