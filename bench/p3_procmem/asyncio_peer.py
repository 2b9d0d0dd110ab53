"""P3 process memory: N live asyncio Process objects (each a `sleep` child), RSS delta per
object of this process; bytes/process.   usage: asyncio_peer.py [N] [uvloop]"""
import asyncio, gc, sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def main():
    p = await asyncio.create_subprocess_exec("/bin/true")
    await p.wait()
    gc.collect()
    before = rss()
    procs = [await asyncio.create_subprocess_exec("sleep", "60") for _ in range(N)]
    gc.collect()
    after = rss()
    for p in procs:
        p.kill()
    for p in procs:
        await p.wait()
    print("RESULT %.6g bytes/process" % ((after - before) / N), flush=True)


asyncio.run(main())
