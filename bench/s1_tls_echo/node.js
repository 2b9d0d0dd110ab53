// S1-S3 TLS echo server on Node `tls`: echoes complete lines (127.0.0.1 only).
// usage: node node.js PORT CERTFILE KEYFILE
'use strict';
const tls = require('tls');
const fs = require('fs');
const port = parseInt(process.argv[2] || '8443', 10);
const server = tls.createServer({
  key: fs.readFileSync(process.argv[4]), cert: fs.readFileSync(process.argv[3]),
}, (sock) => {
  sock.setNoDelay(true);
  let pend = null;
  sock.on('data', (d) => {
    if (pend) { d = Buffer.concat([pend, d]); pend = null; }
    const end = d.lastIndexOf(10) + 1;
    if (end < d.length) pend = d.subarray(end);
    if (end > 0) sock.write(end === d.length ? d : d.subarray(0, end));
  });
  sock.on('error', () => {});
});
server.on('tlsClientError', () => {});
server.listen({ port, host: '127.0.0.1', backlog: 1024 });
