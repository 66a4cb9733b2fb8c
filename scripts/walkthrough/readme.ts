// The README's example blocks: each sits between `<!-- example scene.name: statuses -->` and
// `<!-- /example -->`, written by `npm run docs:examples` and read back by the walkthrough's test.
import { curlCommand, curlOutput } from './exchange';
import type { Block } from './recorder';

const BLOCK = /<!-- example ([\w.-]+): ([\d ]+) -->\n([\s\S]*?)<!-- \/example -->/g;
const FENCE = '```';

export interface ShownCommand {
  command: string;
  /** The status line when the command shows one (curl -i). */
  statusLine?: string;
  /** What follows the headers, or the whole output. */
  body: string;
}

export interface ShownBlock {
  name: string;
  statuses: number[];
  commands: ShownCommand[];
}

export function renderBlock(block: Block, base: string): string {
  const statuses = block.exchanges.map(({ answer }) => answer.status).join(' ');
  const lines = block.exchanges.flatMap((exchange) => [curlCommand(exchange.call), curlOutput(exchange, base)].filter(Boolean));
  return `<!-- example ${block.name}: ${statuses} -->\n${FENCE}console\n${lines.join('\n')}\n${FENCE}\n<!-- /example -->`;
}

/**
 * The README with the scene's marked blocks replaced by their new rendering; fails on a block
 * without its counterpart.
 */
export function rewriteReadme(readme: string, scene: string, blocks: Block[], base: string): string {
  const rendered = new Map(blocks.map((block) => [block.name, renderBlock(block, base)]));
  const seen = new Set<string>();
  const result = readme.replace(BLOCK, (whole: string, name: string) => {
    if (!name.startsWith(`${scene}.`)) return whole;
    const block = rendered.get(name);
    if (!block) throw new Error(`README block ${name} is not in the walkthrough (scripts/walkthrough/scenes.ts)`);
    seen.add(name);
    return block;
  });
  const missing = [...rendered.keys()].filter((name) => !seen.has(name));
  if (missing.length > 0) throw new Error(`the README has no place for these blocks: ${missing.join(', ')}`);
  return result;
}

function parseCommands(fenced: string): ShownCommand[] {
  const inner = fenced.replace(/^```console\n/, '').replace(/\n```\n?$/, '');
  const commands: ShownCommand[] = [];
  let current: string[] | undefined;
  const finish = () => {
    if (!current) return;
    const [command, ...output] = current;
    const text = output.join('\n');
    const head = /^HTTP\/1\.1 \d{3}/.test(text) ? text.split('\n\n')[0]! : undefined;
    commands.push({ command: command!, statusLine: head?.split('\n')[0], body: head === undefined ? text : text.slice(head.length + 2) });
  };
  for (const line of inner.split('\n')) {
    if (line.startsWith('$ ')) {
      finish();
      current = [line];
    } else current?.push(line);
  }
  finish();
  return commands;
}

export function readBlocks(readme: string): ShownBlock[] {
  return [...readme.matchAll(BLOCK)].map((match) => ({
    name: match[1]!,
    statuses: match[2]!.trim().split(' ').map(Number),
    commands: parseCommands(match[3]!.trim()),
  }));
}
