"""W2 ping-pong: two tasks exchange N messages through two asyncio.Queue(1).
usage: asyncio_peer.py [N] [uvloop]"""
import asyncio, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500000
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def ping(q1, q2):
    s = 0
    for i in range(1, N + 1):
        await q1.put(i)
        s += await q2.get()
    return s


async def pong(q1, q2):
    for _ in range(N):
        await q2.put(await q1.get())


async def main():
    q1, q2 = asyncio.Queue(1), asyncio.Queue(1)
    t0 = time.perf_counter()
    s, _ = await asyncio.gather(ping(q1, q2), pong(q1, q2))
    dt = time.perf_counter() - t0
    assert s == N * (N + 1) // 2
    print("RESULT %.6g msgs/s" % (2 * N / dt), flush=True)


asyncio.run(main())
