"""S1-S3 TLS echo server on asyncio streams with ssl: readline / write / drain.
usage: asyncio_peer.py PORT CERTFILE KEYFILE [uvloop]   (127.0.0.1 only)"""
import asyncio, ssl, sys

PORT = int(sys.argv[1])
if len(sys.argv) > 4 and sys.argv[4] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
CTX.load_cert_chain(sys.argv[2], sys.argv[3])


async def handle(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except (ConnectionError, OSError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def main():
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: None)
    server = await asyncio.start_server(handle, "127.0.0.1", PORT, ssl=CTX, backlog=1024)
    async with server:
        await server.serve_forever()


try:
    asyncio.run(main())
except KeyboardInterrupt:
    pass
