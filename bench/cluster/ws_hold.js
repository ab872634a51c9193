// WebSocket side of bench/cluster: holds one connection per client id of lines FROM..TO of FILE
// ("client_id job_id"), from source addresses 127.A.B.C (PER_SOURCE connections each, starting
// at 127.0.SOURCE_BASE.1: past one address's ephemeral ports), CONCURRENCY opening at a time.
// Each connection expects exactly one result event (its job's). stdout, one JSON line each:
//   {"opened":N,"failed":F,"ms":T}                       all connections open (or failed)
//   {"done":true,"received":R,"dupes":D,"closed":C,"ms":T,"last_ms":L}
//        when every connection got its result, or on "report" from stdin; ms/last_ms from "go"
// stdin: "go" marks the trigger's start (results are sent after it), "report" forces the report.
// Usage: node ws_hold.js URL FILE FROM TO CONCURRENCY SOURCE_BASE PER_SOURCE
'use strict';
const WebSocket = require('ws');
const fs = require('fs');
const readline = require('readline');
const [url, file, fromArg, toArg, concArg, baseArg, perArg] = process.argv.slice(2);
const clients = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
  .slice(Number(fromArg), Number(toArg)).map((l) => l.split(' '));
const concurrency = Number(concArg), sourceBase = Number(baseArg), perSource = Number(perArg);
let opened = 0, failed = 0, received = 0, dupes = 0, closed = 0, started = 0, go = 0, last = 0;
let reported = false;
const got = new Uint8Array(clients.length);
const sockets = [];

function source(i) {
  const s = sourceBase * 256 + 1 + Math.floor(i / perSource);  // 127.0.base.1, .2, ...
  return `127.${(s >> 16) & 255}.${(s >> 8) & 255}.${s & 255}`;
}

function report() {
  if (reported) return;
  reported = true;
  console.log(JSON.stringify({ done: true, received, dupes, closed, opened,
    ms: Date.now() - go, last_ms: last ? last - go : -1 }));
}

function openOne(i) {
  return new Promise((resolve) => {
    const [client, job] = clients[i];
    const ws = new WebSocket(`${url}?client_id=${client}`, { localAddress: source(i), perMessageDeflate: false });
    let open = false;
    ws.on('open', () => { open = true; opened++; sockets.push(ws); resolve(); });
    ws.on('error', (e) => { if (!open) { failed++; if (failed < 5) console.error(String(e)); resolve(); } });
    ws.on('close', () => { if (open) closed++; });
    ws.on('message', (data) => {
      const m = JSON.parse(data);
      if (m.type !== 'result') return;
      if (m.job_id !== job || got[i]) { dupes++; return; }
      got[i] = 1;
      received++;
      last = Date.now();
      if (received === opened && go) report();
    });
  });
}

async function main() {
  const t0 = Date.now();
  const workers = [];
  for (let w = 0; w < concurrency; w++) {
    workers.push((async () => { while (started < clients.length) { const i = started++; await openOne(i); } })());
  }
  await Promise.all(workers);
  console.log(JSON.stringify({ opened, failed, ms: Date.now() - t0 }));
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'go') { go = Date.now(); if (received === opened) report(); }
    if (line === 'report') report();
    if (line === 'exit') process.exit(0);
  });
}
main();
