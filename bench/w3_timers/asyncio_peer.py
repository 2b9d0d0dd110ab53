"""W3 timers: N tasks, task i sleeps (i % 100) ms; (elapsed-0.099)/N us/timer.
usage: asyncio_peer.py [N] [uvloop]"""
import asyncio, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def body(i):
    await asyncio.sleep((i % 100) / 1000)
    return 1


async def main():
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(body(i)) for i in range(1, N + 1)]
    r = await asyncio.gather(*tasks)
    dt = time.perf_counter() - t0
    assert sum(r) == N
    print("RESULT %.6g us/timer" % ((dt - 0.099) / N * 1e6), flush=True)


asyncio.run(main())
