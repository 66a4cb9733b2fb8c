// Timed probes beside and after the load phases: how long a write takes to reach the read model,
// whether a read with X-Min-Position sees its write, and what a long user stream costs a write.
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { Position } from '../src/eventstore/eventStore';
import { comparePositions, parsePosition } from '../src/eventstore/position';
import { READ_MODEL_PROJECTION } from '../src/projections/readModel/readModelProjection';
import type { ServiceClient, UserWrite } from './serviceClient';
import { msSince, ratio, summarize, type LatencySummary } from './stats';

/** Users 1…n are the load's; the probes pick theirs from a range the load does not touch. */
export interface UserRange {
  from: number;
  to: number;
}

export const pickUser = (range: UserRange) => range.from + Math.floor(Math.random() * (range.to - range.from + 1));

/** `count` distinct slugs at random. */
export function pickSlugs(slugs: readonly string[], count: number): string[] {
  const picked: string[] = [];
  while (picked.length < count) {
    const slug = slugs[Math.floor(Math.random() * slugs.length)]!;
    if (!picked.includes(slug)) picked.push(slug);
  }
  return picked;
}

const LAG_LIMIT_MS = 30_000;
/** After a failed request, so that a service that is down is not hammered in a tight loop. */
const FAILURE_PAUSE_MS = 50;

export interface LagProbe {
  samples: LatencySummary;
  /** Writes that changed nothing (no new event), so nothing to wait for; not sampled. */
  unchanged: number;
  failedWrites: number;
  /** Writes the read model had not applied after LAG_LIMIT_MS. */
  neverApplied: number;
}

/**
 * Every ~`intervalMs`: one write, then the read model's checkpoint row polled every `pollMs` with
 * a plain pg connection until it has reached the write's position. A sample is the time from the
 * write's answer to the first poll that saw it applied.
 */
export async function sampleProjectionLag(
  client: ServiceClient,
  databaseUrl: string,
  options: { users: UserRange; slugs: readonly string[]; intervalMs: number; pollMs: number; signal: AbortSignal },
): Promise<LagProbe> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  const readCheckpoint = async (): Promise<Position | undefined> => {
    const { rows } = await db.query<{ commit: string; prepare: string }>({
      name: 'bench_checkpoint',
      text: 'SELECT commit_position::text AS commit, prepare_position::text AS prepare FROM projection_checkpoints WHERE projection = $1',
      values: [READ_MODEL_PROJECTION],
    });
    return rows[0] ? { commit: BigInt(rows[0].commit), prepare: BigInt(rows[0].prepare) } : undefined;
  };
  const lags: number[] = [];
  let unchanged = 0;
  let failedWrites = 0;
  let neverApplied = 0;
  try {
    while (!options.signal.aborted) {
      const began = Date.now();
      const [first, second, removed] = pickSlugs(options.slugs, 3);
      const write = await client.writeUser(pickUser(options.users), [first!, second!], [removed!]).catch(() => undefined);
      const answered = process.hrtime.bigint();
      const position = write?.position == null ? undefined : parsePosition(write.position);
      if (!write || write.status !== 200 || !position) failedWrites++;
      else if (write.added.length + write.removed.length === 0) unchanged++;
      else {
        for (;;) {
          const applied = await readCheckpoint();
          if (applied && comparePositions(applied, position) >= 0) {
            lags.push(msSince(answered));
            break;
          }
          if (msSince(answered) > LAG_LIMIT_MS) {
            neverApplied++;
            break;
          }
          await sleep(options.pollMs);
        }
      }
      await sleep(Math.max(0, options.intervalMs - (Date.now() - began)));
    }
  } finally {
    await db.end();
  }
  return { samples: summarize(lags), unchanged, failedWrites, neverApplied };
}

export interface ReadAfterWriteProbe {
  /** A write and the read that sends its position back, back to back. */
  pairs: LatencySummary;
  /** Reads that did not show the write: an added slug missing, a removed one present, or other slugs than the write answered. */
  mismatches: number;
  failedRequests: number;
  examples: string[];
}

