// Progress of a long command on stderr: a redrawn bar on a terminal, plain lines otherwise (logs, CI).
export interface Progress {
  total(count: number): void;
  update(done: number): void;
  /** A line of its own between updates, such as a phase that begins. */
  note(message: string): void;
  finish(message: string): void;
}

export interface ProgressOptions {
  /** What is counted; rows unless told. */
  unit?: string;
  /** Adds the rate so far and the time left at that rate. */
  rate?: boolean;
  now?: () => number;
}

const BAR_WIDTH = 30;
const count = (value: number) => value.toLocaleString('en');

function duration(seconds: number): string {
  const whole = Math.ceil(seconds);
  if (whole < 60) return `${whole} s`;
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

export function createProgress(stream: NodeJS.WriteStream, label: string, options: ProgressOptions = {}): Progress {
  const unit = options.unit ?? 'rows';
  const now = options.now ?? Date.now;
  const startedAt = now();
  let total: number | undefined;
  let lastLine = 0;
  const fraction = (done: number) => (total ? Math.min(1, done / total) : 0);
  /** ", 61,234 events/s, about 29 s left" once there is a rate to tell. */
  const pace = (done: number, separator: string) => {
    const seconds = (now() - startedAt) / 1000;
    if (!options.rate || done === 0 || seconds <= 0) return '';
    const rate = done / seconds;
    const left = total === undefined ? '' : `${separator}about ${duration(Math.max(0, total - done) / rate)} left`;
    return `${separator}${count(Math.round(rate))} ${unit}/s${left}`;
  };
  if (stream.isTTY) {
    let lastDraw = 0;
    let lastDone = 0;
    let drawn = false;
    const draw = (done: number) => {
      const filled = Math.round(fraction(done) * BAR_WIDTH);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
      const percent = (fraction(done) * 100).toFixed(0).padStart(3);
      stream.write(`\r${label} ${bar} ${percent}% ${count(done)}/${count(total ?? 0)} ${unit}${pace(done, ' · ')}${options.rate ? '\x1b[K' : ''}`);
      drawn = true;
    };
    return {
      total(value) {
        total = value;
        draw(lastDone);
      },
      update(done) {
        lastDone = done;
        if (now() - lastDraw < 100 && done !== total) return;
        lastDraw = now();
        draw(done);
      },
      note(message) {
        stream.write(`${drawn ? '\r\x1b[K' : ''}${message}\n`);
        drawn = false;
      },
      finish(message) {
        stream.write(`\r\x1b[K${message}\n`);
      },
    };
  }
  return {
    total(value) {
      const first = total === undefined;
      total = value;
      if (first) stream.write(`${label}: ${value} ${unit} to ${unit === 'rows' ? 'write' : 'apply'}\n`);
    },
    update(done) {
      // A line per tenth of the way, not per batch.
      const step = Math.floor(fraction(done) * 10);
      if (step > lastLine && done !== total) {
        lastLine = step;
        stream.write(`${label}: ${done} of ${total} ${unit} (${step * 10}%)${pace(done, ', ')}\n`);
      }
    },
    note(message) {
      stream.write(`${message}\n`);
    },
    finish(message) {
      stream.write(`${message}\n`);
    },
  };
}
