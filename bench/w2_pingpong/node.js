// W2 ping-pong: two async functions exchange N messages through two minimal
// promise-based bounded queues of size 1 (written here; FIFO waiters).
'use strict';
const N = parseInt(process.argv[2] || '500000', 10);

class BoundedQueue {
  constructor(max) { this.max = max; this.items = []; this.head = 0; this.getters = []; this.putters = []; }
  size() { return this.items.length - this.head; }
  async put(v) {
    while (this.size() >= this.max) await new Promise((r) => this.putters.push(r));
    this.items.push(v);
    if (this.getters.length) this.getters.shift()();
  }
  async get() {
    while (this.size() === 0) await new Promise((r) => this.getters.push(r));
    const v = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0; }
    if (this.putters.length) this.putters.shift()();
    return v;
  }
}

async function main() {
  const q1 = new BoundedQueue(1), q2 = new BoundedQueue(1);
  const t0 = process.hrtime.bigint();
  const ping = (async () => { let s = 0; for (let i = 1; i <= N; i++) { await q1.put(i); s += await q2.get(); } return s; })();
  const pong = (async () => { for (let i = 0; i < N; i++) await q2.put(await q1.get()); })();
  const [s] = await Promise.all([ping, pong]);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (s !== N * (N + 1) / 2) throw new Error('bad sum');
  console.log('RESULT ' + (2 * N / dt).toPrecision(6) + ' msgs/s');
}
main();
