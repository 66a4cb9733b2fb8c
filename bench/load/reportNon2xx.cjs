'use strict';
// autocannon onResponse, loaded by path inside autocannon's worker thread: prints the first few
// non-2xx answers (status and body) to stderr, so that a failing phase says why.
const MAX_SHOWN = 3;
let shown = 0;
module.exports = function onResponse(status, body) {
  if (status >= 200 && status < 300) return;
  if (shown >= MAX_SHOWN) return;
  shown++;
  process.stderr.write(`[load] non-2xx answer: ${status} ${String(body).slice(0, 400)}\n`);
};
