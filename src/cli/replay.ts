// `segments replay`: the raw events of one user, one segment, or a time range, for audit.
import type { EventStore, RecordedEvent } from '../eventstore/eventStore';
import { formatPosition } from '../eventstore/position';
import { MEMBERSHIP_EVENT_TYPES } from '../events/membershipEvents';
import { segmentStream, userStream } from '../events/streams';

export interface ReplayFilter {
  userId?: number;
  slug?: string;
  /** Appended at or after, inclusive. */
  from?: Date;
  /** Appended before, exclusive. */
  to?: Date;
}

const PAGE = 1_000;

function matches(event: RecordedEvent, filter: ReplayFilter): boolean {
  if (filter.from && event.recordedAt < filter.from) return false;
  if (filter.to && event.recordedAt >= filter.to) return false;
  if (filter.slug !== undefined) {
    const inSegmentStream = event.stream === segmentStream(filter.slug);
    const namesSegment = MEMBERSHIP_EVENT_TYPES.has(event.type) && (event.data as { slug?: string }).slug === filter.slug;
    if (!inSegmentStream && !namesSegment) return false;
  }
  if (filter.userId !== undefined && event.stream !== userStream(filter.userId)) return false;
  return true;
}

/**
 * The matching events: a user's stream is read directly; anything else walks the global order
 * page by page (a whole-store scan, which an audit tool can afford), in that order.
 */
export async function* replay(store: EventStore, filter: ReplayFilter): AsyncIterable<RecordedEvent> {
  if (filter.userId !== undefined) {
    for (const event of await store.readStream(userStream(filter.userId))) if (matches(event, filter)) yield event;
    return;
  }
  let from: RecordedEvent['position'] | undefined;
  for (;;) {
    const page = await store.readAll({ from, limit: PAGE });
    for (const event of page) if (matches(event, filter)) yield event;
    if (page.length < PAGE) return;
    from = page[page.length - 1]!.position;
  }
}

// Stored JSON does not keep key order; these come first, the rest alphabetically.
const FIELD_ORDER = ['userId', 'slug', 'reason', 'addedAt', 'effectiveAt', 'expiresAt', 'deletedAt'];
const rank = (key: string) => (FIELD_ORDER.includes(key) ? FIELD_ORDER.indexOf(key) : FIELD_ORDER.length);

/** One line a person reads: when, where in the order, which stream, what, and who. */
export function formatReadable(event: RecordedEvent): string {
  const fields = Object.entries((event.data ?? {}) as Record<string, unknown>)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  const { actor, source } = event.metadata as { actor?: string; source?: string };
  return `${event.recordedAt.toISOString()}  ${formatPosition(event.position).padEnd(12)}  ${event.stream}#${event.revision}  ${event.type}  ${fields}  (by ${actor ?? '?'} via ${source ?? '?'})`;
}

/** One JSON object a line, for jq and friends. */
export function formatJson(event: RecordedEvent): string {
  return JSON.stringify({
    position: formatPosition(event.position),
    stream: event.stream,
    revision: event.revision,
    type: event.type,
    recordedAt: event.recordedAt.toISOString(),
    data: event.data,
    metadata: event.metadata,
  });
}
