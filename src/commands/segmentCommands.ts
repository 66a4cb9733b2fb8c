// Command handlers for segments: load the segment's stream, decide, append.
import { randomBytes, randomUUID } from 'node:crypto';
import type { EventStore, Position } from '../eventstore/eventStore';
import type { CommandMetadata } from '../events/metadata';
import type { SegmentEvent } from '../events/segmentEvents';
import { segmentStream } from '../events/streams';
import type { Clock } from '../platform/clock';
import { toNewEvents } from './eventIds';
import { retryOnConflict } from './retryOnConflict';
import { expectedAfter, foldEvents } from './streamState';
import { decideSegment, evolveSegment, initialSegmentState, type SegmentCommand, type SegmentState } from '../domain/segment';

export interface SegmentCommands {
  createSegment(
    input: { slug: string; description: string | null; autoAssignPercent: number | null },
    metadata: CommandMetadata,
  ): Promise<{ segment: Extract<SegmentState, { status: 'live' }>; position: Position }>;
  /** The segment after the change; with nothing to change, no event and the stream's last position. */
  updateSegment(
    input: { slug: string; description?: string | null; autoAssignPercent?: number | null },
    metadata: CommandMetadata,
  ): Promise<{ segment: Extract<SegmentState, { status: 'live' }>; position: Position }>;
  /** Returns the position of the deletion. */
  deleteSegment(slug: string, metadata: CommandMetadata): Promise<Position>;
}

export function createSegmentCommands(deps: { store: EventStore; clock: Clock }): SegmentCommands {
  const { store, clock } = deps;

  async function handle(slug: string, command: SegmentCommand, metadata: CommandMetadata) {
    const stream = segmentStream(slug);
    return retryOnConflict(stream, async () => {
      const history = await store.readStream(stream);
      const state = foldEvents<SegmentState, SegmentEvent>(history, initialSegmentState, evolveSegment);
      const now = clock.now();
      const events = decideSegment(command, state, now);
      if (events.length === 0) return { state, position: history[history.length - 1]!.position };
      const expected = expectedAfter(history);
      const { position } = await store.append(
        stream,
        toNewEvents(events, { ...metadata, occurredAt: now.toISOString() }, { stream, expected }),
        expected,
      );
      return { state: events.reduce(evolveSegment, state), position };
    });
  }

  return {
    async createSegment(input, metadata) {
      const { state, position } = await handle(
        input.slug,
        {
          type: 'CreateSegment',
          data: { ...input, segmentId: randomUUID(), rolloutSeed: randomBytes(8).toString('hex') },
        },
        metadata,
      );
      if (state.status !== 'live') throw new Error('a created segment is live');
      return { segment: state, position };
    },
    async updateSegment(input, metadata) {
      const { state, position } = await handle(input.slug, { type: 'UpdateSegment', data: input }, metadata);
      if (state.status !== 'live') throw new Error('an updated segment is live');
      return { segment: state, position };
    },
    async deleteSegment(slug, metadata) {
      return (await handle(slug, { type: 'DeleteSegment', data: { slug } }, metadata)).position;
    },
  };
}
