// Progress of a long command on stderr: a redrawn bar on a terminal, plain lines otherwise (logs, CI).
export interface Progress {
  total(count: number): void;
  update(done: number): void;
  finish(message: string): void;
}

const BAR_WIDTH = 30;

export function createProgress(stream: NodeJS.WriteStream, label: string): Progress {
  let total: number | undefined;
  let lastLine = 0;
  const fraction = (done: number) => (total ? Math.min(1, done / total) : 0);
  if (stream.isTTY) {
    let lastDraw = 0;
    const draw = (done: number) => {
      const filled = Math.round(fraction(done) * BAR_WIDTH);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
      stream.write(`\r${label} ${bar} ${(fraction(done) * 100).toFixed(0).padStart(3)}% ${done.toLocaleString('en')}/${(total ?? 0).toLocaleString('en')} rows`);
    };
    return {
      total(count) {
        total = count;
        draw(0);
      },
      update(done) {
        if (Date.now() - lastDraw < 100 && done !== total) return;
        lastDraw = Date.now();
        draw(done);
      },
      finish(message) {
        stream.write(`\r\x1b[K${message}\n`);
      },
    };
  }
  return {
    total(count) {
      total = count;
      stream.write(`${label}: ${count} rows to write\n`);
    },
    update(done) {
      // A line per tenth of the way, not per batch.
      const step = Math.floor(fraction(done) * 10);
      if (step > lastLine && done !== total) {
        lastLine = step;
        stream.write(`${label}: ${done} of ${total} rows (${step * 10}%)\n`);
      }
    },
    finish(message) {
      stream.write(`${message}\n`);
    },
  };
}
