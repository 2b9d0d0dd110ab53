// R1 Redis client with ioredis (npm, from build/npm): N SET+GET pairs from C concurrent
// async functions sharing one client, awaited in turn ("tasks") or in pipelines of P pairs
// ("pipe").   usage: node node.js PORT N C MODE [P]     Figure: SET+GET pairs per second.
const path = require("path");
const Redis = require(path.join(process.env.NODE_MODULES || path.join(__dirname, "../../build/npm/node_modules"), "ioredis"));
const [PORT, N, CONC] = [6379, 100000, 50].map((d, i) => Number(process.argv[2 + i]) || d);
const MODE = process.argv[5] || "tasks";
const P = Number(process.argv[6]) || 100;
const VALUE = "v".repeat(16);

(async () => {
  const c = new Redis({ host: "127.0.0.1", port: PORT, lazyConnect: true });
  await c.connect();
  await c.flushdb();
  const per = Math.floor(N / CONC);
  const t0 = process.hrtime.bigint();
  const work = [];
  for (let i = 1; i <= CONC; i++) {
    const key = "r1:" + i;
    work.push((async () => {
      if (MODE === "pipe") {
        for (let b = 0; b < Math.floor(per / P); b++) {
          const p = c.pipeline();
          for (let j = 0; j < P; j++) { p.set(key, VALUE); p.get(key); }
          const r = await p.exec();
          if (r[1][1] !== VALUE) throw new Error("bad reply");
        }
      } else {
        for (let j = 0; j < per; j++) {
          await c.set(key, VALUE);
          if ((await c.get(key)) !== VALUE) throw new Error("bad reply");
        }
      }
    })());
  }
  await Promise.all(work);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`RESULT ${Math.round(per * CONC / dt)} pairs/s`);
  c.disconnect();
})().catch((e) => { console.error(e); process.exit(1); });
