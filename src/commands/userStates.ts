// Users' states as commands load them: each user's latest snapshot, then only the events after it
// (in the same round trip as any other streams the command reads, such as the segments it names).
import { evolveUser, initialUserState, type UserState } from '../domain/userMemberships';
import type { EventStore, ExpectedRevision, Position, RecordedEvent } from '../eventstore/eventStore';
import type { MembershipEvent } from '../events/membershipEvents';
import { userStream } from '../events/streams';
import { foldEvents } from './streamState';
import type { UserSnapshot, UserSnapshots } from './userSnapshots';

/** Events folded on top of a snapshot (or from the start) before a command writes a new one. */
export const SNAPSHOT_EVERY = 32;

export interface LoadedUser {
  userId: number;
  stream: string;
  state: UserState;
  /** The stream's last event (0-based); -1 when the stream is empty. */
  revision: number;
  /** That event's position; null when the stream is empty. */
  position: Position | null;
  /** Events folded since the snapshot, or since the start without one. */
  sinceSnapshot: number;
}

export const expectedRevisionOf = (user: LoadedUser): ExpectedRevision => (user.revision < 0 ? 'no_stream' : user.revision);

/** Loads `userIds` (each once) and reads `otherStreams` whole, in one read of the store after one of the snapshots. */
export async function loadUsers(
  store: EventStore,
  snapshots: UserSnapshots,
  userIds: readonly number[],
  otherStreams: readonly string[] = [],
): Promise<{ users: Map<number, LoadedUser>; streams: Map<string, RecordedEvent[]> }> {
  const found = await snapshots.load(userIds);
  const fromRevisions = new Map<string, number>();
  for (const [userId, snapshot] of found) fromRevisions.set(userStream(userId), snapshot.revision + 1);
  const streams = await store.readStreams([...userIds.map(userStream), ...otherStreams], { fromRevisions });
  const users = new Map<number, LoadedUser>();
  for (const userId of userIds) {
    const stream = userStream(userId);
    const snapshot = found.get(userId);
    const tail = streams.get(stream) ?? [];
    const last = tail[tail.length - 1];
    users.set(userId, {
      userId,
      stream,
      state: foldEvents<UserState, MembershipEvent>(tail, snapshot?.state ?? initialUserState, evolveUser),
      revision: last?.revision ?? snapshot?.revision ?? -1,
      position: last?.position ?? snapshot?.position ?? null,
      sinceSnapshot: tail.length,
    });
  }
  return { users, streams };
}

/** The snapshot to store after appending `appended` events to a loaded user, when one is due. */
export function snapshotAfter(
  user: LoadedUser,
  appended: { events: number; revision: number; position: Position },
  state: UserState,
): UserSnapshot | undefined {
  if (user.sinceSnapshot + appended.events < SNAPSHOT_EVERY) return undefined;
  return { userId: user.userId, revision: appended.revision, position: appended.position, state };
}
