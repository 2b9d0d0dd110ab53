"""P1 spawn: N runs of /bin/true, at most 16 at a time, each awaited; spawns/s.
usage: asyncio_peer.py [N] [uvloop]"""
import asyncio, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
CONC = 16
started = 0


async def worker():
    global started
    while started < N:
        started += 1
        p = await asyncio.create_subprocess_exec("/bin/true")
        assert await p.wait() == 0


async def main():
    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(CONC)])
    t1 = time.perf_counter()
    print("RESULT %.6g spawns/s" % (N / (t1 - t0)), flush=True)


asyncio.run(main())
