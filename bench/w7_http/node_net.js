// W7: Node `net` server doing the same minimal HTTP/1.1 handling (request
// head up to the blank line, keep-alive unless "Connection: close").
// usage: node node_net.js PORT
'use strict';
const net = require('net');
const port = parseInt(process.argv[2] || process.env.PORT || '8080', 10);
const body = 'Hello, World!\n';
const resp = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ' +
  body.length + '\r\n\r\n' + body);
const CRLF2 = Buffer.from('\r\n\r\n');
net.createServer({ noDelay: true }, (sock) => {
  let pend = null;
  sock.on('data', (d) => {
    if (pend) { d = Buffer.concat([pend, d]); pend = null; }
    let start = 0, n = 0, close = false;
    for (;;) {
      const i = d.indexOf(CRLF2, start);
      if (i < 0) break;
      const head = d.toString('latin1', start, i);
      if (/\r\nconnection:\s*close/i.test(head)) close = true;
      n++;
      start = i + 4;
      if (close) break;
    }
    if (start < d.length && !close) pend = d.subarray(start);
    if (n === 1) sock.write(resp);
    else if (n > 1) sock.write(Buffer.concat(new Array(n).fill(resp)));
    if (close) sock.end();
    else if (pend && pend.length > 65536) sock.destroy();
  });
  sock.on('error', () => {});
}).listen({ port, host: '127.0.0.1', backlog: 1024 });
