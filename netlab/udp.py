"""
What every netlab UDP service shares: the guard that keeps it from being
used as a reflector or in a loop.

Pass a L{DatagramGuard} as the C{guard} of a UDP protocol
(L{netlab.echo.EchoDatagramProtocol},
L{netlab.timestamp.TimestampDatagramProtocol}) to choose its rates::

    guard = DatagramGuard(reactor, sourceRate=100, sourceBurst=200)
    reactor.listenUDP(21568, EchoDatagramProtocol(reactor, guard))

A UDP service of your own subclasses L{GuardedDatagramProtocol}: in
C{datagramReceived}, answer only if C{self.admit(host, port)}, with
C{self.sendReply(reply, addr)}.
"""

from netlab._udpguard import (
    DEFAULT_GLOBAL_BURST,
    DEFAULT_GLOBAL_RATE,
    DEFAULT_SOURCE_BURST,
    DEFAULT_SOURCE_RATE,
    DatagramGuard,
    Refusal,
)
from netlab._udpserver import GuardedDatagramProtocol

__all__ = [
    "DEFAULT_GLOBAL_BURST",
    "DEFAULT_GLOBAL_RATE",
    "DEFAULT_SOURCE_BURST",
    "DEFAULT_SOURCE_RATE",
    "DatagramGuard",
    "GuardedDatagramProtocol",
    "Refusal",
]
