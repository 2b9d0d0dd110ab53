// P1 spawn: N runs of /bin/true (child_process.spawn), at most 16 at a time, each
// awaited (its 'exit'); spawns/s.   usage: node node.js [N]
'use strict';
const { spawn } = require('child_process');
const N = parseInt(process.argv[2] || '2000', 10);
const CONC = 16;
let started = 0;

const run = () => new Promise((resolve, reject) => {
  const p = spawn('/bin/true', [], { stdio: 'inherit' });
  p.on('error', reject);
  p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error('exit ' + code))));
});

async function worker() {
  while (started < N) {
    started++;
    await run();
  }
}

async function main() {
  const t0 = process.hrtime.bigint();
  const ws = [];
  for (let i = 0; i < CONC; i++) ws.push(worker());
  await Promise.all(ws);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log('RESULT ' + (N / secs).toPrecision(6) + ' spawns/s');
}
main();