/** Write, then read with X-Min-Position: the read must show exactly what the write answered. */
export async function readAfterWrite(
  client: ServiceClient,
  options: { users: UserRange; slugs: readonly string[]; signal: AbortSignal },
): Promise<ReadAfterWriteProbe> {
  const durations: number[] = [];
  const examples: string[] = [];
  let mismatches = 0;
  let failedRequests = 0;
  while (!options.signal.aborted) {
    const userId = pickUser(options.users);
    const [first, second, removed] = pickSlugs(options.slugs, 3);
    const began = process.hrtime.bigint();
    const write = await client.writeUser(userId, [first!, second!], [removed!]).catch(() => undefined);
    const read = write?.status === 200 && write.position !== null ? await client.readUser(userId, write.position).catch(() => undefined) : undefined;
    const elapsed = msSince(began);
    if (!write || !read || read.status !== 200) {
      failedRequests++;
      await sleep(FAILURE_PAUSE_MS);
      continue;
    }
    durations.push(elapsed);
    const mismatch = mismatchOf(userId, write, { added: [first!, second!], removed: removed! }, read.segments);
    if (mismatch) {
      mismatches++;
      if (examples.length < 5) examples.push(mismatch);
    }
  }
  return { pairs: summarize(durations), mismatches, failedRequests, examples };
}

/**
 * How a read fails to show a write that added `asked.added` and removed `asked.removed`: an added
 * slug missing, the removed one present, or other slugs than the write answered; null when it shows it.
 */
export function mismatchOf(
  userId: number,
  write: UserWrite,
  asked: { added: readonly string[]; removed: string },
  readSegments: ReadonlyArray<{ slug: string }>,
): string | null {
  const slugs = readSegments.map((segment) => segment.slug).sort();
  const problems = [
    ...asked.added.filter((slug) => !slugs.includes(slug)).map((slug) => `${slug} missing`),
    ...(slugs.includes(asked.removed) ? [`${asked.removed} still there`] : []),
    ...(slugs.join(',') !== [...write.segments].sort().join(',') ? ['differs from the write answer'] : []),
  ];
  return problems.length === 0 ? null : `user ${userId} at ${write.position}: ${problems.join(', ')}; read [${slugs.join(',')}]`;
}

export interface StreamLengthProbe {
  longStreamEvents: number;
  long: LatencySummary;
  fresh: LatencySummary;
  /** long ÷ fresh */
  medianRatio: number | null;
  p99Ratio: number | null;
  /** Writes that failed or did not change exactly the one toggled segment. */
  unexpectedAnswers: number;
}

/**
 * `writes` sequential writes to one user whose stream holds `longStreamEvents` events, toggling
 * one segment, interleaved with as many to fresh users (one add, then its removal, per user), so
 * that both meet the same conditions.
 */
export async function compareStreamLengths(
  client: ServiceClient,
  options: { longUser: number; longStreamEvents: number; freshUsersFrom: number; slug: string; writes: number },
): Promise<StreamLengthProbe> {
  const long: number[] = [];
  const fresh: number[] = [];
  let unexpectedAnswers = 0;
  // The seeded stream alternates add, remove, …: after an odd count it ends with the segment added.
  const longHasIt = options.longStreamEvents % 2 === 1;
  const timed = async (userId: number, add: boolean, into: number[]) => {
    const began = process.hrtime.bigint();
    const write = await client.writeUser(userId, add ? [options.slug] : [], add ? [] : [options.slug]);
    into.push(msSince(began));
    if (write.status !== 200 || write.added.length + write.removed.length !== 1) unexpectedAnswers++;
  };
  for (let i = 0; i < options.writes; i++) {
    await timed(options.longUser, longHasIt ? i % 2 === 1 : i % 2 === 0, long);
    await timed(options.freshUsersFrom + Math.floor(i / 2), i % 2 === 0, fresh);
  }
  const longSummary = summarize(long);
  const freshSummary = summarize(fresh);
  return {
    longStreamEvents: options.longStreamEvents,
    long: longSummary,
    fresh: freshSummary,
    medianRatio: ratio(longSummary.p50, freshSummary.p50),
    p99Ratio: ratio(longSummary.p99, freshSummary.p99),
    unexpectedAnswers,
  };
}
