// Time is passed in, never read from a global, so tests of long durations run in milliseconds.
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
