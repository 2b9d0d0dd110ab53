// P2 pipe throughput: N MiB through `cat` (64 KiB writes, waiting for 'drain' when write()
// says so, into its stdin while its stdout is read); MiB/s.   usage: node node.js [MiB]
'use strict';
const { spawn } = require('child_process');
const MIB = parseInt(process.argv[2] || '256', 10);
const CHUNK = 65536;
const chunk = Buffer.alloc(CHUNK, 'x');

const t0 = process.hrtime.bigint();
const p = spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
let got = 0;
p.stdout.on('data', (b) => { got += b.length; });
const total = MIB * 1048576 / CHUNK;
let n = 0;
function write() {
  while (n < total) {
    n++;
    if (!p.stdin.write(chunk)) { p.stdin.once('drain', write); return; }
  }
  p.stdin.end();
}
write();
let ended = false, exited = false;
const done = () => {
  if (!ended || !exited) return;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (got !== MIB * 1048576) throw new Error('got ' + got);
  console.log('RESULT ' + (MIB / secs).toPrecision(6) + ' MiB/s');
};
p.stdout.on('end', () => { ended = true; done(); });
p.on('exit', () => { exited = true; done(); });
