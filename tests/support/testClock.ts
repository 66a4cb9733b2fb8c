// A clock the test moves by hand, so that days of TTL pass in no time.
import type { Clock } from '../../src/platform/clock';

export class TestClock implements Clock {
  private current: number;

  constructor(start: Date = new Date()) {
    this.current = start.getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  advance(ms: number): Date {
    this.current += ms;
    return this.now();
  }

  set(moment: Date): void {
    this.current = moment.getTime();
  }
}

export const SECOND = 1_000;
export const HOUR = 60 * 60 * SECOND;
export const DAY = 24 * HOUR;
