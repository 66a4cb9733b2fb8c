// Command handlers for a user's memberships: the user's snapshot, one read of the events after it
// (with the streams of the segments the command names, in the same round trip), decide, one append.
import { changedSegments, decideUser, type AddEntry, type ExpirySpec, type UserCommand } from '../domain/decideUser';
import { SegmentNotFoundError, VersionMismatchError } from '../domain/errors';
import { evolveSegment, initialSegmentState, type SegmentState } from '../domain/segment';
import { evolveUser, type LiveSegment, type UserState } from '../domain/userMemberships';
import type { EventStore, Position, RecordedEvent, StreamWrite } from '../eventstore/eventStore';
import { comparePositions } from '../eventstore/position';
import type { MembershipEvent } from '../events/membershipEvents';
import type { CommandMetadata } from '../events/metadata';
import type { SegmentEvent } from '../events/segmentEvents';
import { segmentStream, userStream } from '../events/streams';
import type { Clock } from '../platform/clock';
import { KeyedMutex } from '../platform/keyedMutex';
import { toNewEvents } from './eventIds';
import { retryOnConflict } from './retryOnConflict';
import { foldEvents } from './streamState';
import { expectedRevisionOf, loadUsers, snapshotAfter, type LoadedUser } from './userStates';
import type { UserSnapshot, UserSnapshots } from './userSnapshots';

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
  snapshots: UserSnapshots;
  clock: Clock;
}

/** How many user streams one read asks for at once. */
const READ_CHUNK = 5_000;

export function createUserCommands(deps: UserCommandsDeps): UserCommands {
  const { store, snapshots, clock } = deps;
  // A snapshot is a cache: failing to store one costs a longer read later, never the command.
  const saveSnapshots = (due: readonly UserSnapshot[]) => snapshots.save(due).catch(() => undefined);
  const mutex = new KeyedMutex();

  return {
    updateUserSegments(input, metadata) {
      const stream = userStream(input.userId);
      const slugs = [...new Set([...input.add.map((entry) => entry.slug), ...input.remove])];
      return mutex.run(stream, () =>
        retryOnConflict(stream, async () => {
          const { users, streams } = await loadUsers(store, snapshots, [input.userId], slugs.map(segmentStream));
          const user = users.get(input.userId)!;
          const { state } = user;
          const version = user.revision + 1;
          if (input.expectedVersion !== undefined && input.expectedVersion !== version) {
            throw new VersionMismatchError(input.expectedVersion, version);
          }
          const now = clock.now();
          const segments = namedLiveSegments(slugs, streams);
          const events = decideUser(
            { type: 'UpdateUserSegments', data: { userId: input.userId, add: input.add, remove: input.remove, reason: 'manual' } },
            state,
            { now, segments },
          );

          const after = events.reduce(evolveUser, state);
          let position = user.position;
          let newVersion = version;
          if (events.length > 0) {
            const expected = expectedRevisionOf(user);
            const appended = await store.append(
              stream,
              toNewEvents(events, { ...metadata, occurredAt: now.toISOString() }, { stream, expected }),
              expected,
            );
            position = appended.position;
            newVersion = appended.revision + 1;
            const due = snapshotAfter(user, { events: events.length, ...appended }, after);
            if (due) await saveSnapshots([due]);
          }

          const { added, removed } = changedSegments(events, state, segments, input.userId);
          return {
            userId: input.userId,
            added,
            removed,
            events,
            state: after,
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
        const segments = namedLiveSegments(slugs, await store.readStreams(slugs.map(segmentStream)));
        // Every user's state first, then one moment for all decisions: reading 100,000 streams
        // takes seconds, and a TTL counted from before them would be partly spent at the commit.
        const users = new Map<number, LoadedUser>();
        for (let start = 0; start < userIds.length; start += READ_CHUNK) {
          for (const [userId, user] of (await loadUsers(store, snapshots, userIds.slice(start, start + READ_CHUNK))).users) users.set(userId, user);
        }
        const now = clock.now();
        const eventMetadata = { ...metadata, occurredAt: now.toISOString() };
        const commandOf = new Map(commands.map((command) => [userStream(command.data.userId), command]));
        const decisions = new Map<string, { user: LoadedUser; events: MembershipEvent[]; added: string[]; removed: string[] }>();
        const decide = (user: LoadedUser): StreamWrite[] => {
          const command = commandOf.get(user.stream)!;
          const events = decideUser(command, user.state, { now, segments });
          decisions.set(user.stream, { user, events, ...changedSegments(events, user.state, segments, user.userId) });
          const expected = expectedRevisionOf(user);
          return events.length === 0 ? [] : [{ stream: user.stream, events: toNewEvents(events, eventMetadata, { stream: user.stream, expected }), expected }];
        };
        const writes = [...users.values()].flatMap(decide);
        // Only the users written to since they were read are read and decided again: a bulk of
        // 100,000 users does not start over for each single-user write that races it.
        const redecide = async (conflicted: readonly StreamWrite[]) => {
          const ids = conflicted.map((write) => commandOf.get(write.stream)!.data.userId);
          return [...(await loadUsers(store, snapshots, ids)).users.values()].flatMap(decide);
        };
        const appended = writes.length === 0 ? [] : await store.appendMany(writes, { redecide });
        const due = appended.flatMap((result) => {
          const { user, events } = decisions.get(result.stream)!;
          const snapshot = snapshotAfter(user, { events: events.length, ...result }, events.reduce(evolveUser, user.state));
          return snapshot ? [snapshot] : [];
        });
        await saveSnapshots(due);
        const inOrder = commands.map((command) => decisions.get(userStream(command.data.userId))!);
        const position = appended.length === 0 ? null : appended.map((result) => result.position).reduce((a, b) => (comparePositions(a, b) >= 0 ? a : b));
        return {
          decisions: inOrder.map((decision) => decision.events),
          changes: inOrder.map(({ added, removed }) => ({ added, removed })),
          position,
        };
      });
    },
  };
}

function bulkCommand(userId: number, add: AddEntry[], remove: string[]): UserCommand {
  return { type: 'UpdateUserSegments', data: { userId, add, remove, reason: 'bulk' } };
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
