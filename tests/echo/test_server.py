"""
Tests for L{netlab.echo._server}: the TCP L{EchoProtocol} built by
L{EchoFactory}, with its flow control and half-close, and the UDP
L{EchoDatagramProtocol} behind its reflection guard.

Everything runs in memory: L{StringTransport}, the producer-aware
L{BackloggingTransport} and L{FakeDatagramTransport} stand in for the
network, a L{Clock} for the time.
"""

from __future__ import annotations

import errno
import itertools
from collections.abc import Sequence

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab._udpguard import DatagramGuard, Refusal
from netlab.echo import EchoDatagramProtocol, EchoFactory, EchoProtocol
from netlab.policies import TrafficStats
from tests.test_flow import BackloggingTransport, Peer

PEER = IPv4Address("TCP", "192.0.2.7", 40000)


def connect(
    transport: StringTransport | None = None,
) -> tuple[EchoProtocol, StringTransport]:
    """
    Connect a protocol built by an L{EchoFactory} to an in-memory transport.

    @return: the protocol and its transport.
    """
    protocol = EchoFactory().buildProtocol(PEER)
    assert isinstance(protocol, EchoProtocol)
    if transport is None:
        transport = StringTransport(peerAddress=PEER)
    protocol.makeConnection(transport)
    return protocol, transport


def warnings(events: Sequence[LogEvent], text: str) -> list[LogEvent]:
    """
    @return: the warnings among C{events} whose text contains C{text}.
    """
    return [
        event
        for event in events
        if event.get("log_level") is LogLevel.warn and text in formatEvent(event)
    ]


class EchoProtocolTests(SynchronousTestCase):
    """
    Tests for L{EchoProtocol}, as built by L{EchoFactory}.
    """

    def setUp(self) -> None:
        self.protocol, self.transport = connect()

    def test_factoryBuildsEcho(self) -> None:
        """
        L{EchoFactory} builds L{EchoProtocol}s that know their factory.
        """
        factory = EchoFactory()
        protocol = factory.buildProtocol(PEER)
        self.assertIsInstance(protocol, EchoProtocol)
        assert protocol is not None
        self.assertIs(protocol.factory, factory)

    def test_echoesEachChunk(self) -> None:
        """
        Each chunk is sent back as soon as it arrives, unchanged.
        """
        self.protocol.dataReceived(b"hello")
        self.assertEqual(self.transport.value(), b"hello")
        self.protocol.dataReceived(b", world\r\n")
        self.assertEqual(self.transport.value(), b"hello, world\r\n")

    def test_everyByteInOrder(self) -> None:
        """
        Every possible byte value, UTF-8 or not, comes back in order.
        """
        data = bytes(range(256)) * 4 + b"\xff\xfe\x00\xc3\x28"
        for start in range(0, len(data), 7):
            self.protocol.dataReceived(data[start : start + 7])
        self.assertEqual(self.transport.value(), data)

    def test_largeChunks(self) -> None:
        """
        Chunks of a mebibyte each come back whole and in order.
        """
        chunks = [bytes([i]) * (1 << 20) for i in range(3)]
        for chunk in chunks:
            self.protocol.dataReceived(chunk)
        self.assertEqual(self.transport.value(), b"".join(chunks))

    def test_noLineHandling(self) -> None:
        """
        Line endings are neither added nor removed.
        """
        for chunk in (b"no ending", b"\n", b"\r", b"\r\n\r\n"):
            self.protocol.dataReceived(chunk)
        self.assertEqual(self.transport.value(), b"no ending\n\r\r\n\r\n")

    def test_halfCloseable(self) -> None:
        """
        The protocol provides L{IHalfCloseableProtocol}, so that it hears of
        a peer closing its sending side instead of being disconnected.
        """
        self.assertTrue(verifyObject(IHalfCloseableProtocol, self.protocol))

    def test_halfCloseFinishesEcho(self) -> None:
        """
        When the peer stops sending, everything already received has been
        echoed and the connection is closed after it, nothing dropped.
        """
        data = b"last words \xff" * 1000
        self.protocol.dataReceived(data[:5000])
        self.protocol.dataReceived(data[5000:])
        self.assertFalse(self.transport.disconnecting)
        self.protocol.readConnectionLost()  # type: ignore[attr-defined]
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), data)

    def test_halfCloseWithNothingReceived(self) -> None:
        """
        A peer that closes its sending side without sending anything gets
        the connection closed, with nothing written.
        """
        self.protocol.readConnectionLost()  # type: ignore[attr-defined]
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), b"")

    def test_writeConnectionLostCloses(self) -> None:
        """
        When the peer stops reading, the connection is closed.
        """
        self.protocol.dataReceived(b"unread")
        self.protocol.writeConnectionLost()  # type: ignore[attr-defined]
        self.assertTrue(self.transport.disconnecting)

    def test_countsChunks(self) -> None:
        """
        Each chunk echoed counts as one message in the factory's
        L{TrafficStats}, which every connection of the factory shares.
        """
        factory = EchoFactory()
        first = factory.buildProtocol(PEER)
        second = factory.buildProtocol(PEER)
        first.makeConnection(StringTransport(peerAddress=PEER))
        second.makeConnection(StringTransport(peerAddress=PEER))
        first.dataReceived(b"one\ntwo\n")
        second.dataReceived(b"three")
        first.dataReceived(b"four")
        self.assertEqual(factory.stats.messages, 3)

    def test_stats(self) -> None:
        """
        The factory has the service's L{TrafficStats}: C{echo} over TCP by
        default, or the ones it is given, which its protocols count into.
        """
        stats = EchoFactory().stats
        self.assertEqual((stats.service, stats.transport), ("echo", "tcp"))
        given = TrafficStats("mine")
        factory = EchoFactory(given)
        self.assertIs(factory.stats, given)
        protocol = factory.buildProtocol(PEER)
        protocol.makeConnection(StringTransport(peerAddress=PEER))
        protocol.dataReceived(b"counted")
        self.assertEqual(given.messages, 1)


