// The segment aggregate: create, update and delete a segment, decided from its stream alone.
import { SegmentAlreadyExistsError, SegmentNotFoundError } from './errors';
import type { SegmentEvent } from '../events/segmentEvents';
import { rolloutSeedOf } from './percentage';

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

/** PATCH: a field that is undefined keeps its value; `autoAssignPercent: null` turns the percentage off. */
export interface UpdateSegment {
  type: 'UpdateSegment';
  data: { slug: string; description?: string | null; autoAssignPercent?: number | null };
}

export interface DeleteSegment {
  type: 'DeleteSegment';
  data: { slug: string };
}

export type SegmentCommand = CreateSegment | UpdateSegment | DeleteSegment;

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
    case 'UpdateSegment': {
      if (state.status !== 'live') throw new SegmentNotFoundError(command.data.slug);
      const description = command.data.description === undefined ? state.description : command.data.description;
      const autoAssignPercent = command.data.autoAssignPercent === undefined ? state.autoAssignPercent : command.data.autoAssignPercent;
      // Nothing changes: nothing to record.
      if (description === state.description && autoAssignPercent === state.autoAssignPercent) return [];
      return [
        {
          type: 'SegmentUpdated',
          data: { segmentId: state.segmentId, slug: state.slug, description, autoAssignPercent, updatedAt: now.toISOString() },
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
      return { status: 'live', ...event.data, rolloutSeed: rolloutSeedOf(event.data) };
    case 'SegmentUpdated':
      if (state.status !== 'live') return state;
      return { ...state, description: event.data.description, autoAssignPercent: event.data.autoAssignPercent };
    case 'SegmentDeleted':
      return { status: 'deleted', segmentId: event.data.segmentId, slug: event.data.slug, deletedAt: event.data.deletedAt };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}
