// Load generator for bench/push: opens N WebSocket connections to URL (from source addresses
// 127.0.0.2.. in turn, to get past the ephemeral-port limit of one address), CONCURRENCY at a
// time, then reports on stdout, one JSON line per event:
//   {"opened":N,"ms":T}                     all connections open (connection rate = N / T)
//   {"received":M,"span_ms":T}              after DURATION_MS of listening: messages received, and
//                                           the time from the first to the last of them
// Usage: node ws_load.js URL N CONCURRENCY DURATION_MS [FIRST_SOURCE]
'use strict';
const WebSocket = require('ws');
const [url, nArg, concArg, durArg, firstArg] = process.argv.slice(2);
const n = Number(nArg), concurrency = Number(concArg), duration = Number(durArg);
let source = Number(firstArg || 2);
const sockets = [];
let opened = 0, failed = 0, received = 0, started = 0;
let first = 0, last = 0;
const t0 = Date.now();

function sourceAddress(i) {
  // 20,000 ports per source address at most.
  return '127.0.0.' + (source + Math.floor(i / 20000));
}

function openOne(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress: sourceAddress(i), perMessageDeflate: false });
    ws.on('open', () => { opened++; sockets.push(ws); resolve(); });
    ws.on('error', () => { failed++; resolve(); });
    ws.on('message', (data) => {
      if (data.indexOf('"type":"hello"') >= 0) return;  // imgpipe's greeting, not load
      const now = performance.now();
      if (received === 0) first = now;
      last = now;
      received++;
    });
  });
}

async function main() {
  const workers = [];
  for (let w = 0; w < concurrency; w++) {
    workers.push((async () => {
      while (started < n) { const i = started++; await openOne(i); }
    })());
  }
  await Promise.all(workers);
  console.log(JSON.stringify({ opened, failed, ms: Date.now() - t0 }));
  setTimeout(() => {
    console.log(JSON.stringify({ received, span_ms: last - first }));
    process.exit(0);
  }, duration);
}
main();
