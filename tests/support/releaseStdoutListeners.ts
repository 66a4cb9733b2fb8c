// Each test file loads slonik anew in a worker that runs several files, and slonik's logger
// (roarr) adds an 'error' listener to process.stdout each time it loads. In the service it loads
// once; here the listeners would pile up across files. Remove the ones a file added when it ends.
const before = new Set(process.stdout.listeners('error'));

afterAll(() => {
  for (const listener of process.stdout.listeners('error')) {
    if (!before.has(listener)) process.stdout.removeListener('error', listener as (...args: unknown[]) => void);
  }
});
