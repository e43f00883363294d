"""
Tests for L{netlab._udpclient}: one request and one reply over UDP, with
bounded retransmission, over a fake reactor.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import DNSLookupError, MessageLengthError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from netlab._udpclient import DatagramRequest, requestDatagram
from netlab.errors import ConnectFailed, MalformedReply, NetlabError, RequestTimedOut
from tests.timestamp.test_client import _FakeUDPPort, _FakeUDPReactor

SERVER = ("192.0.2.1", 7000)
"""
The address the requests in these tests go to.
"""


def _accept(datagram: bytes) -> str:
    """
    Accept replies starting with C{b"ok "}, giving the rest as text.
    """
    if not datagram.startswith(b"ok "):
        raise MalformedReply("not ok", datagram)
    return datagram[3:].decode("ascii")


class DatagramRequestTests(SynchronousTestCase):
    """
    Tests for L{DatagramRequest} driven directly over a fake port.
    """

    def _request(
        self, tries: int = 3, interval: float = 2, accept: Any = _accept
    ) -> tuple[DatagramRequest[str], _FakeUDPPort, Clock]:
        clock = Clock()
        protocol: DatagramRequest[str] = DatagramRequest(
            b"ask", SERVER, accept, clock, tries, interval
        )
        port = _FakeUDPPort(clock, protocol, "0.0.0.0", 65536)
        protocol.makeConnection(port)
        return protocol, port, clock

    def _assertClosed(self, port: _FakeUDPPort, clock: Clock) -> None:
        self.assertFalse(port.listening)
        clock.advance(0)
        self.assertIsNone(port.protocol.transport)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_connectsAndSends(self) -> None:
        """
        Once started the protocol connects its socket to the peer and sends
        the request once, to the connected peer.
        """
        protocol, port, _ = self._request()
        self.assertEqual(port.connectedTo, SERVER)
        self.assertEqual(port.written, [(b"ask", None)])
        self.assertNoResult(protocol.deferred)

    def test_accepted(self) -> None:
        """
        A reply that C{accept} takes fires the Deferred with what C{accept}
        returned, closes the socket and leaves no timer.
        """
        protocol, port, clock = self._request()
        protocol.datagramReceived(b"ok fine", SERVER)
        self.assertEqual(self.successResultOf(protocol.deferred), "fine")
        self._assertClosed(port, clock)

    def test_rejected(self) -> None:
        """
        A reply that C{accept} rejects with L{MalformedReply} fails the
        Deferred with that very exception and closes the socket.
        """
        protocol, port, clock = self._request()
        protocol.datagramReceived(b"no", SERVER)
        failure = self.failureResultOf(protocol.deferred, MalformedReply)
        self.assertEqual(failure.value.reply, b"no")
        self._assertClosed(port, clock)

    def test_lateReplyIgnored(self) -> None:
        """
        A second reply after the first was accepted changes nothing.
        """
        protocol, _, _ = self._request()
        protocol.datagramReceived(b"ok first", SERVER)
        protocol.datagramReceived(b"ok second", SERVER)
        self.assertEqual(self.successResultOf(protocol.deferred), "first")

    def test_retransmits(self) -> None:
        """
        With no reply the request is sent every C{interval} seconds,
        C{tries} times in all, then fails with L{RequestTimedOut} naming the
        peer, the tries and the time.
        """
        protocol, port, clock = self._request(tries=4, interval=1.5)
        for sent in [1, 2, 3, 4]:
            self.assertEqual(port.sent(), [b"ask"] * sent)
            clock.advance(1.4)
            self.assertEqual(port.sent(), [b"ask"] * sent)
            self.assertNoResult(protocol.deferred)
            clock.advance(0.1)
        failure = self.failureResultOf(protocol.deferred, RequestTimedOut)
        self.assertIsInstance(failure.value, TimeoutError)
        self.assertEqual(
            str(failure.value),
            "no reply from 192.0.2.1:7000 over UDP after 4 tries in 6s",
        )
        self.assertEqual(port.sent(), [b"ask"] * 4)
        self._assertClosed(port, clock)

    def test_connectionRefused(self) -> None:
        """
        A port unreachable reported to the protocol fails with
        L{ConnectFailed} naming the peer, and closes the socket.
        """
        protocol, port, clock = self._request()
        protocol.connectionRefused()
        failure = self.failureResultOf(protocol.deferred, ConnectFailed)
        self.assertIn("192.0.2.1:7000", str(failure.value))
        self._assertClosed(port, clock)

    def test_socketLost(self) -> None:
        """
        The socket closed under the protocol (C{stopProtocol}) before any
        reply fails with L{ConnectFailed} and leaves no timer.
        """
        protocol, port, clock = self._request()
        port.lose()
        self.failureResultOf(protocol.deferred, ConnectFailed)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cannotSend(self) -> None:
        """
        A write that raises L{OSError} fails with L{ConnectFailed} and closes
        the socket, leaving no retransmission timer.
        """
        clock = Clock()
        protocol: DatagramRequest[str] = DatagramRequest(
            b"ask", SERVER, _accept, clock, 3, 1
        )
        port = _FakeUDPPort(
            clock, protocol, "0.0.0.0", 65536, failWrite=OSError("no route")
        )
        protocol.makeConnection(port)
        failure = self.failureResultOf(protocol.deferred, ConnectFailed)
        self.assertIn("no route", str(failure.value))
        self._assertClosed(port, clock)

    def test_cancel(self) -> None:
        """
        Cancelling the Deferred fails it with L{CancelledError}, closes the
        socket and stops retransmission.
        """
        protocol, port, clock = self._request()
        protocol.deferred.cancel()
        self.failureResultOf(protocol.deferred, CancelledError)
        self._assertClosed(port, clock)
        clock.advance(100)
        self.assertEqual(port.sent(), [b"ask"])


class RequestDatagramTests(SynchronousTestCase):
    """
    Tests for L{requestDatagram}.
    """

    def setUp(self) -> None:
        self.reactor = _FakeUDPReactor(
            {"v4.example": "192.0.2.9", "v6.example": "2001:db8::9"}
        )

    def _request(self, host: str = "192.0.2.1", **kwargs: Any) -> Deferred[str]:
        kwargs.setdefault("tries", 3)
        kwargs.setdefault("interval", 2)
        return requestDatagram(host, 7000, b"ask", _accept, self.reactor, **kwargs)

    def _assertClosed(self, port: _FakeUDPPort) -> None:
        self.assertFalse(port.listening)
        self.reactor.advance(0)
        self.assertIsNone(port.protocol.transport)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_accepted(self) -> None:
        """
        The request goes out once over an IPv4 socket from a port the
        system picks, large enough for any datagram; an accepted reply is
        the result and the socket is closed.
        """
        d = self._request()
        [port] = self.reactor.ports
        self.assertEqual(port.interface, "0.0.0.0")
        self.assertGreaterEqual(port.maxPacketSize, 65507)
        self.assertEqual(port.connectedTo, ("192.0.2.1", 7000))
        self.assertEqual(port.sent(), [b"ask"])
        port.protocol.datagramReceived(b"ok yes", ("192.0.2.1", 7000))
        self.assertEqual(self.successResultOf(d), "yes")
        self._assertClosed(port)

    def test_rejected(self) -> None:
        """
        A reply that C{accept} rejects fails with L{MalformedReply}.
        """
        d = self._request()
        [port] = self.reactor.ports
        port.protocol.datagramReceived(b"nope", ("192.0.2.1", 7000))
        self.failureResultOf(d, MalformedReply)
        self._assertClosed(port)

    def test_timesOut(self) -> None:
        """
        With no reply the request is sent C{tries} times, C{interval} apart,
        then fails with L{RequestTimedOut} after C{tries * interval}
        seconds.
        """
        d = self._request(tries=2, interval=0.5)
        [port] = self.reactor.ports
        self.reactor.advance(0.5)
        self.assertEqual(port.sent(), [b"ask", b"ask"])
        self.assertNoResult(d)
        self.reactor.advance(0.5)
        failure = self.failureResultOf(d, RequestTimedOut)
        self.assertIn("2 tries in 1s", str(failure.value))
        self._assertClosed(port)

    def test_replyAfterRetry(self) -> None:
        """
        A reply to the second send succeeds and stops retransmission.
        """
        d = self._request(tries=3, interval=2)
        [port] = self.reactor.ports
        self.reactor.advance(2)
        port.protocol.datagramReceived(b"ok late", ("192.0.2.1", 7000))
        self.assertEqual(self.successResultOf(d), "late")
        self._assertClosed(port)
        self.reactor.advance(10)
        self.assertEqual(port.sent(), [b"ask", b"ask"])

    def test_refused(self) -> None:
        """
        A port unreachable fails with L{ConnectFailed} and leaves no timer.
        """
        d = self._request()
        [port] = self.reactor.ports
        port.protocol.connectionRefused()
        self.failureResultOf(d, ConnectFailed)
        self._assertClosed(port)

    def test_socketLost(self) -> None:
        """
        The reactor closing the socket fails with L{ConnectFailed} and
        leaves no timer.
        """
        d = self._request()
        [port] = self.reactor.ports
        port.lose()
        self.failureResultOf(d, ConnectFailed)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_ipv6Literal(self) -> None:
        """
        An IPv6 literal is sent to, unresolved, over a socket bound to
        C{"::"}.
        """
        d = self._request(host="2001:db8::1")
        [port] = self.reactor.ports
        self.assertEqual(port.interface, "::")
        self.assertEqual(port.connectedTo, ("2001:db8::1", 7000))
        self.assertEqual(self.reactor.resolved, [])
        port.protocol.datagramReceived(b"ok six", ("2001:db8::1", 7000, 0, 0))
        self.assertEqual(self.successResultOf(d), "six")

    def test_hostName(self) -> None:
        """
        A host name is looked up with C{reactor.resolve} and the request
        sent to the address found.
        """
        d = self._request(host="v4.example")
        self.assertEqual(self.reactor.resolved, ["v4.example"])
        [port] = self.reactor.ports
        self.assertEqual(port.interface, "0.0.0.0")
        self.assertEqual(port.connectedTo, ("192.0.2.9", 7000))
        port.protocol.datagramReceived(b"ok named", ("192.0.2.9", 7000))
        self.assertEqual(self.successResultOf(d), "named")

    def test_hostNameIPv6(self) -> None:
        """
        A host name that resolves to an IPv6 address is sent to over a
        socket bound to C{"::"}.
        """
        self._request(host="v6.example")
        [port] = self.reactor.ports
        self.assertEqual(port.interface, "::")
        self.assertEqual(port.connectedTo, ("2001:db8::9", 7000))

    def test_noSuchHost(self) -> None:
        """
        A failed look-up fails with L{ConnectFailed}, chained to the
        L{DNSLookupError}, and opens no socket.
        """
        d = self._request(host="nowhere.example")
        failure = self.failureResultOf(d, ConnectFailed)
        self.assertIsInstance(failure.value, NetlabError)
        self.assertIn("nowhere.example", str(failure.value))
        self.assertIsInstance(failure.value.__cause__, DNSLookupError)
        self.assertEqual(self.reactor.ports, [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_cannotListen(self) -> None:
        """
        A socket that cannot be opened fails with L{ConnectFailed} and
        leaves no timer.
        """
        self.reactor.cannotListen = True
        failure = self.failureResultOf(self._request(), ConnectFailed)
        self.assertIn("UDP socket", str(failure.value))
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_cannotSend(self) -> None:
        """
        A write that raises (L{OSError}, or L{MessageLengthError} for a
        datagram too large) fails with L{ConnectFailed} and closes the
        socket.
        """
        for exception in [OSError("unreachable"), MessageLengthError("too long")]:
            self.reactor.failWrite = exception
            d = self._request()
            port = self.reactor.ports[-1]
            self.failureResultOf(d, ConnectFailed)
            self._assertClosed(port)

    def test_tooFewTries(self) -> None:
        """
        Fewer than one try raises L{ValueError} at once and opens no socket.
        """
        for tries in [0, -3]:
            self.assertRaises(ValueError, self._request, tries=tries)
        self.assertEqual(self.reactor.ports, [])

    def test_cancel(self) -> None:
        """
        Cancelling the call fails it with L{CancelledError}, closes the
        socket and leaves no timer.
        """
        d = self._request()
        [port] = self.reactor.ports
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self._assertClosed(port)
        self.reactor.advance(10)
        self.assertEqual(port.sent(), [b"ask"])

    def test_cancelWhileResolving(self) -> None:
        """
        Cancelling the call while the host name is being looked up fails it
        with L{CancelledError} and opens no socket.
        """
        pending: Deferred[str] = Deferred()
        self.patch(self.reactor, "resolve", lambda name: pending)
        d = self._request(host="slow.example")
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.reactor.ports, [])
