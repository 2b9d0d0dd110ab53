// W1 spawn: N async functions, each awaits a setImmediate promise once
// (the event-loop yield, like sleep(0)), then returns i; Promise.all them.
// usage: node node.js [N] [micro]   -- "micro" awaits a resolved promise
// instead (a microtask, which does not go through the event loop).
'use strict';
const N = parseInt(process.argv[2] || '200000', 10);
const micro = process.argv[3] === 'micro';
const tick = () => new Promise((r) => setImmediate(r));

async function body(i) {
  if (micro) await null; else await tick();
  return i;
}

async function main() {
  const t0 = process.hrtime.bigint();
  const ps = new Array(N);
  for (let i = 1; i <= N; i++) ps[i - 1] = body(i);
  const r = await Promise.all(ps);
  const t1 = process.hrtime.bigint();
  let s = 0;
  for (const v of r) s += v;
  if (s !== N * (N + 1) / 2) throw new Error('bad sum ' + s);
  const secs = Number(t1 - t0) / 1e9;
  console.log('RESULT ' + (N / secs).toPrecision(6) + ' tasks/s');
}
main();
