// Report progress on stderr: a bar redrawn in place on a terminal, a line per tenth elsewhere.
import { createProgress } from '../../src/cli/progress';

function fakeStream(isTTY: boolean) {
  const written: string[] = [];
  const stream = { isTTY, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

describe('report progress', () => {
  it('on a terminal draws a bar redrawn in place, and ends with a clean line', () => {
    const { stream, written } = fakeStream(true);
    const progress = createProgress(stream, 'report 2023-08');
    progress.total(1_000_000);
    progress.update(1_000_000);
    progress.finish('report 2023-08: 1000000 rows written to august.csv');
    expect(written[0]).toBe(`\rreport 2023-08 ${'░'.repeat(30)}   0% 0/1,000,000 rows`);
    expect(written[1]).toBe(`\rreport 2023-08 ${'█'.repeat(30)} 100% 1,000,000/1,000,000 rows`);
    expect(written[2]).toBe('\r\x1b[Kreport 2023-08: 1000000 rows written to august.csv\n');
  });

  it('elsewhere writes plain lines, one per tenth of the way, never a carriage return', () => {
    const { stream, written } = fakeStream(false);
    const progress = createProgress(stream, 'report 2023-08');
    progress.total(100);
    for (let done = 5; done <= 100; done += 5) progress.update(done);
    progress.finish('done');
    expect(written).toEqual([
      'report 2023-08: 100 rows to write\n',
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((tenth) => `report 2023-08: ${tenth * 10} of 100 rows (${tenth * 10}%)\n`),
      'done\n',
    ]);
    expect(written.join('')).not.toContain('\r');
  });
});