class EchoFlowControlTests(SynchronousTestCase):
    """
    Echo connections stop reading from a peer that does not read the echo,
    and lose nothing when they start again.
    """

    def connect(
        self, bufferSize: int = 1024
    ) -> tuple[EchoProtocol, BackloggingTransport]:
        """
        Connect an echo protocol to a L{BackloggingTransport}.
        """
        protocol = EchoFactory().buildProtocol(PEER)
        assert isinstance(protocol, EchoProtocol)
        transport = BackloggingTransport(bufferSize)
        protocol.makeConnection(transport)
        return protocol, transport

    def test_registersTransport(self) -> None:
        """
        The connection registers its transport as a streaming producer for
        itself, so that it stops reading while its output is backed up.
        """
        _, transport = connect()
        self.assertIs(transport.producer, transport)
        self.assertTrue(transport.streaming)

    def test_stopsReading(self) -> None:
        """
        A connection whose peer does not read stops reading once the unsent
        echo passes the transport's limit, and reads again once it is sent.
        """
        protocol, transport = self.connect(bufferSize=1024)
        sent = 0
        while transport.producerState == "producing":
            protocol.dataReceived(b"%03d" % sent + b"x" * 97)
            sent += 1
            self.assertLess(sent, 100, "the connection never stopped reading")
        self.assertEqual(sent, 11)
        self.assertEqual(
            transport.drain(), b"".join(b"%03d" % i + b"x" * 97 for i in range(11))
        )
        self.assertEqual(transport.producerState, "producing")

    def test_bufferBounded(self) -> None:
        """
        While the peer sends without reading, the echo held for it never
        grows past the transport's limit plus one read.
        """
        protocol, transport = self.connect(bufferSize=4096)
        received = b""
        held = []
        for i in range(400):
            if transport.producerState == "paused":
                received += transport.drain()
            protocol.dataReceived(b"%05d" % i * 50)
            held.append(len(transport.value()))
        received += transport.drain()
        self.assertGreater(max(held), 4096)
        self.assertLessEqual(max(held), 4096 + 250)
        self.assertEqual(received, b"".join(b"%05d" % i * 50 for i in range(400)))

    def test_noByteLost(self) -> None:
        """
        With the peer reading only while the connection is paused, every
        byte comes back, in order, across many pauses.
        """
        protocol, transport = self.connect(bufferSize=1000)
        data = b"".join(b"chunk %d \xff\x00 " % i for i in range(20000))
        chunks = []
        start = 0
        for size in itertools.cycle([1, 13, 700, 4096, 333]):
            if start >= len(data):
                break
            chunks.append(data[start : start + size])
            start += size
        peer = Peer(protocol, transport)
        received = peer.send(chunks)
        self.assertEqual(received, data)
        self.assertGreater(peer.pauses, 50)

    def test_halfCloseAfterPauses(self) -> None:
        """
        A peer that closes its sending side after being paused and resumed
        gets the whole echo still buffered, then the connection is closed.
        """
        protocol, transport = self.connect(bufferSize=100)
        peer = Peer(protocol, transport)
        for chunk in (b"a" * 150, b"b" * 150, b"c" * 60):
            if transport.producerState == "paused":
                peer.received += transport.drain()
            protocol.dataReceived(chunk)
        protocol.readConnectionLost()  # type: ignore[attr-defined]
        self.assertTrue(transport.disconnecting)
        self.assertEqual(
            peer.received + transport.value(), b"a" * 150 + b"b" * 150 + b"c" * 60
        )


