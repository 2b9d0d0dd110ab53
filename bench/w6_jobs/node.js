// W6 jobs: N async jobs (each awaits one setImmediate promise) through a
// minimal p-limit-style limiter (written here) with concurrency 100; jobs/s.
'use strict';
const N = parseInt(process.argv[2] || '100000', 10);
const tick = () => new Promise((r) => setImmediate(r));

function limiter(limit) {
  let active = 0;
  const queue = []; let head = 0;
  const next = () => {
    active--;
    if (head < queue.length) { const run = queue[head]; queue[head++] = undefined; run(); }
  };
  return (fn) => new Promise((resolve, reject) => {
    const run = () => { active++; fn().then(resolve, reject).finally(next); };
    if (active < limit) run(); else queue.push(run);
  });
}

async function main() {
  const limit = limiter(100);
  let done = 0;
  const job = async () => { await tick(); done++; };
  const t0 = process.hrtime.bigint();
  const ps = new Array(N);
  for (let i = 0; i < N; i++) ps[i] = limit(job);
  await Promise.all(ps);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (done !== N) throw new Error('done ' + done);
  console.log('RESULT ' + (N / dt).toPrecision(6) + ' jobs/s');
}
main();
