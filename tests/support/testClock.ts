// A clock the test sets by hand, so changes happen at the moments a scenario names.
import type { Clock } from '../../src/infra/clock';

export interface TestClock extends Clock {
  set(time: string): void;
}

export function testClock(start: string): TestClock {
  let current = new Date(start);
  return {
    now: () => new Date(current),
    set(time) {
      current = new Date(time);
    },
  };
}
