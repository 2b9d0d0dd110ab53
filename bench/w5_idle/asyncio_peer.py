"""W5 idle tasks: N tasks awaiting one shared future; RSS delta per task.
usage: asyncio_peer.py [N] [uvloop]"""
import asyncio, gc, sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def waiter(f):
    await f


async def main():
    f = asyncio.get_running_loop().create_future()
    await asyncio.sleep(0)
    gc.collect()
    r0 = rss()
    tasks = [asyncio.create_task(waiter(f)) for _ in range(N)]
    await asyncio.sleep(0)
    gc.collect()
    r1 = rss()
    f.set_result(1)
    await asyncio.gather(*tasks)
    print("RESULT %.6g B/task" % ((r1 - r0) / N), flush=True)


asyncio.run(main())
