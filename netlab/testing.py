"""
Fakes for testing code that uses netlab, in memory, without sockets or a
running reactor.

Connect netlab's clients (or your own protocols) to a real netlab server
factory through a L{MemoryEndpoint}, then call L{MemoryEndpoint.flush} to
deliver the bytes both ways::

    from twisted.internet.task import Clock
    from twisted.trial.unittest import SynchronousTestCase

    from netlab.testing import MemoryEndpoint
    from netlab.timestamp import Framing, TimestampFactory, getTimestamp

    class MyTests(SynchronousTestCase):
        def test_stamp(self):
            clock = Clock()
            endpoint = MemoryEndpoint(
                TimestampFactory(clock, framing=Framing.LINE)
            )
            d = getTimestamp(endpoint, b"hi", Framing.LINE, clock=clock)
            endpoint.flush()
            self.assertEqual(self.successResultOf(d).data, b"hi")

Connections behave like TCP in the ways netlab relies on: a side that calls
C{loseWriteConnection} half-closes (its peer gets C{readConnectionLost} if
it provides C{IHalfCloseableProtocol}, or is closed otherwise), and
C{abortConnection} drops whatever was not yet delivered, both ways.

Like C{treq.testing}, this is built on Twisted's C{twisted.test.iosim}.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionLost, ConnectionRefusedError
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.task import Clock
from twisted.test import iosim
from zope.interface import implementer

__all__ = ["MemoryEndpoint"]


class _Transport(iosim.FakeTransport):  # type: ignore[misc]
    """
    iosim's transport, with half-close and an abort that drops what was not
    delivered.
    """

    writeClosed = False
    endDelivered = False
    aborted = False

    def write(self, data: bytes) -> None:
        if not self.writeClosed:
            super().write(data)

    def loseWriteConnection(self) -> None:
        self.writeClosed = True

    def abortConnection(self) -> None:
        self.aborted = True
        self.stream = []
        self.disconnectReason = ConnectionLost("aborted")  # type: ignore[assignment]
        self.loseConnection()

    def bufferReceived(self, buf: bytes) -> None:
        if not self.aborted:
            super().bufferReceived(buf)


@implementer(IStreamClientEndpoint)
class MemoryEndpoint:
    """
    A client endpoint whose connections go, in memory, to protocols built by
    a server factory.

    Nothing moves until L{flush} is called: a test decides when bytes are
    delivered, and so can look at every state in between.

    @ivar serverFactory: the factory that builds the server side.
    @ivar refuse: when true, L{connect} fails as if the connection were
        refused.
    @ivar servers: the server protocols built so far, oldest first.
    """

    def __init__(
        self, serverFactory: IProtocolFactory, clock: Clock | None = None
    ) -> None:
        """
        @param serverFactory: builds the protocol for the server side of
            each connection, for example a netlab service's factory.
        @param clock: the clock the server (and client) run on, if they
            schedule work for the next turn of the reactor (the chat server
            sends its output that way): L{flush} then runs those calls too,
            with C{clock.advance(0)}, without moving time on.
        """
        self.serverFactory = serverFactory
        self.clock = clock
        self.refuse = False
        self.servers: list[IProtocol] = []
        self._connections: list[tuple[iosim.IOPump, _Transport, _Transport]] = []
        self._nextPort = 40000

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        """
        Connect a client protocol built by C{protocolFactory} to a new
        server protocol.

        @return: a Deferred that has already fired with the client protocol,
            or failed with C{ConnectionRefusedError} if L{refuse} is set.
        """
        if self.refuse:
            return fail(ConnectionRefusedError("MemoryEndpoint.refuse is set"))
        self._nextPort += 1
        serverAddress = IPv4Address("TCP", "127.0.0.1", 21567)
        clientAddress = IPv4Address("TCP", "127.0.0.1", self._nextPort)
        server = self.serverFactory.buildProtocol(clientAddress)
        client = protocolFactory.buildProtocol(serverAddress)
        if server is None or client is None:
            return fail(ConnectionRefusedError("a factory built no protocol"))
        self.servers.append(server)
        serverTransport = _Transport(
            server, True, hostAddress=serverAddress, peerAddress=clientAddress
        )
        clientTransport = _Transport(
            client, False, hostAddress=clientAddress, peerAddress=serverAddress
        )
        pump = iosim.connect(
            server, serverTransport, client, clientTransport, greet=False
        )
        self._connections.append((pump, serverTransport, clientTransport))
        return succeed(client)

    def _runDue(self) -> bool:
        """
        Run the clock's calls that are due now (and those they schedule for
        now).

        @return: whether any ran.
        """
        clock = self.clock
        ran = False
        for _ in range(1000):
            if clock is None or not any(
                call.getTime() <= clock.seconds() for call in clock.getDelayedCalls()
            ):
                break
            clock.advance(0)
            ran = True
        return ran

    def flush(self) -> None:
        """
        Deliver every byte written so far, both ways, on every connection,
        until nothing more moves; connections closed by either side are
        disconnected.  With a C{clock}, calls due now run first, each
        round.
        """
        moved = True
        while moved:
            moved = False
            moved = self._runDue()
            for pump, serverTransport, clientTransport in self._connections:
                if pump.flush():
                    moved = True
                for near, far in (
                    (serverTransport, clientTransport),
                    (clientTransport, serverTransport),
                ):
                    if near.writeClosed and not (near.endDelivered or far.disconnected):
                        # All that was written before the half-close is
                        # delivered: now the end of the stream.
                        near.endDelivered = moved = True
                        halfCloseable = IHalfCloseableProtocol(far.protocol, None)
                        if halfCloseable is not None:
                            halfCloseable.readConnectionLost()
                        else:
                            far.loseConnection()
