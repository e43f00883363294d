"""
Tests for L{netlab_quote._server}: the quote protocols, over a
C{StringTransport} and a C{FakeDatagramTransport}.
"""

from __future__ import annotations

from collections.abc import Sequence

from netlab_quote import (
    QUOTES,
    QuoteDatagramProtocol,
    QuoteFactory,
    formatQuote,
)
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from netlab.policies import TrafficStats
from netlab.udp import DatagramGuard, Refusal

PEER = IPv4Address("TCP", "127.0.0.1", 40000)


def first(replies: Sequence[bytes]) -> bytes:
    """
    Choose the first quote, so that tests know which is sent.
    """
    return replies[0]


class QuoteProtocolTests(SynchronousTestCase):
    """
    Over TCP, each connection gets one quote, then is closed.
    """

    def connect(self, factory: QuoteFactory) -> StringTransport:
        transport = StringTransport(peerAddress=PEER)
        protocol = factory.buildProtocol(PEER)
        protocol.makeConnection(transport)
        return transport

    def test_quoteThenClose(self) -> None:
        """
        The quote is sent as soon as the connection is made, and the
        connection closed after it.
        """
        transport = self.connect(QuoteFactory(["Hi.\n-- me"], choose=first))
        self.assertEqual(transport.value(), b"Hi.\r\n-- me\r\n")
        self.assertTrue(transport.disconnecting)

    def test_inputThrownAway(self) -> None:
        """
        What the peer sends changes nothing.
        """
        factory = QuoteFactory(["Hi."], choose=first)
        transport = StringTransport(peerAddress=PEER)
        protocol = factory.buildProtocol(PEER)
        protocol.makeConnection(transport)
        protocol.dataReceived(b"hello?\r\n")
        self.assertEqual(transport.value(), b"Hi.\r\n")

    def test_counted(self) -> None:
        """
        Each quote sent counts as a message.
        """
        stats = TrafficStats("quote")
        factory = QuoteFactory(stats=stats)
        self.connect(factory)
        self.connect(factory)
        self.assertIs(factory.stats, stats)
        self.assertEqual(stats.messages, 2)

    def test_choice(self) -> None:
        """
        Each connection's quote is chosen among the factory's, by default
        the built-in ones.
        """
        seen: list[Sequence[bytes]] = []

        def choose(replies: Sequence[bytes]) -> bytes:
            seen.append(replies)
            return replies[-1]

        transport = self.connect(QuoteFactory(choose=choose))
        self.assertEqual(seen, [tuple(formatQuote(q) for q in QUOTES)])
        self.assertEqual(transport.value(), formatQuote(QUOTES[-1]))

    def test_noQuotes(self) -> None:
        """
        A factory needs something to say.
        """
        self.assertRaises(ValueError, QuoteFactory, [])


class QuoteDatagramProtocolTests(SynchronousTestCase):
    """
    Over UDP, each datagram the guard admits gets a quote in answer.
    """

    def setUp(self) -> None:
        self.stats = TrafficStats("quote", "udp")
        self.guard = DatagramGuard(Clock())
        self.protocol = QuoteDatagramProtocol(
            Clock(), ["Hi."], self.guard, self.stats, choose=first
        )
        self.transport = FakeDatagramTransport()
        self.protocol.makeConnection(self.transport)

    def test_answers(self) -> None:
        """
        Any datagram, empty or not, is answered with a quote, sent to its
        source, and counted.
        """
        self.protocol.datagramReceived(b"", ("127.0.0.1", 40000))
        self.protocol.datagramReceived(b"quote?", ("127.0.0.1", 40001))
        self.assertEqual(
            self.transport.written,
            [(b"Hi.\r\n", ("127.0.0.1", 40000)), (b"Hi.\r\n", ("127.0.0.1", 40001))],
        )
        self.assertEqual(
            (self.stats.messages, self.stats.bytesReceived, self.stats.bytesSent),
            (2, 6, 10),
        )

    def test_guarded(self) -> None:
        """
        A datagram the guard refuses (here, from a privileged port, where
        chargen or another quote server could answer back) is not
        answered.
        """
        self.protocol.datagramReceived(b"x", ("127.0.0.1", 19))
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.guard.refused[Refusal.PRIVILEGED_PORT], 1)
        self.assertEqual(self.stats.messages, 0)
