// Command handlers for a user's memberships: one read of the user's stream (with the streams of
// the segments the command names, in the same round trip), decide, one append.
import { changedSegments, decideUser, type AddEntry, type ExpirySpec, type UserCommand } from '../domain/decideUser';
import { SegmentNotFoundError, VersionMismatchError } from '../domain/errors';
import { evolveSegment, initialSegmentState, type SegmentState } from '../domain/segment';
import { evolveUser, initialUserState, type LiveSegment, type UserState } from '../domain/userMemberships';
import type { EventStore, ExpectedRevision, Position, RecordedEvent } from '../eventstore/eventStore';
import { comparePositions } from '../eventstore/position';
import type { MembershipEvent } from '../events/membershipEvents';
import type { CommandMetadata } from '../events/metadata';
import type { SegmentEvent } from '../events/segmentEvents';
import { segmentStream, userStream } from '../events/streams';
import type { Clock } from '../platform/clock';
import { KeyedMutex } from '../platform/keyedMutex';
import { toNewEvents } from './eventIds';
import { retryOnConflict } from './retryOnConflict';
import { expectedAfter, foldEvents } from './streamState';

export interface UpdateUserSegmentsInput {
  userId: number;
  add: readonly AddEntry[];
  remove: readonly string[];
  /** Number of events the caller believes the user's stream holds. */
  expectedVersion?: number;
}

/** The decision: what changed, the user's state after it, and where it stands in the store. */
export interface UpdateUserSegmentsResult {
  userId: number;
  added: string[];
  removed: string[];
  events: MembershipEvent[];
  /** The user's memberships and opt-outs after the change. */
  state: UserState;
  /** The moment the change was decided (and its TTLs counted from). */
  decidedAt: Date;
  version: number;
  /** Position of the user's last event: wait for it to read your own write. */
  position: Position | null;
}

export interface BulkMembershipInput {
  slug: string;
  add: readonly number[];
  remove: readonly number[];
  /** The expiry of every added user's membership (absent: new ones permanent, existing ones unchanged). */
  expiry?: ExpirySpec;
}

export interface UserCommands {
  updateUserSegments(input: UpdateUserSegmentsInput, metadata: CommandMetadata): Promise<UpdateUserSegmentsResult>;
  updateSegmentMembers(
    input: BulkMembershipInput,
    metadata: CommandMetadata,
  ): Promise<{ added: number; removed: number; position: Position | null }>;
  /** Applies one command per user; with the PostgreSQL store, all users' changes commit together. */
  applyToUsers(
    commands: readonly UserCommand[],
    metadata: CommandMetadata,
  ): Promise<{ decisions: MembershipEvent[][]; changes: Array<{ added: string[]; removed: string[] }>; position: Position | null }>;
}

export interface UserCommandsDeps {
  store: EventStore;
  clock: Clock;
}

/** How many user streams one read asks for at once. */
const READ_CHUNK = 5_000;

