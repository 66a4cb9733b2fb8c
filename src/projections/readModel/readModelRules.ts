// What the events mean for a read model of memberships: the one interpretation that both read
// models follow, the PostgreSQL tables (readModelProjection.ts) and the in-process view of every
// API process (memoryView/membershipView.ts). Each applies the same steps to its own storage.
//
// Membership events are folded per (user, segment) between two segment events: a run ends with
// the final state of each membership it touched, the audit rows, the new expiries of memberships
// it did not add, and the opt-outs. Segment events are applied one by one, in order.
import type { ProjectedEvent } from '../projection';
import type { AutoMembershipOptedOut, MembershipEvent } from '../../events/membershipEvents';
import type { SegmentCreated, SegmentDeleted, SegmentEvent, SegmentUpdated } from '../../events/segmentEvents';

export type Final =
  | { present: true; userId: number; segmentId: string; slug: string; addedAt: string; expiresAt: string | null }
  | { present: false; userId: number; segmentId: string };

export interface AuditRow {
  globalPosition: number;
  userId: number;
  segmentId: string;
  slug: string;
  operation: 'added' | 'removed';
  reason: string;
  at: string;
  expiresAt: string | null;
}

export interface ExpiryUpdate {
  userId: number;
  segmentId: string;
  expiresAt: string | null;
}

export class MembershipRun {
  /** The state each touched membership ends in; a present one in a deleted segment stays invisible (see ReadModelTarget). */
  readonly finals = new Map<string, Final>();
  readonly audit: AuditRow[] = [];
  /** New expiries of memberships this run did not add: they change a membership only where there is one. */
  readonly expiryUpdates = new Map<string, ExpiryUpdate>();
  /** Every expiry change with its moment, for point-in-time reads (membership_expiry_changes). */
  readonly expiryChanges: Array<ExpiryUpdate & { globalPosition: number; changedAt: string }> = [];
  /** The first opt-out of a (user, segment) counts; later ones change nothing. */
  readonly optOuts: Array<AutoMembershipOptedOut['data']> = [];

  add(recorded: ProjectedEvent, event: MembershipEvent): void {
    if (event.type === 'AutoMembershipOptedOut') {
      this.optOuts.push(event.data);
      return;
    }
    const { userId, segmentId, slug } = event.data;
    const key = `${userId}:${segmentId}`;
    const globalPosition = Number(recorded.position.prepare);
    if (event.type === 'MembershipExpiryChanged') {
      this.expiryChanges.push({ globalPosition, userId, segmentId, expiresAt: event.data.expiresAt, changedAt: event.data.changedAt });
      // The membership goes on, so history gets no row; only the end the reads filter on moves.
      const final = this.finals.get(key);
      if (final?.present) this.finals.set(key, { ...final, expiresAt: event.data.expiresAt });
      else if (!final) this.expiryUpdates.set(key, { userId, segmentId, expiresAt: event.data.expiresAt });
      return;
    }
    this.expiryUpdates.delete(key);
    if (event.type === 'MembershipAdded') {
      const { addedAt, expiresAt, reason } = event.data;
      this.finals.set(key, { present: true, userId, segmentId, slug, addedAt, expiresAt });
      this.audit.push({ globalPosition, userId, segmentId, slug, operation: 'added', reason, at: addedAt, expiresAt });
    } else {
      const { reason, effectiveAt } = event.data;
      this.finals.set(key, { present: false, userId, segmentId });
      this.audit.push({ globalPosition, userId, segmentId, slug, operation: 'removed', reason, at: effectiveAt, expiresAt: null });
    }
  }

  get isEmpty(): boolean {
    return (
      this.audit.length === 0 && this.expiryUpdates.size === 0 && this.expiryChanges.length === 0 && this.optOuts.length === 0
    );
  }
}

/**
 * A read model's storage. Every implementation keeps these rules, which the comparison test
 * (tests/integration/readViews.int.spec.ts) checks between the two:
 * - a segment created twice (a replayed event) keeps its first creation;
 * - a percentage change (creation with a percentage, an update that changes it, the deletion of a
 *   segment that ever had one) enters the segment's percentage timeline; an update that keeps the
 *   percentage does not;
 * - a deleted segment loses every member at once, and a membership added to it later (an add that
 *   lost the race against the deletion) never becomes visible;
 * - an expiry update changes a membership only where one exists; the first opt-out counts.
 */
export interface ReadModelTarget<Result = Promise<void> | void> {
  segmentCreated(data: SegmentCreated['data'], globalPosition: number): Result;
  segmentUpdated(data: SegmentUpdated['data'], globalPosition: number): Result;
  segmentDeleted(data: SegmentDeleted['data'], globalPosition: number): Result;
  memberships(run: MembershipRun): Result;
}

export type ReadModelStep = { kind: 'memberships'; run: MembershipRun } | { kind: 'segment'; event: SegmentEvent; globalPosition: number };

/** The steps a batch of events makes, in order; events of other types are not a read model's. */
export function readModelSteps(events: readonly ProjectedEvent[]): ReadModelStep[] {
  const steps: ReadModelStep[] = [];
  let run = new MembershipRun();
  const endRun = () => {
    if (!run.isEmpty) steps.push({ kind: 'memberships', run });
    run = new MembershipRun();
  };
  for (const recorded of events) {
    switch (recorded.type) {
      case 'MembershipAdded':
      case 'MembershipRemoved':
      case 'MembershipExpiryChanged':
      case 'AutoMembershipOptedOut':
        run.add(recorded, { type: recorded.type, data: recorded.data } as MembershipEvent);
        break;
      case 'SegmentCreated':
      case 'SegmentUpdated':
      case 'SegmentDeleted':
        endRun();
        steps.push({ kind: 'segment', event: { type: recorded.type, data: recorded.data } as SegmentEvent, globalPosition: Number(recorded.position.prepare) });
        break;
      default:
        break;
    }
  }
  endRun();
  return steps;
}

/** One step on a read model's storage. */
export function applyReadModelStep<Result>(target: ReadModelTarget<Result>, step: ReadModelStep): Result {
  if (step.kind === 'memberships') return target.memberships(step.run);
  const { event, globalPosition } = step;
  switch (event.type) {
    case 'SegmentCreated':
      return target.segmentCreated(event.data, globalPosition);
    case 'SegmentUpdated':
      return target.segmentUpdated(event.data, globalPosition);
    case 'SegmentDeleted':
      return target.segmentDeleted(event.data, globalPosition);
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}
