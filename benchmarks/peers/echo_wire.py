"""
Reference peer: Twisted's own C{twisted.protocols.wire.Echo} on TCP, and the
smallest Twisted UDP echo, both on the same port of 127.0.0.1.

Usage: C{python echo_wire.py PORT [--max-seconds N]}. It exits by itself
after C{--max-seconds} (600), so a forgotten one does not linger.
"""

from __future__ import annotations

import argparse

from twisted.internet import reactor
from twisted.internet.interfaces import IReactorUDP
from twisted.internet.protocol import DatagramProtocol, ServerFactory
from twisted.protocols.wire import Echo


class UDPEcho(DatagramProtocol):
    """
    Send every datagram back to where it came from.
    """

    def datagramReceived(self, datagram: bytes, address: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.write(datagram, address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    factory = ServerFactory()
    factory.protocol = Echo
    reactor.listenTCP(args.port, factory, interface="127.0.0.1")
    IReactorUDP(reactor).listenUDP(
        args.port, UDPEcho(), interface="127.0.0.1", maxPacketSize=8192
    )
    reactor.callLater(args.max_seconds, reactor.stop)
    reactor.run()


if __name__ == "__main__":
    main()
