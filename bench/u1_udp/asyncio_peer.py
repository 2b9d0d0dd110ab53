"""U1 UDP ping-pong on asyncio datagram endpoints: P pairs on 127.0.0.1 in one process; each
client sends 64 bytes, the server echoes, the client waits for the echo, N/P times.
usage: asyncio_peer.py N P [uvloop]   Prints RESULT <round trips/s> rt/s."""
import asyncio, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
P = int(sys.argv[2]) if len(sys.argv) > 2 else 1
if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
PER = N // P
MSG = b"x" * 64


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


class Client(asyncio.DatagramProtocol):
    def __init__(self, done):
        self.left = PER
        self.done = done

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if len(data) != 64:
            raise RuntimeError("short echo")
        self.left -= 1
        if self.left == 0:
            self.done.set_result(None)
        else:
            self.transport.sendto(MSG)


async def main():
    loop = asyncio.get_running_loop()
    clients, closers = [], []
    for _ in range(P):
        st, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        port = st.get_extra_info("sockname")[1]
        done = loop.create_future()
        ct, cp = await loop.create_datagram_endpoint(lambda d=done: Client(d), remote_addr=("127.0.0.1", port))
        clients.append((ct, done))
        closers += [st, ct]
    t0 = time.perf_counter()
    for ct, _ in clients:
        ct.sendto(MSG)
    await asyncio.gather(*(d for _, d in clients))
    dt = time.perf_counter() - t0
    for t in closers:
        t.close()
    print("RESULT %.6g rt/s" % (PER * P / dt), flush=True)


asyncio.run(main())
