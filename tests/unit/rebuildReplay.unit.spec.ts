// The rebuild's and verify's walk through the global order (src/projections/rebuild/replay.ts),
// over an in-memory global order whose horizon the test moves: what a PostgreSQL reader sees while
// a transaction older than some committed events is still running.
import type { Position } from '../../src/eventstore/eventStore';
import type { ProjectedEvent } from '../../src/projections/projection';
import { replay } from '../../src/projections/rebuild/replay';

const at = (n: number): Position => ({ commit: BigInt(n), prepare: BigInt(n) });
const events: ProjectedEvent[] = [1, 2, 3, 4, 5, 6, 7].map((n) => ({
  id: `event-${n}`,
  stream: `user-${n}`,
  revision: 0,
  position: at(n),
  type: 'MembershipAdded',
  data: { n },
  recordedAt: new Date(0),
}));

/** The global order as a reader sees it: only events before the horizon, `limit` at a time. */
function globalOrder(horizon: { at: number }) {
  const reads: number[] = [];
  const read = async (from: Position | undefined, limit: number) => {
    const after = from === undefined ? 0 : Number(from.prepare);
    const page = events.filter((event) => Number(event.position.prepare) > after && Number(event.position.prepare) < horizon.at).slice(0, limit);
    reads.push(page.length);
    return page;
  };
  return { read, reads };
}

describe('replay of the global order up to a bound', () => {
  it('reads on past a short page that stops before the bound, until the held-back events arrive', async () => {
    const horizon = { at: 4 }; // events 4 and on wait behind a running transaction
    const { read, reads } = globalOrder(horizon);
    const applied: number[] = [];
    const replaying = replay({
      read,
      from: undefined,
      batchSize: 2,
      until: async () => at(6),
      apply: async (batch) => {
        applied.push(...batch.map((event) => Number(event.position.prepare)));
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(applied).toEqual([1, 2, 3]);
    horizon.at = 100; // the transaction ends
    expect(await replaying).toEqual(at(6));
    expect(applied).toEqual([1, 2, 3, 4, 5, 6]);
    expect(reads.filter((length) => length === 0).length).toBeGreaterThan(0);
  });

  it('stops at a short page without a bound, and at the bound when the page reaches it', async () => {
    const { read } = globalOrder({ at: 4 });
    const applied: number[] = [];
    const apply = async (batch: readonly ProjectedEvent[]) => {
      applied.push(...batch.map((event) => Number(event.position.prepare)));
    };
    expect(await replay({ read, from: undefined, batchSize: 2, apply })).toEqual(at(3));
    expect(applied).toEqual([1, 2, 3]);

    applied.length = 0;
    const all = globalOrder({ at: 100 });
    expect(await replay({ read: all.read, from: at(1), batchSize: 10, until: async () => at(5), apply })).toEqual(at(5));
    expect(applied).toEqual([2, 3, 4, 5]);
  });

  it('ends when its signal aborts while it waits for held-back events', async () => {
    const { read } = globalOrder({ at: 2 });
    const controller = new AbortController();
    const replaying = replay({ read, from: undefined, batchSize: 5, until: async () => at(6), apply: async () => undefined, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(replaying).rejects.toThrow();
  });
});
