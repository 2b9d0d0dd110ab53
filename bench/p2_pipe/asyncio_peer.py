"""P2 pipe throughput: N MiB through `cat` (64 KiB writes with drain into its stdin while
its stdout is read at the same time); MiB/s.   usage: asyncio_peer.py [MiB] [uvloop]"""
import asyncio, sys, time

MIB = int(sys.argv[1]) if len(sys.argv) > 1 else 256
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
CHUNK = 65536
chunk = b"x" * CHUNK


async def main():
    t0 = time.perf_counter()
    p = await asyncio.create_subprocess_exec(
        "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)

    async def write():
        for _ in range(MIB * 1048576 // CHUNK):
            p.stdin.write(chunk)
            await p.stdin.drain()
        p.stdin.close()

    wt = asyncio.create_task(write())
    got = 0
    while True:
        s = await p.stdout.read(1048576)
        if not s:
            break
        got += len(s)
    await wt
    assert await p.wait() == 0
    t1 = time.perf_counter()
    assert got == MIB * 1048576
    print("RESULT %.6g MiB/s" % (MIB / (t1 - t0)), flush=True)


asyncio.run(main())
