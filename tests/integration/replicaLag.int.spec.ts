// How far a replica's read model is behind the primary's, as readiness measures it. A second
// database stands in for the replica here: the test moves its checkpoint as replay would, and a
// test clock stands for the time between readiness probes. tests/e2e/readReplica.e2e.spec.ts
// measures a real streaming replica.
import { createReplicaLagWatch, replicaReadiness, type ReplicaLag } from '../../src/operations/replicaLag';
import { writeCheckpoint } from '../../src/projections/checkpoints';
import { READ_MODEL_PROJECTION } from '../../src/projections/readModel/readModelProjection';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { SECOND, TestClock } from '../support/testClock';

const quietLogger = { warn: () => undefined };
let primary: TestDatabase;
let replica: TestDatabase;
let clock: TestClock;
let watch: ReplicaLag;
/** Commit positions the projector has written so far; each test continues from the last. */
let written = 0;

/** The projector applies one more batch on the primary; the replica gets it when `replayed`. */
async function projectBatch(options: { replayed: boolean }): Promise<void> {
  written += 1;
  const position = { commit: BigInt(written), prepare: BigInt(written) };
  await writeCheckpoint(primary.pool, READ_MODEL_PROJECTION, position, 1);
  if (options.replayed) await writeCheckpoint(replica.pool, READ_MODEL_PROJECTION, position, 1);
}

async function replayAll(): Promise<void> {
  await writeCheckpoint(replica.pool, READ_MODEL_PROJECTION, { commit: BigInt(written), prepare: BigInt(written) }, 0);
}

beforeAll(async () => {
  [primary, replica] = await Promise.all([createTestDatabase(), createTestDatabase()]);
});

afterAll(async () => {
  await Promise.all([primary.drop(), replica.drop()]);
});

beforeEach(async () => {
  clock = new TestClock();
  watch = createReplicaLagWatch({ primary: primary.pool, replica: replica.pool, projection: READ_MODEL_PROJECTION, clock });
  await replayAll();
});

it('an idle primary with a replica that has everything is never behind, however long nothing is written', async () => {
  await projectBatch({ replayed: true });
  for (let probe = 0; probe < 5; probe++) {
    expect(await watch.lagMs()).toBe(0);
    clock.advance(3_600 * SECOND);
  }
  expect(await replicaReadiness(watch, 60 * SECOND, quietLogger)).toEqual({ name: 'read replica', ok: true });
});

it('a replica that replays just behind a busy primary is not behind by more than the time between probes', async () => {
  for (let probe = 0; probe < 10; probe++) {
    // At each probe the replica has what the primary had at the previous one, never the latest.
    await replayAll();
    await projectBatch({ replayed: false });
    expect(await watch.lagMs()).toBe(0);
    clock.advance(10 * SECOND);
  }
});

it('a replica whose replay stopped is as far behind as the oldest primary position it has not reached', async () => {
  await projectBatch({ replayed: false }); // first seen at 0 s
  expect(await watch.lagMs()).toBe(0);
  clock.advance(30 * SECOND);
  await projectBatch({ replayed: false }); // first seen at 30 s
  expect(await watch.lagMs()).toBe(30 * SECOND);
  clock.advance(40 * SECOND);
  expect(await watch.lagMs()).toBe(70 * SECOND);
  expect(await replicaReadiness(watch, 60 * SECOND, quietLogger)).toEqual({ name: 'read replica', ok: false, detail: '70.0 s behind the primary' });

  // Replay takes the first batch only: what is left was first seen 30 s in.
  await writeCheckpoint(replica.pool, READ_MODEL_PROJECTION, { commit: BigInt(written - 1), prepare: BigInt(written - 1) }, 1);
  expect(await watch.lagMs()).toBe(40 * SECOND);
  expect(await replicaReadiness(watch, 60 * SECOND, quietLogger)).toEqual({ name: 'read replica', ok: true, detail: '40.0 s behind the primary' });
  await replayAll();
  expect(await watch.lagMs()).toBe(0);
});
