// A bulk change of many users (POST /segments/{slug}/members) while single-user writes hit users of
// that same bulk: what each side answers, and how long the bulk takes.
import { setTimeout as sleep } from 'node:timers/promises';
import { pickSlugs } from './probes';
import type { ServiceClient } from './serviceClient';
import { msSince, round, summarize, type LatencySummary } from './stats';

export interface BulkProbe {
  slug: string;
  users: number;
  status: number;
  seconds: number;
  /** The bulk's answer: {added, removed} on success, the problem document otherwise. */
  answer: unknown;
  singleWrites: {
    connections: number;
    statusCodes: Record<string, number>;
    latency: LatencySummary;
    errors: number;
  };
}

/** Longer than any bulk should take; beyond it the bulk counts as failed (status 0). */
const BULK_TIMEOUT_MS = 15 * 60 * 1000;
/** Longer than the service's statement timeout (60 s), so that a blocked write's answer is counted. */
const SINGLE_WRITE_TIMEOUT_MS = 180_000;

export async function bulkUnderWrites(
  client: ServiceClient,
  options: { slug: string; users: number; writers: number; writeSlugs: readonly string[]; progress: (message: string) => void },
): Promise<BulkProbe> {
  const ids = Array.from({ length: options.users }, (_, i) => i + 1);
  const controller = new AbortController();
  const statusCodes: Record<string, number> = {};
  const latencies: number[] = [];
  let errors = 0;
  const writer = async () => {
    while (!controller.signal.aborted) {
      const userId = 1 + Math.floor(Math.random() * options.users);
      const [first, second, removed] = pickSlugs(options.writeSlugs, 3);
      const began = process.hrtime.bigint();
      try {
        const write = await client.writeUser(userId, [first!, second!], [removed!], SINGLE_WRITE_TIMEOUT_MS);
        latencies.push(msSince(began));
        statusCodes[write.status] = (statusCodes[write.status] ?? 0) + 1;
      } catch {
        errors++;
      }
    }
  };
  const writers = Array.from({ length: options.writers }, writer);
  // The single writes are already going when the bulk arrives.
  await sleep(200);
  options.progress(`bulk: ${options.users} users into ${options.slug}, ${options.writers} connections writing to the same users meanwhile`);
  const began = process.hrtime.bigint();
  let status = 0;
  let answer: unknown;
  try {
    const response = await client.request('POST', `/segments/${options.slug}/members`, { add: ids }, {}, BULK_TIMEOUT_MS);
    status = response.status;
    answer = response.body;
  } catch (error) {
    answer = error instanceof Error ? error.message : String(error);
  }
  const seconds = msSince(began) / 1000;
  controller.abort();
  await Promise.all(writers);
  const result: BulkProbe = {
    slug: options.slug,
    users: options.users,
    status,
    seconds: round(seconds, 2),
    answer,
    singleWrites: { connections: options.writers, statusCodes, latency: summarize(latencies), errors },
  };
  options.progress(
    `bulk: answered ${status} after ${result.seconds} s: ${JSON.stringify(answer).slice(0, 300)}; ` +
      `single writes meanwhile ${JSON.stringify(statusCodes)}, errors ${errors}`,
  );
  return result;
}
