// W7 on workers: the minimal Node `http` server of bench/w7_http/node_http.js run by
// Node's `cluster` module with N workers (its default scheduling: on Linux the primary
// accepts the connections and hands them to the workers round-robin). 127.0.0.1 only.
// usage: node node_cluster.js PORT N      Each worker prints "worker K listening" to stderr.
'use strict';
const cluster = require('cluster');
const http = require('http');
const port = parseInt(process.argv[2] || process.env.PORT || '8080', 10);
const n = parseInt(process.argv[3] || '2', 10);
const body = 'Hello, World!\n';

if (cluster.isPrimary) {
  for (let i = 0; i < n; i++) cluster.fork();
  const stop = () => { for (const id in cluster.workers) cluster.workers[id].kill('SIGTERM'); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', () => { if (Object.keys(cluster.workers).length === 0) process.exit(0); });
} else {
  http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
    res.end(body);
  }).listen({ port, host: '127.0.0.1', backlog: 1024 }, () => {
    process.stderr.write(`worker ${cluster.worker.id} listening\n`);
  });
}
