// When a reader of the PostgreSQL global order starts to look past other databases' transactions
// (src/eventstore/postgres/globalOrderRead.ts): only once the server-wide horizon has held
// committed events back without moving for STUCK_HORIZON_MS.
import { STUCK_HORIZON_MS, StuckHorizon, type GlobalOrderRead } from '../../src/eventstore/postgres/globalOrderRead';

const read = (serverHorizon: string, serverHorizonHeldBack: boolean): GlobalOrderRead => ({
  events: [],
  heldBack: serverHorizonHeldBack,
  serverHorizon,
  serverHorizonHeldBack,
});

describe('a stuck server-wide horizon', () => {
  it('is looked past after it held events back, unmoved, for the whole interval, and for as long as it stays so', () => {
    const stuck = new StuckHorizon();
    expect(stuck.lookPastOtherDatabases(read('700', true), 1_000)).toBe(false);
    expect(stuck.lookPastOtherDatabases(read('700', true), 1_000 + STUCK_HORIZON_MS - 1)).toBe(false);
    expect(stuck.lookPastOtherDatabases(read('700', true), 1_000 + STUCK_HORIZON_MS)).toBe(true);
    expect(stuck.lookPastOtherDatabases(read('700', true), 5_000)).toBe(true);
  });

  it('is not while it moves (a write load of short transactions) or holds nothing back', () => {
    const stuck = new StuckHorizon();
    for (let step = 0; step < 20; step++) expect(stuck.lookPastOtherDatabases(read(String(700 + step), true), 1_000 + step * 50)).toBe(false);
    expect(stuck.lookPastOtherDatabases(read('719', true), 1_000 + 19 * 50 + STUCK_HORIZON_MS)).toBe(true);
    expect(stuck.lookPastOtherDatabases(read('719', false), 3_000)).toBe(false);
    // Held back again by the same transaction: the interval starts over.
    expect(stuck.lookPastOtherDatabases(read('719', true), 3_010)).toBe(false);
  });
});
