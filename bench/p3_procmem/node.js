// P3 process memory: N live ChildProcess objects (each a `sleep` child), RSS delta per
// object of this process; bytes/process.   usage: node --expose-gc node.js [N]
'use strict';
const { spawn } = require('child_process');
const N = parseInt(process.argv[2] || '1000', 10);
const gc = global.gc || (() => {});
gc();
const before = process.memoryUsage().rss;
const procs = [];
for (let i = 0; i < N; i++) procs.push(spawn('sleep', ['60'], { stdio: 'inherit' }));
gc();
const after = process.memoryUsage().rss;
let left = N;
for (const p of procs) {
  p.on('exit', () => {
    if (--left === 0) console.log('RESULT ' + ((after - before) / N).toPrecision(6) + ' bytes/process');
  });
  p.kill('SIGKILL');
}
