// Optimistic concurrency: a load-decide-append cycle that lost the race for its stream runs again
// on the state the winner left.
import { TooMuchContentionError } from '../domain/errors';
import { WrongExpectedRevisionError } from '../eventstore/eventStore';
import { sleep } from '../platform/sleep';

const MAX_ATTEMPTS = 25;

/** Re-runs `attempt` while the append loses a race; the state is reloaded each time. */
export async function retryOnConflict<T>(stream: string, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      if (tries >= MAX_ATTEMPTS) throw new TooMuchContentionError(stream);
      // Jittered, growing pause so that racing writers spread out.
      await sleep(Math.random() * Math.min(2 ** tries, 50));
    }
  }
}
