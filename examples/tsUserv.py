"""
The classic UDP timestamp server (tsUserv), event-driven, built from
netlab's datagram protocol: each datagram is answered with one datagram,
C{[<time>] <data>}, to its sender.

    python examples/tsUserv.py [PORT [INTERFACE]]

The same service, from the twistd plugin:

    twistd -n netlab tsuserv --udp-port 21567
    twistd -n netlab tsuserv --udp-port 21567 --udp-interface 127.0.0.1
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from netlab.timestamp import DEFAULT_PORT, TimestampDatagramProtocol


async def main(reactor, port=str(DEFAULT_PORT), interface=""):
    # The reactor is the clock.  The protocol's reflection guard leaves
    # unanswered datagrams from privileged ports, other netlab services and
    # floods (see "UDP services" in the limits guide, docs/howto/limits.rst).
    protocol = TimestampDatagramProtocol(reactor)
    # Twisted has no datagram endpoints: listen on the reactor directly.  A
    # UDP datagram can carry up to 64 KiB: read it whole.
    listening = reactor.listenUDP(
        int(port), protocol, interface=interface, maxPacketSize=65536
    )
    where = listening.getHost()
    print(f"tsUserv: waiting for datagrams on {where.port}...", flush=True)
    await Deferred()  # serve until interrupted (Ctrl-C)


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
