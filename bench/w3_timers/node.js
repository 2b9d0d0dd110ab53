// W3 timers: N async functions, i-th awaits a setTimeout promise of (i%100) ms.
'use strict';
const N = parseInt(process.argv[2] || '100000', 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function body(i) { await sleep(i % 100); return 1; }
async function main() {
  const t0 = process.hrtime.bigint();
  const ps = new Array(N);
  for (let i = 1; i <= N; i++) ps[i - 1] = body(i);
  const r = await Promise.all(ps);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.length !== N) throw new Error('bad');
  console.log('RESULT ' + ((dt - 0.099) / N * 1e6).toPrecision(6) + ' us/timer');
}
main();
