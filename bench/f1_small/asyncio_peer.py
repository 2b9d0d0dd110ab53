# F1 small files: read the N files of DIR, 64 at a time, each with
# asyncio.to_thread(open(...).read); files/s. argv: DIR N [uvloop]
import asyncio, sys, time

DIR, N = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
CONC = 64

def read(path):
    with open(path, 'rb') as f:
        return f.read()

async def main():
    nxt = 0
    total = 0
    async def worker():
        nonlocal nxt, total
        while nxt < N:
            i = nxt; nxt += 1
            data = await asyncio.to_thread(read, f"{DIR}/f{i}")
            total += len(data)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONC)))
    dt = time.perf_counter() - t0
    assert total == N * 4096, total
    print(f"RESULT {N / dt:.6g} files/s")

if len(sys.argv) > 3 and sys.argv[3] == 'uvloop':
    import uvloop
    uvloop.install()
asyncio.run(main())
