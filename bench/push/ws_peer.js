// The peer for bench/push: a minimal Node `ws` server. Clients connect to /ws; POST
// /broadcast?n=N sends N messages of 150 bytes to every client. Prints "listening PORT".
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'POST' && url.pathname === '/broadcast') {
    const n = Number(url.searchParams.get('n') || '1');
    let sent = 0;
    for (let i = 0; i < n; i++) {
      const msg = JSON.stringify({ type: 'result', seq: i + 1, job_id: 'x'.repeat(36), pad: 'y'.repeat(60) });
      for (const ws of wss.clients) { ws.send(msg); sent++; }
    }
    res.end(JSON.stringify({ sent }));
    return;
  }
  res.statusCode = 404;
  res.end();
});
const wss = new WebSocketServer({ server, path: '/ws' });
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
