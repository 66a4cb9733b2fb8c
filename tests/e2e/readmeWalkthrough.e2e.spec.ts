// The README's walkthrough (scripts/walkthrough/scenes.ts), run against test services on real
// sockets: every example block of the README must show the statuses the walkthrough gets, and
// answers of the same shape (fields, types, list lengths; not times, ids or positions). When this
// fails after a change of the API, `npm run docs:examples` rewrites the blocks.
import fs from 'node:fs';
import path from 'node:path';
import { curlOutput } from '../../scripts/walkthrough/exchange';
import { readBlocks } from '../../scripts/walkthrough/readme';
import { Recorder, type Block } from '../../scripts/walkthrough/recorder';
import { SCENES } from '../../scripts/walkthrough/scenes';
import { shapeDifferences } from '../support/jsonShape';
import { startTestService } from '../support/testService';

const README = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

/** JSON when the output is JSON, else its lines (CSV, Prometheus text, listings). */
const parsed = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text.split('\n').map(() => 'line');
  }
};

/** The body part of curl's output (after the headers of curl -i). */
const bodyOf = (output: string) => (/^HTTP\/1\.1 \d{3}/.test(output) ? output.split('\n\n').slice(1).join('\n\n') : output);

describe("the README's walkthrough", () => {
  const shown = new Map(readBlocks(README).map((block) => [block.name, block]));

  it('has its example blocks marked in the README, each of a scene the walkthrough has', () => {
    expect(shown.size).toBeGreaterThan(80);
    const scenes = SCENES.map((scene) => scene.name);
    expect([...shown.keys()].filter((block) => !scenes.includes(block.split('.')[0]!))).toEqual([]);
  });

  it.each(SCENES.map((scene) => scene.name))('scene %s: every block shows the statuses and answer shapes the service gives', async (name) => {
    const scene = SCENES.find((candidate) => candidate.name === name)!;
    const t = await startTestService();
    let blocks: Block[];
    let base: string;
    try {
      base = await t.service.app.listen({ port: 0, host: '127.0.0.1' });
      const recorder = new Recorder(base, scene.name);
      await recorder.untilReady();
      await scene.run(recorder);
      blocks = recorder.blocks;
    } finally {
      await t.close();
    }

    const inReadme = [...shown.keys()].filter((block) => block.startsWith(`${name}.`)).sort();
    expect(inReadme).toEqual(blocks.map((block) => block.name).sort());
    for (const block of blocks) {
      const readme = shown.get(block.name)!;
      const statuses = block.exchanges.map(({ answer }) => answer.status);
      expect({ block: block.name, statuses }).toEqual({ block: block.name, statuses: readme.statuses });
      expect(readme.commands).toHaveLength(block.exchanges.length);
      block.exchanges.forEach((exchange, index) => {
        const command = readme.commands[index]!;
        if (command.statusLine) expect(command.statusLine).toMatch(new RegExp(`^HTTP/1\\.1 ${exchange.answer.status} `));
        const differences = shapeDifferences(parsed(command.body), parsed(bodyOf(curlOutput(exchange, base))), { sameLength: true });
        expect({ block: block.name, command: command.command, differences }).toEqual({ block: block.name, command: command.command, differences: [] });
      });
    }
  }, 120_000);
});
