"""
Tests for L{netlab.testing}: the in-memory endpoint users test against.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab.testing import MemoryEndpoint
from netlab.timestamp import Framing, TimestampFactory


class _Recorder(Protocol):
    """
    A protocol that remembers what happened to it.
    """

    def __init__(self) -> None:
        self.made = False
        self.received: list[bytes] = []
        self.lost: Failure | None = None

    def connectionMade(self) -> None:
        self.made = True

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.lost = reason


class _Echo(_Recorder):
    """
    A server that sends back what it receives.
    """

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        self.transport.write(data)


class MemoryEndpointTests(SynchronousTestCase):
    """
    Tests for L{MemoryEndpoint}.
    """

    def test_interface(self) -> None:
        """
        L{MemoryEndpoint} provides L{IStreamClientEndpoint}.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        self.assertTrue(verifyObject(IStreamClientEndpoint, endpoint))

    def test_connectFiresWithClient(self) -> None:
        """
        C{connect} fires at once with a connected protocol built by the
        client factory.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        client = self.successResultOf(endpoint.connect(Factory.forProtocol(_Recorder)))
        self.assertIsInstance(client, _Recorder)
        self.assertTrue(client.made)
        self.assertIsNone(client.lost)

    def test_serverBuiltByFactory(self) -> None:
        """
        Each connection gets a server protocol built by the given factory,
        listed in C{servers}, oldest first.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        self.assertEqual(endpoint.servers, [])
        endpoint.connect(Factory.forProtocol(_Recorder))
        endpoint.connect(Factory.forProtocol(_Recorder))
        self.assertEqual(len(endpoint.servers), 2)
        first, second = endpoint.servers
        self.assertIsInstance(first, _Echo)
        self.assertIsInstance(second, _Echo)
        self.assertIsNot(first, second)
        self.assertTrue(first.made)

    def test_addresses(self) -> None:
        """
        Each server sees a distinct loopback TCP peer address, and each client
        sees the server's address.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        clients = [
            self.successResultOf(endpoint.connect(Factory.forProtocol(_Recorder)))
            for _ in range(2)
        ]
        peers = [server.transport.getPeer() for server in endpoint.servers]
        self.assertEqual([peer.host for peer in peers], ["127.0.0.1", "127.0.0.1"])
        self.assertNotEqual(peers[0].port, peers[1].port)
        for client, peer in zip(clients, peers, strict=True):
            self.assertIsInstance(client.transport.getPeer(), IPv4Address)
            self.assertEqual(client.transport.getHost(), peer)

    def test_deliversOnlyOnFlush(self) -> None:
        """
        Bytes written by either side reach the other only when C{flush} is
        called, and then both ways until nothing more moves.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        client = self.successResultOf(endpoint.connect(Factory.forProtocol(_Recorder)))
        (server,) = endpoint.servers
        client.transport.write(b"hello")
        self.assertEqual(server.received, [])
        self.assertEqual(client.received, [])
        endpoint.flush()
        self.assertEqual(server.received, [b"hello"])
        self.assertEqual(b"".join(client.received), b"hello")

    def test_flushEveryConnection(self) -> None:
        """
        C{flush} moves bytes on every connection, each to its own server.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        first = self.successResultOf(endpoint.connect(Factory.forProtocol(_Recorder)))
        second = self.successResultOf(endpoint.connect(Factory.forProtocol(_Recorder)))
        first.transport.write(b"one")
        second.transport.write(b"two")
        endpoint.flush()
        self.assertEqual([s.received for s in endpoint.servers], [[b"one"], [b"two"]])
        self.assertEqual(b"".join(first.received), b"one")
        self.assertEqual(b"".join(second.received), b"two")

    def test_closeOnFlush(self) -> None:
        """
        A connection closed by the client is seen as lost by both sides once
        C{flush} is called.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        client = self.successResultOf(endpoint.connect(Factory.forProtocol(_Recorder)))
        (server,) = endpoint.servers
        client.transport.loseConnection()
        self.assertIsNone(server.lost)
        endpoint.flush()
        self.assertIsNotNone(server.lost)
        self.assertIsNotNone(client.lost)

    def test_serverCloses(self) -> None:
        """
        A connection closed by the server is seen as lost by the client once
        C{flush} is called.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        client = self.successResultOf(endpoint.connect(Factory.forProtocol(_Recorder)))
        endpoint.servers[0].transport.loseConnection()
        self.assertIsNone(client.lost)
        endpoint.flush()
        self.assertIsNotNone(client.lost)

    def test_refuse(self) -> None:
        """
        With C{refuse} set, C{connect} fails with L{ConnectionRefusedError}
        and builds no server.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        endpoint.refuse = True
        d = endpoint.connect(Factory.forProtocol(_Recorder))
        self.failureResultOf(d, ConnectionRefusedError)
        self.assertEqual(endpoint.servers, [])

    def test_refuseCleared(self) -> None:
        """
        Clearing C{refuse} lets later connections through.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_Echo))
        endpoint.refuse = True
        self.failureResultOf(
            endpoint.connect(Factory.forProtocol(_Recorder)), ConnectionRefusedError
        )
        endpoint.refuse = False
        self.successResultOf(endpoint.connect(Factory.forProtocol(_Recorder)))
        self.assertEqual(len(endpoint.servers), 1)

    def test_noServerProtocol(self) -> None:
        """
        A server factory that builds no protocol refuses the connection.
        """

        class NoServer(Factory):
            def buildProtocol(self, addr: object) -> None:
                return None

        endpoint = MemoryEndpoint(NoServer())
        d = endpoint.connect(Factory.forProtocol(_Recorder))
        self.failureResultOf(d, ConnectionRefusedError)

    def test_netlabServer(self) -> None:
        """
        A real netlab server factory answers a client through the endpoint.
        """
        clock = Clock()
        clock.advance(1795391173)
        endpoint = MemoryEndpoint(
            TimestampFactory(clock, utc=True, framing=Framing.LINE)
        )
        client = self.successResultOf(endpoint.connect(Factory.forProtocol(_Recorder)))
        client.transport.write(b"hi\n")
        endpoint.flush()
        self.assertEqual(b"".join(client.received), b"[Sun Nov 22 23:46:13 2026] hi\n")
