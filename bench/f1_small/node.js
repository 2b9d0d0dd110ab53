// F1 small files: read the N files of DIR with fs/promises readFile, 64 at a time; files/s.
'use strict';
const fsp = require('fs/promises');
const DIR = process.argv[2];
const N = parseInt(process.argv[3] || '2000', 10);
const CONC = 64;

async function main() {
  let next = 0; let bytes = 0;
  const worker = async () => {
    while (next < N) { const i = next++; const b = await fsp.readFile(DIR + '/f' + i); bytes += b.length; }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONC }, worker));
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (bytes !== N * 4096) throw new Error('read ' + bytes);
  console.log('RESULT ' + (N / dt).toPrecision(6) + ' files/s');
}
main();
