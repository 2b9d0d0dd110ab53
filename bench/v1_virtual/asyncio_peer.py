"""V1 virtual clock: N tasks, task i sleeps a pseudo-random time within one hour, on an
event loop whose clock is virtual (its time() is a counter the selector advances to the
next deadline instead of waiting): asyncio's nearest equivalent of a virtual clock.
Figure: real seconds for the whole virtual hour.  usage: asyncio_peer.py [N] [uvloop]"""
import asyncio, selectors, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000


class VirtualSelector(selectors.DefaultSelector):
    def __init__(self):
        super().__init__()
        self.loop = None

    def select(self, timeout=None):
        events = super().select(0)
        if not events and timeout and timeout > 0:
            self.loop.vnow += timeout  # jump instead of waiting
        return events


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        sel = VirtualSelector()
        super().__init__(sel)
        sel.loop = self
        self.vnow = 0.0

    def time(self):
        return self.vnow


async def main():
    seed, fired = 12345, 0

    async def body(d):
        nonlocal fired
        await asyncio.sleep(d)
        fired += 1

    t0 = time.perf_counter()
    for _ in range(N):
        seed = (seed * 1103515245 + 12345) % 2147483648
        asyncio.get_running_loop().create_task(body(seed % 3600000 / 1000))
    while fired < N:
        await asyncio.sleep(60)
    dt = time.perf_counter() - t0
    assert 3599 <= asyncio.get_running_loop().time() <= 3660
    print("RESULT %.6g s" % dt, flush=True)


loop = VirtualLoop()
loop.run_until_complete(main())
loop.close()
