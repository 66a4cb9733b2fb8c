// How soon a write is visible in another API process's view: a write through one API-only process,
// then a read through another that sends the write's X-Position back as X-Min-Position, so that the
// read answers once the view serving it has applied the write. Several such pairs run at a time,
// each on users of its own, while the harness's write load runs on the service.
import { setTimeout as sleep } from 'node:timers/promises';
import { mismatchOf, pickSlugs, type UserRange } from './probes';
import type { ServiceClient } from './serviceClient';
import { msSince, summarize, type LatencySummary } from './stats';

export interface VisibilityProbe {
  /** From the write's answer to the answer of the read through the other process. */
  samples: LatencySummary;
  /** Write/read pairs running at a time. */
  concurrentPairs: number;
  /** Reads that did not show their write (an added slug missing, the removed one present, other slugs). */
  mismatches: number;
  failedWrites: number;
  /** Reads that did not answer 200: 504 when the view did not reach the position within 5 s. */
  failedReads: number;
  failedReadStatuses: Record<string, number>;
  examples: string[];
}

/** After a failed request, so that a process that is down is not hammered in a tight loop. */
const FAILURE_PAUSE_MS = 50;

/**
 * `pairs` loops until `signal`; each writes through one of `processes` and reads through the other,
 * the two swapping at every sample, so that both directions are measured.
 */
export async function sampleVisibility(
  processes: readonly [ServiceClient, ServiceClient],
  options: { users: UserRange; slugs: readonly string[]; pairs: number; signal: AbortSignal },
): Promise<VisibilityProbe> {
  const userCount = options.users.to - options.users.from + 1;
  // Each loop has users of its own, so that a read sees no other loop's write to the same user.
  const pairs = Math.max(1, Math.min(options.pairs, userCount));
  const samples: number[] = [];
  const examples: string[] = [];
  const failedReadStatuses: Record<string, number> = {};
  let mismatches = 0;
  let failedWrites = 0;
  let failedReads = 0;

  const loop = async (index: number) => {
    const ownUsers = Math.floor((userCount - 1 - index) / pairs) + 1;
    for (let sample = index; !options.signal.aborted; sample++) {
      const userId = options.users.from + index + pairs * Math.floor(Math.random() * ownUsers);
      const writer = processes[sample % 2]!;
      const reader = processes[(sample + 1) % 2]!;
      const [first, second, removed] = pickSlugs(options.slugs, 3);
      const write = await writer.writeUser(userId, [first!, second!], [removed!]).catch(() => undefined);
      const answered = process.hrtime.bigint();
      if (!write || write.status !== 200 || write.position === null) {
        failedWrites++;
        await sleep(FAILURE_PAUSE_MS);
        continue;
      }
      const read = await reader.readUser(userId, write.position).catch(() => undefined);
      const elapsed = msSince(answered);
      if (!read || read.status !== 200) {
        failedReads++;
        const status = String(read?.status ?? 'no answer');
        failedReadStatuses[status] = (failedReadStatuses[status] ?? 0) + 1;
        await sleep(FAILURE_PAUSE_MS);
        continue;
      }
      samples.push(elapsed);
      const mismatch = mismatchOf(userId, write, { added: [first!, second!], removed: removed! }, read.segments);
      if (mismatch) {
        mismatches++;
        if (examples.length < 5) examples.push(`${writer.url} → ${reader.url}: ${mismatch}`);
      }
    }
  };
  await Promise.all(Array.from({ length: pairs }, (_, index) => loop(index)));
  return { samples: summarize(samples), concurrentPairs: pairs, mismatches, failedWrites, failedReads, failedReadStatuses, examples };
}
