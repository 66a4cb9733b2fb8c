// appendMany without a multi-stream transaction: every write is appended on its own; with
// `redecide`, the ones that conflicted are decided again and appended in a next round.
import { WrongExpectedRevisionError, type AppendResult, type StreamWrite } from '../eventStore';

/** Rounds of redeciding before the append gives up with the conflict. */
const MAX_ROUNDS = 25;

export async function appendInRounds(
  writes: readonly StreamWrite[],
  redecide: ((conflicted: readonly StreamWrite[]) => Promise<StreamWrite[]>) | undefined,
  appendEach: (writes: readonly StreamWrite[]) => Promise<Array<AppendResult | WrongExpectedRevisionError>>,
): Promise<AppendResult[]> {
  const results: AppendResult[] = [];
  let pending = writes;
  for (let round = 1; pending.length > 0; round++) {
    const streams = new Set<string>();
    for (const write of pending) {
      if (streams.has(write.stream)) throw new Error(`stream ${write.stream} is written twice in one append`);
      streams.add(write.stream);
    }
    const outcomes = await appendEach(pending);
    const conflicted = pending.filter((_, index) => outcomes[index] instanceof WrongExpectedRevisionError);
    for (const outcome of outcomes) if (!(outcome instanceof WrongExpectedRevisionError)) results.push(outcome);
    if (conflicted.length === 0) break;
    if (!redecide || round >= MAX_ROUNDS) throw outcomes.find((outcome) => outcome instanceof WrongExpectedRevisionError)!;
    pending = await redecide(conflicted);
  }
  return results;
}
