"""W6 jobs: N tasks, each `async with sem: await asyncio.sleep(0)` with
asyncio.Semaphore(100) (the aiojobs-less form); jobs/s.
usage: asyncio_peer.py [N] [uvloop]"""
import asyncio, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

done = 0


async def job(sem):
    global done
    async with sem:
        await asyncio.sleep(0)
        done += 1


async def main():
    sem = asyncio.Semaphore(100)
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(job(sem)) for _ in range(N)]
    await asyncio.wait(tasks)
    dt = time.perf_counter() - t0
    assert done == N
    print("RESULT %.6g jobs/s" % (N / dt), flush=True)


asyncio.run(main())
