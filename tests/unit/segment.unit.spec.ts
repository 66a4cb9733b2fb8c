// The segment aggregate, given its past events, when a command arrives, then these events (or this error).
import {
  decideSegment,
  evolveSegment,
  initialSegmentState,
  type CreateSegment,
  type SegmentCommand,
} from '../../src/domain/segment';
import { SegmentAlreadyExistsError, SegmentNotFoundError } from '../../src/domain/errors';
import type { SegmentEvent } from '../../src/events/segmentEvents';
import { givenFor } from '../support/decider';

const given = givenFor({ initial: initialSegmentState, evolve: evolveSegment, decide: decideSegment });

const SLUG = 'AVITO_VOICE_MESSAGES';
const FIRST_ID = '6f1c2a4e-0000-4000-8000-000000000001';
const SECOND_ID = '6f1c2a4e-0000-4000-8000-000000000002';
const createdAt = new Date('2025-03-01T10:00:00.000Z');
const deletedAt = new Date('2025-03-05T09:30:00.000Z');
const now = new Date('2025-03-10T12:00:00.000Z');

const create = (segmentId: string, overrides: Partial<CreateSegment['data']> = {}): CreateSegment => ({
  type: 'CreateSegment',
  data: { slug: SLUG, description: 'voice messages', autoAssignPercent: null, segmentId, rolloutSeed: `seed-${segmentId}`, ...overrides },
});

const created = (segmentId: string, at: Date): SegmentEvent => ({
  type: 'SegmentCreated',
  data: {
    segmentId,
    slug: SLUG,
    description: 'voice messages',
    autoAssignPercent: null,
    rolloutSeed: `seed-${segmentId}`,
    createdAt: at.toISOString(),
  },
});

const deleted = (segmentId: string, at: Date): SegmentEvent => ({
  type: 'SegmentDeleted',
  data: { segmentId, slug: SLUG, deletedAt: at.toISOString() },
});

const deleteSegment: SegmentCommand = { type: 'DeleteSegment', data: { slug: SLUG } };

describe('segment', () => {
  it('AVITO_VOICE_MESSAGES is created when the slug was never used', () => {
    given([]).when(create(FIRST_ID), now).then([created(FIRST_ID, now)]);
  });

  it('AVITO_VOICE_MESSAGES is created with its description, percentage and rollout seed', () => {
    given([])
      .when(create(FIRST_ID, { description: null, autoAssignPercent: 30, rolloutSeed: 'abcdef0123456789' }), now)
      .then([
        {
          type: 'SegmentCreated',
          data: {
            segmentId: FIRST_ID,
            slug: SLUG,
            description: null,
            autoAssignPercent: 30,
            rolloutSeed: 'abcdef0123456789',
            createdAt: now.toISOString(),
          },
        },
      ]);
  });

  it('creating AVITO_VOICE_MESSAGES while it is live fails with SegmentAlreadyExistsError', () => {
    given([created(FIRST_ID, createdAt)]).when(create(SECOND_ID), now).thenThrows(SegmentAlreadyExistsError);
  });

  it('AVITO_VOICE_MESSAGES re-created after its deletion is a new segment with a new id', () => {
    given([created(FIRST_ID, createdAt), deleted(FIRST_ID, deletedAt)])
      .when(create(SECOND_ID), now)
      .then([created(SECOND_ID, now)]);
  });

  it('re-created AVITO_VOICE_MESSAGES cannot be created a third time while live', () => {
    given([created(FIRST_ID, createdAt), deleted(FIRST_ID, deletedAt), created(SECOND_ID, deletedAt)])
      .when(create('6f1c2a4e-0000-4000-8000-000000000003'), now)
      .thenThrows(SegmentAlreadyExistsError);
  });

  it('live AVITO_VOICE_MESSAGES is deleted at the moment of the command', () => {
    given([created(FIRST_ID, createdAt)]).when(deleteSegment, now).then([deleted(FIRST_ID, now)]);
  });

  it('deleting re-created AVITO_VOICE_MESSAGES deletes the new segment id, not the old one', () => {
    given([created(FIRST_ID, createdAt), deleted(FIRST_ID, deletedAt), created(SECOND_ID, deletedAt)])
      .when(deleteSegment, now)
      .then([deleted(SECOND_ID, now)]);
  });

  it('deleting AVITO_VOICE_MESSAGES that never existed fails with SegmentNotFoundError', () => {
    given([]).when(deleteSegment, now).thenThrows(SegmentNotFoundError);
  });

  it('deleting AVITO_VOICE_MESSAGES a second time fails with SegmentNotFoundError', () => {
    given([created(FIRST_ID, createdAt), deleted(FIRST_ID, deletedAt)]).when(deleteSegment, now).thenThrows(SegmentNotFoundError);
  });
});
