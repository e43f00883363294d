"""
The echo server (RFC 862): TCP with flow control and half-close, and UDP
behind the reflection guard.
"""

from __future__ import annotations

from twisted.internet.error import MessageLengthError
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IReactorTime,
    ITCPTransport,
)
from twisted.internet.protocol import Protocol, ServerFactory
from zope.interface import implementer

from netlab._flow import (
    closeWhenWritten,
    directWriter,
    pauseReadingWhenBacklogged,
)
from netlab._udpguard import DatagramGuard
from netlab._udpserver import GuardedDatagramProtocol
from netlab.policies import TrafficStats

__all__ = ["DEFAULT_PORT", "EchoDatagramProtocol", "EchoFactory", "EchoProtocol"]

DEFAULT_PORT = 21568
"""
netlab's echo port, for TCP and UDP.  RFC 862's port 7 needs privileges.
"""


@implementer(IHalfCloseableProtocol)
class EchoProtocol(Protocol):
    """
    Sends back every byte it receives, in order.

    It reads no faster than its peer takes the echo: once the echo waiting
    to be sent passes the transport's buffer size, reading stops until it
    has drained.  When the peer shuts down its sending side, the rest of
    the echo is sent and the connection closed.
    """

    transport: ITCPTransport

    def __init__(self, stats: TrafficStats | None = None) -> None:
        """
        @param stats: counts each chunk echoed as a message.
        """
        self._stats = stats if stats is not None else TrafficStats("echo")

    def _write(self, data: bytes) -> None:
        # Until connectionMade picks a direct writer.
        self.transport.write(data)

    def connectionMade(self) -> None:
        pauseReadingWhenBacklogged(self.transport)
        self._write = directWriter(self.transport)  # type: ignore[method-assign,assignment]

    def dataReceived(self, data: bytes) -> None:
        self._stats.messages += 1
        self._write(data)

    def readConnectionLost(self) -> None:
        """
        The peer will send no more: close once all of the echo is sent.
        """
        closeWhenWritten(self.transport)

    def writeConnectionLost(self) -> None:
        """
        The peer will read no more: there is nothing left to do.
        """
        closeWhenWritten(self.transport)


class EchoFactory(ServerFactory):
    """
    Builds L{EchoProtocol}s, for any stream endpoint::

        serverFromString(reactor, "tcp:21568").listen(EchoFactory())

    @ivar stats: the service's counters (see L{netlab.policies}).
    """

    protocol = EchoProtocol

    def __init__(self, stats: TrafficStats | None = None) -> None:
        """
        @param stats: the service's counters; new ones if C{None}.
        """
        self.stats = stats if stats is not None else TrafficStats("echo")

    def buildProtocol(self, addr: IAddress | None) -> EchoProtocol:
        protocol = EchoProtocol(self.stats)
        protocol.factory = self
        return protocol


class EchoDatagramProtocol(GuardedDatagramProtocol):
    """
    Sends each datagram back to its sender, unchanged, unless its
    L{DatagramGuard} refuses it (see L{netlab._udpguard}).

    Listen with a C{maxPacketSize} of 65536 (the plugin does) so that large
    datagrams come back whole.
    """

    def __init__(
        self,
        clock: IReactorTime,
        guard: DatagramGuard | None = None,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param clock: paces the logging (and the default guard).
        @param guard: decides which datagrams are answered; a
            L{DatagramGuard} with its defaults if C{None}.
        @param stats: the service's counters; new ones if C{None}.
        """
        super().__init__(clock, guard, stats or TrafficStats("echo", "udp"))

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        stats = self.stats
        size = len(datagram)
        stats.bytesReceived += size
        if self.admit(addr[0], addr[1]):
            stats.messages += 1
            stats.bytesSent += size
            try:
                self._sendto(datagram, addr)
            except (OSError, MessageLengthError) as e:
                self.sendFailed(addr, e)
