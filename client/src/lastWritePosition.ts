// Read-your-writes: every write answers with X-Position; a read that sends the latest one back as
// X-Min-Position waits (up to 5 s, then 504) until the read model has applied it.

/** `commit/prepare`, as the service formats positions (PostgreSQL and EventStoreDB alike). */
const POSITION = /^(\d+)\/(\d+)$/;

function compare(a: string, b: string): number {
  const [, aCommit, aPrepare] = POSITION.exec(a)!;
  const [, bCommit, bPrepare] = POSITION.exec(b)!;
  const byCommit = BigInt(aCommit!) - BigInt(bCommit!);
  const difference = byCommit !== 0n ? byCommit : BigInt(aPrepare!) - BigInt(bPrepare!);
  return difference === 0n ? 0 : difference > 0n ? 1 : -1;
}

export class LastWritePosition {
  private latest: string | undefined;

  /** The highest position a write of this client has answered with, if any. */
  get value(): string | undefined {
    return this.latest;
  }

  /** Keeps the highest: answers to concurrent writes can arrive in any order. */
  record(position: string | null): void {
    if (position === null || !POSITION.test(position)) return;
    if (this.latest === undefined || compare(position, this.latest) > 0) this.latest = position;
  }

  /** The header a read sends to see every write this client has made; none before the first write. */
  headers(): Record<string, string> {
    return this.latest === undefined ? {} : { 'x-min-position': this.latest };
  }
}
