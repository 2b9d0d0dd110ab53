// J1 job queue peer: BullMQ (npm, in build/npm) over ioredis. Same protocol as luaio.lua:
//   node.js enqueue N URL           N no-op jobs added by 50 concurrent producers; RESULT adds/s
//   node.js W N URL                 N jobs added, then W worker processes (concurrency 100
//                                   each) started together; RESULT jobs/s to the last completion
//   node.js worker URL QUEUE LIMIT  (a worker process: "ready", waits for "go" on stdin)
'use strict';
const path = require('path');
const { spawn } = require('child_process');
const root = path.resolve(__dirname, '..', '..');
const { Queue, Worker } = require(path.join(root, 'build', 'npm', 'node_modules', 'bullmq'));
const IORedis = require(path.join(root, 'build', 'npm', 'node_modules', 'ioredis'));

const QUEUE = 'j1';
const mode = process.argv[2];

function connOf(url) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
}

async function worker() {
  const [url, name, limit] = process.argv.slice(3);
  const w = new Worker(name, async () => {}, {
    connection: connOf(url), concurrency: Number(limit), autorun: false,
  });
  await w.waitUntilReady();
  process.stdout.write('ready\n');
  process.stdin.once('data', () => { w.run(); });
  process.on('SIGTERM', async () => { await w.close(); process.exit(0); });
}

async function enqueueAll(q, n) {
  const per = Math.ceil(n / 50);
  const producers = [];
  for (let k = 0; k < 50; k++) {
    producers.push((async () => {
      for (let i = k * per; i < Math.min(n, (k + 1) * per); i++) await q.add('noop', {});
    })());
  }
  await Promise.all(producers);
}

function readyLine(p) {
  return new Promise((resolve, reject) => {
    let buf = '';
    p.stdout.on('data', (d) => { buf += d; if (buf.includes('ready\n')) resolve(); });
    p.on('exit', (code) => reject(new Error('worker exited ' + code)));
  });
}

async function main() {
  const n = Number(process.argv[3] || 20000);
  const url = process.argv[4] || 'redis://127.0.0.1:6379';
  const q = new Queue(QUEUE, { connection: connOf(url) });
  const raw = new IORedis(connOf(url));
  await raw.flushdb();
  raw.disconnect();
  if (mode === 'enqueue') {
    const t0 = process.hrtime.bigint();
    await enqueueAll(q, n);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = await q.getJobCounts('wait');
    if (c.wait !== n) throw new Error('queued ' + c.wait);
    console.log(`RESULT ${(n / dt).toFixed(1)} jobs/s`);
    await q.close();
    return;
  }
  const W = Number(mode);
  await enqueueAll(q, n);
  const ps = [];
  for (let i = 0; i < W; i++) {
    const p = spawn(process.execPath, [__filename, 'worker', url, QUEUE, '100'], { stdio: ['pipe', 'pipe', 'inherit'] });
    ps.push(p);
    await readyLine(p);
  }
  const t0 = process.hrtime.bigint();
  for (const p of ps) p.stdin.write('go\n');
  for (;;) {
    const c = await q.getJobCounts('completed');
    if (c.completed === n) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  await Promise.all(ps.map((p) => new Promise((r) => { p.on('exit', r); p.kill('SIGTERM'); })));
  await q.close();
  console.log(`RESULT ${(n / dt).toFixed(1)} jobs/s`);
}

if (mode === 'worker') worker(); else main().catch((e) => { console.error(e); process.exit(1); });