class FailingDatagramTransport(FakeDatagramTransport):
    """
    A datagram transport whose every write fails.

    @ivar error: the exception each write raises.
    @ivar attempts: how many writes were tried.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.attempts = 0

    def write(self, packet: bytes, addr: object = None) -> None:
        self.attempts += 1
        raise self.error


class ListeningDatagramTransport(FakeDatagramTransport):
    """
    A datagram transport that says which address it listens on.
    """

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", "0.0.0.0", self.port)


class EchoDatagramProtocolTests(SynchronousTestCase):
    """
    Tests for L{EchoDatagramProtocol}.
    """

    alice = ("192.0.2.1", 5000)
    bob = ("198.51.100.2", 6000)

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.transport = FakeDatagramTransport()
        self.protocol = self.listen(EchoDatagramProtocol(self.clock))

    def listen(
        self,
        protocol: EchoDatagramProtocol,
        transport: FakeDatagramTransport | None = None,
    ) -> EchoDatagramProtocol:
        """
        Start C{protocol} on C{transport} (by default this test's transport).
        """
        protocol.makeConnection(transport or self.transport)
        return protocol

    def assertNotAnswered(self, addresses: Sequence[tuple[str, int]]) -> None:
        """
        Assert that a datagram from each of C{addresses} gets no reply.
        """
        with capturedLogs():
            for addr in addresses:
                self.protocol.datagramReceived(b"loop?", addr)
                self.assertEqual(self.transport.written, [], addr)

    def test_echoesToSender(self) -> None:
        """
        Each datagram is sent back unchanged, to the address it came from.
        """
        self.protocol.datagramReceived(b"hello", self.alice)
        self.protocol.datagramReceived(b"hi", self.bob)
        self.protocol.datagramReceived(b"again", self.alice)
        self.assertEqual(
            self.transport.written,
            [(b"hello", self.alice), (b"hi", self.bob), (b"again", self.alice)],
        )

    def test_dataUntouched(self) -> None:
        """
        Non-UTF-8, empty and large datagrams come back byte for byte.
        """
        datagrams = [b"\xff\x00\xe9", b"line\r\n", b"", bytes(range(256)) * 255]
        for datagram in datagrams:
            self.protocol.datagramReceived(datagram, self.alice)
        self.assertEqual(
            self.transport.written, [(datagram, self.alice) for datagram in datagrams]
        )

    def test_privilegedPortsNotAnswered(self) -> None:
        """
        Datagrams from well-known service ports (echo, discard, daytime,
        chargen, time, DNS) and anything below 1024 get no reply.
        """
        self.assertNotAnswered(
            [("192.0.2.1", port) for port in (0, 7, 9, 13, 19, 37, 53, 123, 1023)]
        )
        self.assertEqual(self.protocol.guard.refused[Refusal.PRIVILEGED_PORT], 9)

    def test_port1024Answered(self) -> None:
        """
        A datagram from port 1024, the first unprivileged port, is answered.
        """
        self.protocol.datagramReceived(b"ok", ("192.0.2.1", 1024))
        self.assertEqual(self.transport.written, [(b"ok", ("192.0.2.1", 1024))])

    def test_ownPortNotAnswered(self) -> None:
        """
        A datagram from the guard's C{ownPort} gets no reply; other ports
        still do.
        """
        self.protocol.guard.ownPort = 21568
        self.assertNotAnswered([("192.0.2.1", 21568), ("2001:db8::1", 21568)])
        self.assertEqual(self.protocol.guard.refused[Refusal.OWN_PORT], 2)
        self.protocol.datagramReceived(b"ok", ("192.0.2.1", 21570))
        self.assertEqual(self.transport.written, [(b"ok", ("192.0.2.1", 21570))])

    def test_ownPortFromTransport(self) -> None:
        """
        Once listening, the protocol knows its own port from its transport's
        C{getHost()} and does not answer datagrams from it.
        """
        transport = ListeningDatagramTransport(31337)
        protocol = self.listen(EchoDatagramProtocol(self.clock), transport)
        with capturedLogs():
            protocol.datagramReceived(b"loop?", ("192.0.2.1", 31337))
        protocol.datagramReceived(b"ok", self.alice)
        self.assertEqual(transport.written, [(b"ok", self.alice)])
        self.assertEqual(protocol.guard.refused[Refusal.OWN_PORT], 1)

    def test_broadcastNotAnswered(self) -> None:
        """
        A datagram claiming to come from the limited broadcast address gets
        no reply, nor does its IPv4-mapped IPv6 form.
        """
        self.assertNotAnswered(
            [("255.255.255.255", 5000), ("::ffff:255.255.255.255", 5000)]
        )
        self.assertEqual(self.protocol.guard.refused[Refusal.NOT_UNICAST], 2)

    def test_multicastNotAnswered(self) -> None:
        """
        Datagrams from IPv4, IPv6 and IPv4-mapped multicast addresses get no
        reply.
        """
        self.assertNotAnswered(
            [
                ("224.0.0.1", 5000),
                ("239.255.255.250", 1900 + 10000),
                ("ff02::1", 5000),
                ("ff02::1%eth0", 5000),
                ("::ffff:224.0.0.1", 5000),
            ]
        )
        self.assertEqual(self.protocol.guard.refused[Refusal.NOT_UNICAST], 5)

    def test_unspecifiedNotAnswered(self) -> None:
        """
        Datagrams from the unspecified addresses C{0.0.0.0} and C{::} get no
        reply.
        """
        self.assertNotAnswered([("0.0.0.0", 5000), ("::", 5000)])
        self.assertEqual(self.protocol.guard.refused[Refusal.NOT_UNICAST], 2)

    def test_unicastAnswered(self) -> None:
        """
        Ordinary unicast IPv4, IPv6 and IPv4-mapped senders are answered.
        """
        senders = [
            ("192.0.2.1", 5000),
            ("10.0.0.255", 5000),
            ("127.0.0.1", 65535),
            ("2001:db8::1", 5000),
            ("::1", 5000),
            ("fe80::1%eth0", 5000),
            ("::ffff:192.0.2.1", 5000),
        ]
        for sender in senders:
            self.protocol.datagramReceived(b"hi", sender)
        self.assertEqual(self.transport.written, [(b"hi", s) for s in senders])

    def test_sourceRateLimited(self) -> None:
        """
        A source over its guard's rate gets no more replies until its bucket
        refills, and other sources are still answered meanwhile.
        """
        guard = DatagramGuard(self.clock, sourceRate=1, sourceBurst=3)
        protocol = self.listen(EchoDatagramProtocol(self.clock, guard), self.transport)
        with capturedLogs():
            for i in range(10):
                protocol.datagramReceived(b"%d" % i, self.alice)
        protocol.datagramReceived(b"bob", self.bob)
        self.clock.advance(1)
        protocol.datagramReceived(b"later", self.alice)
        self.assertEqual(
            self.transport.written,
            [
                (b"0", self.alice),
                (b"1", self.alice),
                (b"2", self.alice),
                (b"bob", self.bob),
                (b"later", self.alice),
            ],
        )
        self.assertEqual(guard.refused[Refusal.SOURCE_RATE], 7)

    def test_refusalsLoggedRateLimited(self) -> None:
        """
        Many refused datagrams make one log event per kind of refusal, with
        the source, until the interval has passed.
        """
        with capturedLogs() as events:
            for _ in range(500):
                self.protocol.datagramReceived(b"x", ("192.0.2.1", 7))
                self.protocol.datagramReceived(b"x", ("224.0.0.1", 5000))
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.protocol.guard.refused[Refusal.PRIVILEGED_PORT], 500)
        self.assertEqual(self.protocol.guard.refused[Refusal.NOT_UNICAST], 500)
        logged = warnings(events, "not answering")
        self.assertEqual(len(logged), 2)
        self.assertEqual(
            [(event["host"], event["port"]) for event in logged],
            [("192.0.2.1", 7), ("224.0.0.1", 5000)],
        )

    def test_writeErrorLogged(self) -> None:
        """
        A reply the network refuses (L{OSError}) does not crash the protocol:
        it is logged, and later datagrams are still tried.
        """
        transport = FailingDatagramTransport(
            OSError(errno.EHOSTUNREACH, "No route to host")
        )
        protocol = self.listen(EchoDatagramProtocol(self.clock), transport)
        with capturedLogs() as events:
            protocol.datagramReceived(b"one", self.alice)
            protocol.datagramReceived(b"two", self.bob)
        self.assertEqual(transport.attempts, 2)
        [event] = warnings(events, "could not answer")
        self.assertEqual((event["host"], event["port"]), self.alice)
        self.assertIn("No route to host", formatEvent(event))

    def test_counts(self) -> None:
        """
        Every datagram's bytes count as received; each one answered counts
        as a message, with its bytes as sent.  Refused datagrams are not
        answered, so not counted as messages.
        """
        with capturedLogs():
            self.protocol.datagramReceived(b"hello", self.alice)
            self.protocol.datagramReceived(b"loop?", ("192.0.2.1", 7))
            self.protocol.datagramReceived(b"", self.bob)
            self.protocol.datagramReceived(b"hi", self.bob)
        stats = self.protocol.stats
        self.assertEqual(stats.bytesReceived, 5 + 5 + 0 + 2)
        self.assertEqual(stats.messages, 3)
        self.assertEqual(stats.bytesSent, 5 + 0 + 2)

    def test_stats(self) -> None:
        """
        The protocol counts into the L{TrafficStats} it is given, or its
        own: C{echo} over UDP.
        """
        self.assertEqual(
            (self.protocol.stats.service, self.protocol.stats.transport),
            ("echo", "udp"),
        )
        given = TrafficStats("mine", "udp")
        protocol = self.listen(
            EchoDatagramProtocol(self.clock, stats=given), FakeDatagramTransport()
        )
        self.assertIs(protocol.stats, given)
