// The segment aggregate: create and delete a segment, decided from its stream alone.
import { SegmentAlreadyExistsError, SegmentNotFoundError } from '../domain/errors';
import type { SegmentEvent } from '../events/segmentEvents';

export type SegmentState =
  | { status: 'absent' }
  | {
      status: 'live';
      segmentId: string;
      slug: string;
      description: string | null;
      autoAssignPercent: number | null;
      rolloutSeed: string;
      createdAt: string;
    }
  | { status: 'deleted'; segmentId: string; slug: string; deletedAt: string };

export const initialSegmentState: SegmentState = { status: 'absent' };

export interface CreateSegment {
  type: 'CreateSegment';
  data: {
    slug: string;
    description: string | null;
    autoAssignPercent: number | null;
    /** Fresh for every creation; the handler generates them so that decide stays pure. */
    segmentId: string;
    rolloutSeed: string;
  };
}

export interface DeleteSegment {
  type: 'DeleteSegment';
  data: { slug: string };
}

export type SegmentCommand = CreateSegment | DeleteSegment;

export function decideSegment(command: SegmentCommand, state: SegmentState, now: Date): SegmentEvent[] {
  switch (command.type) {
    case 'CreateSegment': {
      if (state.status === 'live') throw new SegmentAlreadyExistsError(command.data.slug);
      const { segmentId, slug, description, autoAssignPercent, rolloutSeed } = command.data;
      return [
        {
          type: 'SegmentCreated',
          data: { segmentId, slug, description, autoAssignPercent, rolloutSeed, createdAt: now.toISOString() },
        },
      ];
    }
    case 'DeleteSegment': {
      if (state.status !== 'live') throw new SegmentNotFoundError(command.data.slug);
      return [
        {
          type: 'SegmentDeleted',
          data: { segmentId: state.segmentId, slug: state.slug, deletedAt: now.toISOString() },
        },
      ];
    }
    default: {
      const unhandled: never = command;
      throw new Error(`unknown command ${JSON.stringify(unhandled)}`);
    }
  }
}

export function evolveSegment(state: SegmentState, event: SegmentEvent): SegmentState {
  switch (event.type) {
    case 'SegmentCreated':
      return { status: 'live', ...event.data };
    case 'SegmentDeleted':
      return { status: 'deleted', segmentId: event.data.segmentId, slug: event.data.slug, deletedAt: event.data.deletedAt };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}
