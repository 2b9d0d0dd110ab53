// F2 big file: read FILE with fs.createReadStream (64 KiB chunks); MiB/s.
'use strict';
const fs = require('fs');
const FILE = process.argv[2];
const t0 = process.hrtime.bigint();
let total = 0;
fs.createReadStream(FILE, { highWaterMark: 65536 })
  .on('data', (c) => { total += c.length; })
  .on('end', () => {
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log('RESULT ' + (total / 1048576 / dt).toPrecision(6) + ' MiB/s');
  });
