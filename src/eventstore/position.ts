// Positions travel as strings ("commit/prepare") in JSON and headers: JSON never sees a bigint.
import type { Position } from './eventStore';

const POSITION_PATTERN = /^(\d{1,20})\/(\d{1,20})$/;

/** Before every event: what a read needs to wait for when nothing was written. */
export const START_POSITION: Position = { commit: 0n, prepare: 0n };

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

export function formatPosition(position: Position): string {
  return `${position.commit}/${position.prepare}`;
}

export function parsePosition(text: string): Position | undefined {
  const match = POSITION_PATTERN.exec(text);
  if (!match) return undefined;
  return { commit: BigInt(match[1]!), prepare: BigInt(match[2]!) };
}
