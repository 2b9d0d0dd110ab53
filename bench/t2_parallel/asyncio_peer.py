"""T2 to_thread parallelism: K CPU-bound calls (each about SECS seconds of Python
arithmetic) through asyncio.to_thread at once (gathered), then in a row; RESULT is the
speed-up (time in a row / time at once). The GIL keeps it near 1x.
usage: asyncio_peer.py [K] [SECS] [uvloop]"""
import asyncio, sys, time

K = int(sys.argv[1]) if len(sys.argv) > 1 else 4
SECS = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def burn(n):
    x = 0
    for i in range(1, n + 1):
        x = (x + i * i) % 1000003
    return x


async def main():
    n = 100000
    while True:
        t0 = time.perf_counter()
        await asyncio.to_thread(burn, n)
        dt = time.perf_counter() - t0
        if dt >= 0.1:
            break
        n *= 2
    n = int(n * SECS / dt)
    t0 = time.perf_counter()
    at_once = await asyncio.gather(*(asyncio.to_thread(burn, n) for _ in range(K)))
    parallel = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(K):
        assert await asyncio.to_thread(burn, n) == at_once[i]
    serial = time.perf_counter() - t0
    print("%d calls of %.2f s: at once %.3f s, in a row %.3f s" % (K, serial / K, parallel, serial))
    print("RESULT %.6g x" % (serial / parallel), flush=True)


asyncio.run(main())
