// W5 idle tasks: N async functions awaiting one shared promise; RSS delta
// per task (run with --expose-gc so the measurement follows a full GC).
'use strict';
const N = parseInt(process.argv[2] || '100000', 10);
const gc = global.gc || (() => {});
const tick = () => new Promise((r) => setImmediate(r));
async function main() {
  let resolve;
  const p = new Promise((r) => { resolve = r; });
  let left = N;
  await tick();
  gc();
  const r0 = process.memoryUsage.rss();
  const ps = new Array(N);
  for (let i = 0; i < N; i++) ps[i] = (async () => { await p; left--; })();
  await tick();
  gc();
  const r1 = process.memoryUsage.rss();
  resolve(1);
  await Promise.all(ps);
  if (left !== 0) throw new Error('left ' + left);
  console.log('RESULT ' + ((r1 - r0) / N).toPrecision(6) + ' B/task');
}
main();
