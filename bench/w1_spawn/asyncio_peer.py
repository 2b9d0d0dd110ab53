"""W1 spawn: N tasks, each `await asyncio.sleep(0)` once then returns i.
usage: asyncio.py [N] [uvloop]"""
import asyncio, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def body(i):
    await asyncio.sleep(0)
    return i


async def main():
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(body(i)) for i in range(1, N + 1)]
    r = await asyncio.gather(*tasks)
    t1 = time.perf_counter()
    assert sum(r) == N * (N + 1) // 2
    print("RESULT %.6g tasks/s" % (N / (t1 - t0)), flush=True)


asyncio.run(main())