export function createUserCommands(deps: UserCommandsDeps): UserCommands {
  const { store, clock } = deps;
  const mutex = new KeyedMutex();

  return {
    updateUserSegments(input, metadata) {
      const stream = userStream(input.userId);
      const slugs = [...new Set([...input.add.map((entry) => entry.slug), ...input.remove])];
      return mutex.run(stream, () =>
        retryOnConflict(stream, async () => {
          const streams = await store.readStreams([stream, ...slugs.map(segmentStream)]);
          const history = streams.get(stream)!;
          const version = history.length;
          if (input.expectedVersion !== undefined && input.expectedVersion !== version) {
            throw new VersionMismatchError(input.expectedVersion, version);
          }
          const state = foldUser(history);
          const now = clock.now();
          const segments = namedLiveSegments(slugs, streams);
          const events = decideUser(
            { type: 'UpdateUserSegments', data: { userId: input.userId, add: input.add, remove: input.remove, reason: 'manual' } },
            state,
            { now, segments },
          );

          let position = history.length > 0 ? history[history.length - 1]!.position : null;
          let newVersion = version;
          if (events.length > 0) {
            const expected = expectedAfter(history);
            const appended = await store.append(
              stream,
              toNewEvents(events, { ...metadata, occurredAt: now.toISOString() }, { stream, expected }),
              expected,
            );
            position = appended.position;
            newVersion = appended.revision + 1;
          }

          const { added, removed } = changedSegments(events, state, segments, input.userId);
          return {
            userId: input.userId,
            added,
            removed,
            events,
            state: events.reduce(evolveUser, state),
            decidedAt: now,
            version: newVersion,
            position,
          };
        }),
      );
    },

    async updateSegmentMembers(input, metadata) {
      const segment = namedLiveSegments([input.slug], await store.readStreams([segmentStream(input.slug)])).get(input.slug);
      if (!segment) throw new SegmentNotFoundError(input.slug);
      const commands: UserCommand[] = [
        ...input.add.map((userId) => bulkCommand(userId, [{ slug: input.slug, expiry: input.expiry }], [])),
        ...input.remove.map((userId) => bulkCommand(userId, [], [input.slug])),
      ];
      const { changes, position } = await this.applyToUsers(commands, metadata);
      let added = 0;
      let removed = 0;
      for (const change of changes) {
        added += change.added.length;
        removed += change.removed.length;
      }
      return { added, removed, position };
    },

    async applyToUsers(commands, metadata) {
      const userIds = commands.map((command) => command.data.userId);
      if (new Set(userIds).size !== userIds.length) throw new Error('one command per user');
      const slugs = [
        ...new Set(
          commands.flatMap((command) =>
            command.type === 'UpdateUserSegments' ? [...command.data.add.map((entry) => entry.slug), ...command.data.remove] : [],
          ),
        ),
      ];
      const label = commands.length === 1 ? userStream(userIds[0]!) : `${commands.length} user streams`;
      return retryOnConflict(label, async () => {
        const segmentStreams = await store.readStreams(slugs.map(segmentStream));
        const segments = namedLiveSegments(slugs, segmentStreams);
        // Every user's state first, then one moment for all decisions: reading 100,000 streams
        // takes seconds, and a TTL counted from before them would be partly spent at the commit.
        const states: Array<{ command: UserCommand; stream: string; before: UserState; expected: ExpectedRevision }> = [];
        for (let start = 0; start < commands.length; start += READ_CHUNK) {
          const chunk = commands.slice(start, start + READ_CHUNK);
          const histories = await store.readStreams(chunk.map((command) => userStream(command.data.userId)));
          for (const command of chunk) {
            const stream = userStream(command.data.userId);
            const history = histories.get(stream)!;
            states.push({ command, stream, before: foldUser(history), expected: expectedAfter(history) });
          }
        }
        const now = clock.now();
        const eventMetadata = { ...metadata, occurredAt: now.toISOString() };
        const decisions: MembershipEvent[][] = [];
        const changes: Array<{ added: string[]; removed: string[] }> = [];
        const writes = [];
        for (const { command, stream, before, expected } of states) {
          const events = decideUser(command, before, { now, segments });
          decisions.push(events);
          changes.push(changedSegments(events, before, segments, command.data.userId));
          if (events.length > 0) writes.push({ stream, events: toNewEvents(events, eventMetadata, { stream, expected }), expected });
        }
        if (writes.length === 0) return { decisions, changes, position: null };
        const appended = await store.appendMany(writes);
        const position = appended.map((result) => result.position).reduce((a, b) => (comparePositions(a, b) >= 0 ? a : b));
        return { decisions, changes, position };
      });
    },
  };
}

function bulkCommand(userId: number, add: AddEntry[], remove: string[]): UserCommand {
  return { type: 'UpdateUserSegments', data: { userId, add, remove, reason: 'bulk' } };
}

function foldUser(history: readonly RecordedEvent[]): UserState {
  return foldEvents<UserState, MembershipEvent>(history, initialUserState, evolveUser);
}

/** The live segments among the `slugs` a command names, from their streams. */
function namedLiveSegments(slugs: readonly string[], streams: ReadonlyMap<string, readonly RecordedEvent[]>): Map<string, LiveSegment> {
  const live = new Map<string, LiveSegment>();
  for (const slug of slugs) {
    const state = foldEvents<SegmentState, SegmentEvent>(streams.get(segmentStream(slug)) ?? [], initialSegmentState, evolveSegment);
    if (state.status !== 'live') continue;
    const percentage = state.autoAssignPercent === null ? null : { seed: state.rolloutSeed, percent: state.autoAssignPercent };
    live.set(slug, { segmentId: state.segmentId, slug, percentage });
  }
  return live;
}
