"""T1 to_thread overhead: N calls of `await asyncio.to_thread(echo, i)`, echo returning
its argument, made by W tasks each awaiting one call after the other (W calls in flight;
W = 1 is one call at a time); calls/s.
usage: asyncio_peer.py [N] [W] [uvloop]"""
import asyncio, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
W = int(sys.argv[2]) if len(sys.argv) > 2 else 64
if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def echo(x):
    return x


async def main():
    await asyncio.to_thread(echo, 0)  # the executor's thread exists before the clock starts
    issued = 0

    async def caller():
        nonlocal issued
        while issued < N:
            issued += 1
            i = issued
            assert await asyncio.to_thread(echo, i) == i

    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(W)))
    dt = time.perf_counter() - t0
    print("RESULT %.6g calls/s" % (N / dt), flush=True)


asyncio.run(main())
