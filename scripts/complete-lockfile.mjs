#!/usr/bin/env node
// Our npm registry serves only the platform builds of native packages that can run on
// Linux x64 hosts, so `npm install` writes a package-lock.json without entries for the
// other platforms (@swc/core-darwin-arm64, …). `npm ci` then refuses the lock as out of
// sync. This script adds an entry with the platform's os/cpu/libc for every optional
// dependency the lock names but does not hold; npm skips such entries on other platforms
// without fetching them. Run it after every `npm install`: `npm run lock:complete`;
// `--check` only reports (a unit test runs it).
import { readFileSync, writeFileSync } from 'node:fs';

const OS = new Set(['aix', 'android', 'darwin', 'freebsd', 'linux', 'netbsd', 'openbsd', 'openharmony', 'sunos', 'win32']);
const CPU = new Set(['arm', 'arm64', 'ia32', 'loong64', 'mips64el', 'ppc64', 'riscv64', 's390x', 'wasm32', 'x64']);

export function missingPlatformEntries(lock) {
  const packages = lock.packages;
  const added = {};
  for (const entry of Object.values(packages)) {
    for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
      const key = `node_modules/${name}`;
      if (packages[key] || added[key]) continue;
      const words = name.split('/').pop().split('-');
      const os = words.filter((word) => OS.has(word));
      const cpu = words.filter((word) => CPU.has(word));
      if (os.length === 0 && cpu.length === 0) continue; // not a platform build
      const stub = { version, optional: true };
      if (entry.dev) stub.dev = true;
      if (os.length) stub.os = os;
      if (cpu.length) stub.cpu = cpu;
      if (words.some((word) => word.startsWith('musl'))) stub.libc = ['musl'];
      else if (words.some((word) => word.startsWith('gnu'))) stub.libc = ['glibc'];
      added[key] = stub;
    }
  }
  return added;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  const file = process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? 'package-lock.json';
  const lock = JSON.parse(readFileSync(file, 'utf8'));
  const added = missingPlatformEntries(lock);
  if (check) {
    const names = Object.keys(added);
    if (names.length > 0) {
      console.error(`${file} lacks ${names.length} platform entries (${names.slice(0, 3).join(', ')}…); npm ci will refuse it. Run: npm run lock:complete`);
      process.exit(1);
    }
    console.log(`${file}: complete`);
    process.exit(0);
  }
  const { '': root, ...rest } = { ...lock.packages, ...added };
  lock.packages = { '': root, ...Object.fromEntries(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b))) };
  writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(`${file}: added ${Object.keys(added).length} platform entries`);
}
