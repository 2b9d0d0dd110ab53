"""SWITCH: one task doing N `await asyncio.sleep(0)`; ns per switch.
usage: asyncio_peer.py [N] [uvloop]"""
import asyncio, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def main():
    sleep = asyncio.sleep
    t0 = time.perf_counter()
    for _ in range(N):
        await sleep(0)
    dt = time.perf_counter() - t0
    print("RESULT %.6g ns/switch" % (dt / N * 1e9), flush=True)


asyncio.run(main())
