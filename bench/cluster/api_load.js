// HTTP side of bench/cluster: keep-alive requests, CONCURRENCY at a time (Node 20, no packages).
//   node api_load.js jobs BASE N CONCURRENCY STUDY OUT
//       N times: POST /api/provision, then POST /api/process/window_level for that client (a
//       study-scope job that stays queued: the api process runs no workers); writes
//       "client_id job_id" lines to OUT; prints {"clients":N,"ms":T} (and "failed").
//   node api_load.js cancel BASE FILE CONCURRENCY
//       DELETE /api/jobs/{job}?client_id= for every line of FILE: each commits the job's result
//       message ("cancelled") on the results queue, the real path from there to the WebSocket;
//       prints {"cancelled":N,"ms":T}.
'use strict';
const http = require('http');
const fs = require('fs');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

function call(base, method, path, body) {
  return new Promise((resolve) => {
    const u = new URL(path, base);
    const data = body ? Buffer.from(JSON.stringify(body)) : null;
    const req = http.request({ agent, method, host: u.hostname, port: u.port, path: u.pathname + u.search,
      headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', (e) => resolve({ status: 0, body: String(e) }));
    if (data) req.write(data);
    req.end();
  });
}

async function pool(n, concurrency, fn) {
  let next = 0;
  const workers = [];
  for (let w = 0; w < concurrency; w++) {
    workers.push((async () => { while (next < n) { const i = next++; await fn(i); } })());
  }
  await Promise.all(workers);
}

async function jobs(base, n, concurrency, study, out) {
  const lines = new Array(n);
  let failed = 0;
  const t0 = Date.now();
  await pool(n, concurrency, async (i) => {
    const p = await call(base, 'POST', '/api/provision');
    if (p.status !== 201) { failed++; if (failed < 5) console.error('provision', p.status, p.body); return; }
    const client = JSON.parse(p.body).client_id;
    const j = await call(base, 'POST', '/api/process/window_level',
      { study_id: study, scope: 'study', client_id: client });
    if (j.status !== 202) { failed++; if (failed < 5) console.error('process', j.status, j.body); return; }
    lines[i] = client + ' ' + JSON.parse(j.body).job_id;
  });
  fs.writeFileSync(out, lines.filter(Boolean).join('\n') + '\n');
  console.log(JSON.stringify({ clients: lines.filter(Boolean).length, failed, ms: Date.now() - t0 }));
}

async function cancel(base, file, concurrency) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
  let failed = 0;
  const t0 = Date.now();
  await pool(lines.length, concurrency, async (i) => {
    const [client, job] = lines[i];
    const r = await call(base, 'DELETE', `/api/jobs/${job}?client_id=${client}`);
    if (r.status !== 200) { failed++; if (failed < 5) console.error('cancel', r.status, r.body); }
  });
  console.log(JSON.stringify({ cancelled: lines.length - failed, failed, ms: Date.now() - t0 }));
}

const [mode, ...a] = process.argv.slice(2);
if (mode === 'jobs') jobs(a[0], Number(a[1]), Number(a[2]), a[3], a[4]).then(() => process.exit(0));
else if (mode === 'cancel') cancel(a[0], a[1], Number(a[2])).then(() => process.exit(0));
else { console.error('usage: api_load.js jobs|cancel ...'); process.exit(2); }
