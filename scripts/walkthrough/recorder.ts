// Runs the walkthrough's requests against one service and keeps what each README block shows.
import { send, type Answer, type Call, type Exchange, SHOWN_BASE } from './exchange';

export interface Block {
  /** scene.name, as in the README's marker. */
  name: string;
  exchanges: Exchange[];
}

/** A call, or one built from the answers before it in the same block. */
export type Step = Call | ((earlier: Answer[]) => Call);

export class Recorder {
  readonly blocks: Block[] = [];
  private lastPosition: string | undefined;
  private syncedPosition: string | undefined;

  constructor(
    readonly base: string,
    private readonly scene: string,
  ) {}

  /** Sends the steps in order and records them as one block of the README. */
  async block(name: string, ...steps: Step[]): Promise<Answer[]> {
    const exchanges: Exchange[] = [];
    const answers: Answer[] = [];
    for (const step of steps) {
      const call = typeof step === 'function' ? step(answers) : step;
      const answer = await this.send(call);
      exchanges.push({ call, answer });
      answers.push(answer);
    }
    this.blocks.push({ name: `${this.scene}.${name}`, exchanges });
    return answers;
  }

  /** A request the README does not show: setting the scene, or finding a user. */
  async quiet(call: Call): Promise<Answer> {
    return this.send({ ...call, show: 'plain' });
  }

  async untilReady(): Promise<void> {
    const deadline = Date.now() + 60_000;
    while ((await send(this.base, { path: '/health/ready' })).status !== 200) {
      if (Date.now() > deadline) throw new Error(`${this.base} was not ready within 60 s`);
      await sleep(50);
    }
  }

  private async send(call: Call): Promise<Answer> {
    const method = call.method ?? (call.body !== undefined || call.raw !== undefined ? 'POST' : 'GET');
    const waits = Object.keys(call.headers ?? {}).some((name) => name.toLowerCase() === 'x-min-position');
    if (method === 'GET' && !waits) await this.readsSeeWrites();
    // A link the service handed out names the address the README shows.
    const answer = await send(this.base, { ...call, path: call.path.replace(SHOWN_BASE, '') });
    const position = answer.header('x-position');
    if (position) this.lastPosition = position;
    return answer;
  }

  /**
   * A person types the next command long after the last write was applied; a script does not.
   * Before a read, wait (with X-Min-Position, unseen) until the read model and the in-memory view
   * hold every write so far, so that each read shows what it would show a person.
   */
  private async readsSeeWrites(): Promise<void> {
    const position = this.lastPosition;
    if (!position || position === this.syncedPosition) return;
    for (const path of ['/segments?limit=1', '/users/1/segments']) {
      const answer = await send(this.base, { path, headers: { 'X-Min-Position': position } });
      if (answer.status !== 200) throw new Error(`waiting for ${position} on ${path}: ${answer.status} ${answer.text}`);
    }
    this.syncedPosition = position;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
