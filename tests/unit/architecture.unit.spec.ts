// The import rules of docs/architecture.md ("Layout"), checked on every source file: the write
// side and the read side do not know each other, the domain knows only itself and the events,
// and only src/eventstore/ names a concrete event-store adapter.
import fs from 'node:fs';
import path from 'node:path';

const SRC = path.resolve(__dirname, '../../src');

function sourceFiles(directory: string): string[] {
  return fs.readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every module a file imports that lies in src/, as a path relative to src/ (e.g. "queries/segments"). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((match) => match[1]!);
  return specifiers
    .map((specifier) => path.relative(SRC, path.resolve(path.dirname(file), specifier)))
    .filter((target) => !target.startsWith('..'));
}

const files = sourceFiles(SRC).map((file) => ({ file: path.relative(SRC, file), imports: importsOf(file) }));
const under = (folder: string) => (target: string) => target === folder || target.startsWith(`${folder}/`);

function violations(from: (file: string) => boolean, forbidden: (target: string) => boolean): string[] {
  return files.filter(({ file }) => from(file)).flatMap(({ file, imports }) => imports.filter(forbidden).map((target) => `${file} imports ${target}`));
}

describe('the import rules of the layout', () => {
  it('reads every source file (the rules below are not checked against nothing)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.find(({ file }) => file === 'service.ts')?.imports).toContain('commands/userCommands');
  });

  it('commands/ does not import queries/', () => {
    expect(violations(under('commands'), under('queries'))).toEqual([]);
  });

  it('queries/ does not import commands/', () => {
    expect(violations(under('queries'), under('commands'))).toEqual([]);
  });

  it('domain/ imports only domain/ and events/', () => {
    expect(violations(under('domain'), (target) => !under('domain')(target) && !under('events')(target))).toEqual([]);
  });

  it('nothing outside eventstore/ names a concrete event-store adapter', () => {
    const adapter = (target: string) => under('eventstore/postgres')(target) || under('eventstore/eventstoredb')(target);
    expect(violations((file) => !under('eventstore')(file), adapter)).toEqual([]);
  });

  it('no source file is over 250 lines', () => {
    const long = sourceFiles(SRC)
      .map((file) => ({ file: path.relative(SRC, file), lines: fs.readFileSync(file, 'utf8').split('\n').length - 1 }))
      .filter(({ lines }) => lines > 250);
    expect(long).toEqual([]);
  });

  it('service.ts, which wires one process, stays under 120 lines', () => {
    expect(fs.readFileSync(path.join(SRC, 'service.ts'), 'utf8').split('\n').length - 1).toBeLessThan(120);
  });
});
