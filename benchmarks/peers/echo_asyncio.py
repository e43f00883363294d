"""
Reference peer: an asyncio C{Protocol} echo server on TCP and a
C{DatagramProtocol} echo on UDP, both on the same port of 127.0.0.1; with
C{--uvloop}, on uvloop's event loop instead of the standard one.

Usage: C{python echo_asyncio.py PORT [--uvloop] [--max-seconds N]}. It exits
by itself after C{--max-seconds} (600); with C{--uvloop} and no uvloop
installed, it exits at once with status 3.
"""

from __future__ import annotations

import argparse
import asyncio
import sys


class EchoProtocol(asyncio.Protocol):
    """
    Write back every chunk received.
    """

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class EchoDatagramProtocol(asyncio.DatagramProtocol):
    """
    Send every datagram back to where it came from.
    """

    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


async def serve(port: int, maxSeconds: float) -> None:
    """
    Listen on TCP and UDP C{port} of 127.0.0.1 for C{maxSeconds}.
    """
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, "127.0.0.1", port)
    datagrams, _ = await loop.create_datagram_endpoint(
        EchoDatagramProtocol, local_addr=("127.0.0.1", port)
    )
    try:
        await asyncio.sleep(maxSeconds)
    finally:
        datagrams.close()
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    if args.uvloop:
        try:
            import uvloop  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            print("uvloop is not installed (pip install uvloop)", file=sys.stderr)
            sys.exit(3)
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve(args.port, args.max_seconds))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
