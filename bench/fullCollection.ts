// A full garbage collection in a server the harness spawned, asked for from outside through the
// Node.js inspector, so that its resident memory counts what it keeps rather than what it has not
// collected yet (an API process spawned right after a load phase can hold a few hundred MB of
// garbage for a while). The server runs with --inspect-port=127.0.0.1:0 (bench/processes.ts): the
// inspector is off until SIGUSR1 turns it on, on a free port it then names on stderr.
import { execFile } from 'node:child_process';

/**
 * Two HeapProfiler.collectGarbage calls over the inspector's WebSocket (the second takes what the
 * first left for finalizers). Node.js 20 has a WebSocket client only behind a flag, so a short
 * child process of this Node.js makes them.
 */
const CLIENT = `
const socket = new WebSocket(process.argv[1]);
const fail = (why) => { console.error(why); process.exit(1); };
setTimeout(() => fail('no answer within 30 s'), 30000).unref();
socket.onerror = (event) => fail(String(event.message ?? event.type));
socket.onopen = () => socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
socket.onmessage = (message) => {
  const { id, error } = JSON.parse(message.data);
  if (error) fail(JSON.stringify(error));
  if (id === 1) socket.send(JSON.stringify({ id: 2, method: 'HeapProfiler.collectGarbage' }));
  if (id === 2) { socket.close(); process.exit(0); }
};`;

export function collectGarbageThrough(inspectorUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--experimental-websocket', '--no-warnings', '-e', CLIENT, inspectorUrl], { timeout: 40_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`full collection through ${inspectorUrl} failed: ${stderr.trim() || error.message}`)) : resolve(),
    );
  });
}

/** The inspector's address in the line Node.js writes when it starts listening, if this is that line. */
export function inspectorUrlIn(line: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(line)?.[1];
}
