# R1 Redis client with redis.asyncio (Debian python3-redis): N SET+GET pairs from C
# concurrent tasks sharing one client (its connection pool), awaited in turn ("tasks") or in
# pipelines of P pairs ("pipe").  usage: python3 asyncio_peer.py PORT N C MODE [P] [uvloop]
# Figure: SET+GET pairs per second.
import asyncio
import sys
import time

import redis.asyncio as aredis

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
CONC = int(sys.argv[3]) if len(sys.argv) > 3 else 50
MODE = sys.argv[4] if len(sys.argv) > 4 else "tasks"
P = int(sys.argv[5]) if len(sys.argv) > 5 else 100
VALUE = b"v" * 16


async def main():
    c = aredis.Redis(host="127.0.0.1", port=PORT)
    await c.flushdb()
    per = N // CONC

    async def worker(i):
        key = "r1:%d" % i
        if MODE == "pipe":
            for _ in range(per // P):
                async with c.pipeline(transaction=False) as p:
                    for _ in range(P):
                        p.set(key, VALUE)
                        p.get(key)
                    r = await p.execute()
                if r[1] != VALUE:
                    raise RuntimeError("bad reply")
        else:
            for _ in range(per):
                await c.set(key, VALUE)
                if await c.get(key) != VALUE:
                    raise RuntimeError("bad reply")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(1, CONC + 1)))
    dt = time.perf_counter() - t0
    print("RESULT %.0f pairs/s" % (per * CONC / dt))
    await c.close()


if len(sys.argv) > 6 and sys.argv[6] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(main())
