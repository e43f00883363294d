"""
Tests for L{netlab_quote._client} and L{netlab_quote._cli}: the client
against the real server factory in memory (L{netlab.testing.MemoryEndpoint}),
and over UDP against a fake reactor.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from netlab_quote import (
    QuoteClientOptions,
    QuoteFactory,
    client,
    displayQuote,
    getQuote,
    getQuoteUDP,
    runQuote,
)
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from netlab.errors import (
    ConnectFailed,
    ConnectionClosed,
    MalformedReply,
    RequestTimedOut,
)
from netlab.testing import MemoryEndpoint


def first(replies: Sequence[bytes]) -> bytes:
    return replies[0]


class _Says(Protocol):
    """
    A server that sends what its factory says, then closes.
    """

    def connectionMade(self) -> None:
        self.transport.write(self.factory.said)  # type: ignore[attr-defined,union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]


def saying(data: bytes) -> Factory[_Says]:
    factory = Factory.forProtocol(_Says)
    factory.said = data  # type: ignore[attr-defined]
    return factory


class GetQuoteTests(SynchronousTestCase):
    """
    L{getQuote} takes what the server sends until it closes.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def test_quote(self) -> None:
        """
        The quote, as the quote server sent it.
        """
        endpoint = MemoryEndpoint(QuoteFactory(["Hi.\n-- me"], choose=first))
        d = getQuote(endpoint, self.clock)
        endpoint.flush()
        self.assertEqual(self.successResultOf(d), b"Hi.\r\n-- me\r\n")

    def test_nothing(self) -> None:
        """
        A server that closes without a word gave no quote.
        """
        endpoint = MemoryEndpoint(saying(b""))
        d = getQuote(endpoint, self.clock)
        endpoint.flush()
        failure = self.failureResultOf(d, ConnectionClosed)
        self.assertIn("without a quote", str(failure.value))

    def test_refused(self) -> None:
        """
        A refused connection is L{ConnectFailed}.
        """
        endpoint = MemoryEndpoint(QuoteFactory())
        endpoint.refuse = True
        self.failureResultOf(getQuote(endpoint, self.clock), ConnectFailed)

    def test_timeout(self) -> None:
        """
        A server that sends nothing and stays connected is given up on after
        the timeout, and the connection is aborted.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(Protocol))
        d = getQuote(endpoint, self.clock, timeout=3)
        endpoint.flush()
        self.clock.advance(2.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        failure = self.failureResultOf(d, RequestTimedOut)
        self.assertEqual(str(failure.value), "no quote within 3s")
        endpoint.flush()
        self.assertTrue(endpoint.servers[0].transport.disconnected)  # type: ignore[attr-defined]

    def test_tooMuch(self) -> None:
        """
        A server that sends more than any quote is not a quote server.
        """
        endpoint = MemoryEndpoint(saying(b"x" * 70000))
        d = getQuote(endpoint, self.clock)
        endpoint.flush()
        self.failureResultOf(d, MalformedReply)


class _Port:
    """
    A connected UDP port of L{_UDPReactor}.
    """

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.sent: list[bytes] = []
        self.address: tuple[str, int] | None = None
        self.stopped = False

    def connect(self, host: str, port: int) -> None:
        self.address = (host, port)

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def stopListening(self) -> None:
        self.stopped = True
        self.protocol.doStop()


class _UDPReactor(Clock):
    """
    A clock that resolves every host to 192.0.2.1, and listens on UDP with
    L{_Port}s.
    """

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[_Port] = []

    def resolve(self, host: str) -> Deferred[str]:
        return succeed("192.0.2.1")

    def listenUDP(self, port: int, protocol: Any) -> _Port:
        listening = _Port(protocol)
        self.ports.append(listening)
        protocol.makeConnection(listening)
        return listening


class GetQuoteUDPTests(SynchronousTestCase):
    """
    L{getQuoteUDP} asks up to three times over its timeout.
    """

    def setUp(self) -> None:
        self.reactor = _UDPReactor()
        self.d = getQuoteUDP(self.reactor, "quotes.example", 21517, timeout=3)
        [self.port] = self.reactor.ports

    def test_answer(self) -> None:
        """
        The first datagram back is the quote, and the port is closed.
        """
        self.assertEqual(self.port.address, ("192.0.2.1", 21517))
        self.assertEqual(len(self.port.sent), 1)
        self.port.protocol.datagramReceived(b"Hi.\r\n", ("192.0.2.1", 21517))
        self.assertEqual(self.successResultOf(self.d), b"Hi.\r\n")
        self.assertTrue(self.port.stopped)

    def test_retries(self) -> None:
        """
        Without an answer, it asks again each third of the timeout, then
        gives up.
        """
        self.reactor.advance(1)
        self.assertEqual(len(self.port.sent), 2)
        self.port.protocol.datagramReceived(b"late", ("192.0.2.1", 21517))
        self.assertEqual(self.successResultOf(self.d), b"late")

    def test_givesUp(self) -> None:
        """
        After three unanswered tries it fails with L{RequestTimedOut}.
        """
        self.reactor.advance(1)
        self.reactor.advance(1)
        self.assertNoResult(self.d)
        self.reactor.advance(1)
        self.failureResultOf(self.d, RequestTimedOut)
        self.assertEqual(len(self.port.sent), 3)
        self.assertTrue(self.port.stopped)

    def test_refused(self) -> None:
        """
        A refused datagram (nothing listens there) is L{ConnectFailed}, at
        once.
        """
        self.port.protocol.connectionRefused()
        failure = self.failureResultOf(self.d, ConnectFailed)
        self.assertEqual(
            str(failure.value), "no quote server on UDP quotes.example:21517"
        )


class CommandTests(SynchronousTestCase):
    """
    C{netlab quote}, as the entry point C{quote} of C{netlab.clients} names
    it.
    """

    def test_options(self) -> None:
        """
        It asks localhost's port 21517 over TCP unless told otherwise.
        """
        options = QuoteClientOptions()
        options.parseOptions([])
        self.assertEqual(
            (options["udp"], options["host"], options["port"]),
            (False, "localhost", 21517),
        )
        options.parseOptions(["-u", "-H", "::1", "-p", "1717"])
        self.assertEqual((options["udp"], options["port"]), (True, 1717))
        self.assertIs(client.options, QuoteClientOptions)

    def test_printsOverUDP(self) -> None:
        """
        It prints the quote, made fit for a terminal, and exits 0.
        """
        reactor = _UDPReactor()
        options = QuoteClientOptions()
        options.parseOptions(["--udp"])
        out = io.StringIO()
        d = runQuote(reactor, options, out)
        reactor.ports[0].protocol.datagramReceived(b"Hi.\r\n", ("192.0.2.1", 21517))
        self.assertEqual(self.successResultOf(d), 0)
        self.assertEqual(out.getvalue(), "Hi.\n")

    def test_display(self) -> None:
        """
        L{displayQuote} gives local line endings and a final one, and
        replaces control characters (escape sequences) and bad UTF-8.
        """
        self.assertEqual(displayQuote(b"a\r\nb"), "a\nb\n")
        self.assertEqual(displayQuote(b"\x1b[2Jhi\xff\n"), "\ufffd[2Jhi\ufffd\n")
