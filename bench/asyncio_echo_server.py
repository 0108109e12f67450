"""Baseline: TCP and UDP echo with Python asyncio protocols (the fastest
pure-asyncio form), or uvloop with --uvloop.

    asyncio_echo_server.py PORT [--uvloop]
"""

import asyncio
import sys


class TcpEcho(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(TcpEcho, "127.0.0.1", port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    await loop.create_datagram_endpoint(UdpEcho, local_addr=("127.0.0.1", port))
    print(f"listening {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main(int(sys.argv[1])))
