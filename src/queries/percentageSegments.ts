// In-memory cache of the live percentage segments with their percentage timelines, so that a read
// of a user's segments stays one query plus hashing however many percentage segments exist.
//
// Freshness: every read query also returns the version of the percentage data (the highest
// position in `percentage_changes`, written by the projector in the transaction that changes it),
// read in the same snapshot as the user's memberships. When it differs from the cached version the
// cache reloads (one more query, only after a change). This holds in every process, whether or not
// it runs the projector, and a read that waited for a position (X-Min-Position) sees the
// percentages of that position.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { PercentageTimeline } from '../domain/percentageMembership';
import { loadPercentageTimelines } from './percentageTimelines';

const versionRow = z.object({ version: z.string() });

/** The fragment that reads the version; readers select it next to their own rows. */
export const percentageVersion = sql.fragment`(SELECT coalesce(max(global_position), 0)::text FROM percentage_changes)`;

/** The same subquery for the named statements of the read pool (node-postgres, plain text). */
export const PERCENTAGE_VERSION_SQL = '(SELECT coalesce(max(global_position), 0)::text FROM percentage_changes)';

export class PercentageSegmentCache {
  private version: string | null = null;
  private timelines: readonly PercentageTimeline[] = [];
  private reloading: Promise<void> | undefined;

  constructor(private readonly db: CommonQueryMethods) {}

  /** The live percentage segments as of `version` (or later). */
  async at(version: string): Promise<readonly PercentageTimeline[]> {
    if (version === this.version) return this.timelines;
    await this.reload();
    // A reload that was already under way may have read an older version than this reader saw;
    // one more brings the cache at least to the reader's version.
    if (this.version === null || BigInt(this.version) < BigInt(version)) await this.reload();
    return this.timelines;
  }

  /** What the last load read, without asking the database (empty before the first). */
  lastKnown(): readonly PercentageTimeline[] {
    return this.timelines;
  }

  /** The live percentage segments now: one query for the version, a reload when it moved. */
  async current(): Promise<readonly PercentageTimeline[]> {
    return this.at(await this.db.oneFirst(sql.type(versionRow)`SELECT ${percentageVersion} AS version`));
  }

  private reload(): Promise<void> {
    // Concurrent readers share one reload.
    this.reloading ??= (async () => {
      try {
        // The version first: the timelines read after it are at least as new, never older.
        const version = await this.db.oneFirst(sql.type(versionRow)`SELECT ${percentageVersion} AS version`);
        this.timelines = await loadPercentageTimelines(this.db, { liveOnly: true });
        this.version = version;
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }
}
