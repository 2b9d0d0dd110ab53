// W7: minimal Node `http` server (keep-alive), 127.0.0.1 only.
// usage: node node_http.js PORT
'use strict';
const http = require('http');
const port = parseInt(process.argv[2] || process.env.PORT || '8080', 10);
const body = 'Hello, World!\n';
http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
}).listen({ port, host: '127.0.0.1', backlog: 1024 });
