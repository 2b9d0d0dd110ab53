// SWITCH: one async function awaiting N setImmediate promises; ns per switch.
'use strict';
const N = parseInt(process.argv[2] || '1000000', 10);
const tick = () => new Promise((r) => setImmediate(r));
async function main() {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await tick();
  const dt = Number(process.hrtime.bigint() - t0);
  console.log('RESULT ' + (dt / N).toPrecision(6) + ' ns/switch');
}
main();
