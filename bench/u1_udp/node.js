// U1 UDP ping-pong on Node dgram: P pairs on 127.0.0.1 in one process; each client sends
// 64 bytes, the server echoes, the client waits for the echo, N/P times.
// usage: node node.js N P     Prints RESULT <round trips/s> rt/s.
'use strict';
const dgram = require('dgram');
const N = parseInt(process.argv[2] || '200000', 10);
const P = parseInt(process.argv[3] || '1', 10);
const PER = Math.floor(N / P);
const MSG = Buffer.alloc(64, 'x');

function bind(sock, port) {
  return new Promise((res) => sock.bind(port, '127.0.0.1', res));
}

async function main() {
  const pairs = [];
  for (let i = 0; i < P; i++) {
    const srv = dgram.createSocket('udp4');
    srv.on('message', (msg, rinfo) => srv.send(msg, rinfo.port, rinfo.address));
    await bind(srv, 0);
    const cli = dgram.createSocket('udp4');
    await new Promise((res) => cli.connect(srv.address().port, '127.0.0.1', res));
    pairs.push({ srv, cli });
  }
  const t0 = process.hrtime.bigint();
  await Promise.all(pairs.map(({ cli }) => new Promise((res) => {
    let left = PER;
    cli.on('message', (msg) => {
      if (msg.length !== 64) throw new Error('short echo');
      if (--left === 0) res(); else cli.send(MSG);
    });
    cli.send(MSG);
  })));
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const { srv, cli } of pairs) { srv.close(); cli.close(); }
  console.log(`RESULT ${(PER * P / dt).toPrecision(6)} rt/s`);
}
main();
