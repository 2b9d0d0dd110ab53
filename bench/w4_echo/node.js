// W4 echo server on Node `net`: echoes complete lines (127.0.0.1 only).
// usage: node node.js PORT
'use strict';
const net = require('net');
const port = parseInt(process.argv[2] || '8000', 10);
const server = net.createServer({ noDelay: true }, (sock) => {
  let pend = null;
  sock.on('data', (d) => {
    if (pend) { d = Buffer.concat([pend, d]); pend = null; }
    const end = d.lastIndexOf(10) + 1;
    if (end < d.length) pend = d.subarray(end);
    if (end > 0) sock.write(end === d.length ? d : d.subarray(0, end));
  });
  sock.on('error', () => {});
});
server.listen({ port, host: '127.0.0.1', backlog: 1024 });
