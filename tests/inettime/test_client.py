"""
Tests for L{netlab.inettime._client}: the daytime and time stream clients
against the real L{DaytimeFactory} and L{TimeFactory} in memory, and the
UDP clients against the real datagram protocols over a fake reactor.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport
from twisted.trial.unittest import SynchronousTestCase

from netlab.errors import (
    ConnectFailed,
    ConnectionClosed,
    MalformedReply,
    RequestTimedOut,
)
from netlab.inettime import (
    DaytimeDatagramProtocol,
    DaytimeFactory,
    DaytimeReply,
    TimeDatagramProtocol,
    TimeFactory,
    getDaytime,
    getDaytimeUDP,
    getTime,
    getTimeUDP,
    packTime,
)
from netlab.inettime._client import MAX_DAYTIME_REPLY
from netlab.testing import MemoryEndpoint
from netlab.timestamp import TimeFormat
from tests.timestamp.test_client import (
    _FakeUDPPort,
    _FakeUDPReactor,
    _HangingEndpoint,
    _RecordingFactory,
)

NOW = 1796218640
"""
The clock's time in these tests: 2026-12-02T13:37:20Z.
"""

NOW_UTC = datetime(2026, 12, 2, 13, 37, 20, tzinfo=timezone.utc)
"""
L{NOW} as an aware time.
"""

WRAP = 2085978496
"""
2036-02-07T06:28:16Z: where the RFC 868 count of seconds since 1900 wraps
to 0.
"""

CLIENT = ("192.0.2.1", 50000)
"""
Where the UDP requests of these tests come from, as the server sees it.
"""


def _clock(seconds: float = NOW) -> Clock:
    clock = Clock()
    clock.advance(seconds)
    return clock


class _Says(Protocol):
    """
    A server that sends some bytes on connecting and then, unless told to
    stay, closes the connection.
    """

    def __init__(self, reply: bytes, close: bool = True) -> None:
        self.reply = reply
        self.close = close

    def connectionMade(self) -> None:
        self.transport.write(self.reply)
        if self.close:
            self.transport.loseConnection()


def _saying(reply: bytes, close: bool = True) -> MemoryEndpoint:
    """
    An endpoint to a recorded server that sends C{reply}.
    """
    return MemoryEndpoint(
        _RecordingFactory(Factory.forProtocol(lambda: _Says(reply, close)))
    )


def _recorded(factory: Any) -> MemoryEndpoint:
    """
    An endpoint to the server C{factory} builds, recorded.
    """
    return MemoryEndpoint(_RecordingFactory(factory))


class GetDaytimeTests(SynchronousTestCase):
    """
    Tests for L{getDaytime} against the real server and stand-ins.
    """

    def _get(self, endpoint: MemoryEndpoint, clock: Clock) -> Deferred[DaytimeReply]:
        d = getDaytime(endpoint, timeout=5, clock=clock)
        endpoint.flush()
        return d

    def _fromServer(
        self, format: TimeFormat, clock: Clock | None = None
    ) -> DaytimeReply:
        clock = clock or _clock()
        endpoint = _recorded(DaytimeFactory(clock, format=format, utc=True))
        reply = self.successResultOf(self._get(endpoint, clock))
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(clock.getDelayedCalls(), [])
        return reply

    def test_iso(self) -> None:
        """
        The server's default, ISO 8601, gives its time with its zone known.
        """
        self.assertEqual(self._fromServer(TimeFormat.ISO), DaytimeReply(NOW_UTC, True))

    def test_isoDefault(self) -> None:
        """
        A server on its defaults (ISO 8601 in its local zone) gives the
        clock's time, whatever the zone.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(DaytimeFactory(clock))
        reply = self.successResultOf(self._get(endpoint, clock))
        self.assertTrue(reply.zoneKnown)
        self.assertEqual(reply.when, NOW_UTC)

    def test_isoOffset(self) -> None:
        """
        An ISO 8601 reply with an offset gives that offset.
        """
        clock = _clock()
        reply = self.successResultOf(
            self._get(_saying(b"2026-12-02T14:37:20+01:00\r\n"), clock)
        )
        self.assertEqual(reply, DaytimeReply(NOW_UTC, True))
        self.assertEqual(reply.when.utcoffset(), timedelta(hours=1))

    def test_ctime(self) -> None:
        """
        A ctime reply, which has no zone, is taken as UTC, and says so.
        """
        self.assertEqual(
            self._fromServer(TimeFormat.CTIME), DaytimeReply(NOW_UTC, False)
        )

    def test_unix(self) -> None:
        """
        A Unix seconds reply gives the clock's time, zone known.
        """
        reply = self._fromServer(TimeFormat.UNIX)
        self.assertEqual(reply.when, NOW_UTC)
        self.assertTrue(reply.zoneKnown)

    def test_fractionDropped(self) -> None:
        """
        A server clock between two seconds gives the earlier second.
        """
        self.assertEqual(
            self._fromServer(TimeFormat.ISO, _clock(NOW + 0.75)).when, NOW_UTC
        )

    def test_xinetd(self) -> None:
        """
        xinetd's built-in daytime reply is understood.
        """
        clock = _clock()
        reply = self.successResultOf(
            self._get(_saying(b"02 DEC 2026 13:37:20 UTC\r\n"), clock)
        )
        self.assertEqual(reply, DaytimeReply(NOW_UTC, True))

    def test_xinetdUnknownZone(self) -> None:
        """
        An xinetd reply in a zone whose name says no offset is taken as
        UTC, zone unknown.
        """
        clock = _clock()
        reply = self.successResultOf(
            self._get(_saying(b"02 DEC 2026 13:37:20 CET\r\n"), clock)
        )
        self.assertEqual(reply, DaytimeReply(NOW_UTC, False))

    def test_inPieces(self) -> None:
        """
        A reply that arrives in pieces is read whole.
        """
        clock = _clock()
        endpoint = _saying(b"", close=False)
        d = self._get(endpoint, clock)
        [server] = endpoint.servers
        for piece in [b"2026-12-02T", b"13:37:20Z", b"\r\n"]:
            server.transport.write(piece)
            endpoint.flush()
            self.assertNoResult(d)
        server.transport.loseConnection()
        endpoint.flush()
        self.assertEqual(self.successResultOf(d), DaytimeReply(NOW_UTC, True))

    def test_noLineEnding(self) -> None:
        """
        A reply without a line ending, ended by the close, is read.
        """
        clock = _clock()
        d = self._get(_saying(b"2026-12-02T13:37:20Z"), clock)
        self.assertEqual(self.successResultOf(d), DaytimeReply(NOW_UTC, True))

    def test_malformed(self) -> None:
        """
        A reply that is not a time in a format netlab reads fails with
        L{MalformedReply}, carrying the reply.
        """
        clock = _clock()
        for reply in [
            b"hello\r\n",
            b"2026-12-02 13:37:20\r\n",
            b"Thu Dec  2 13:37:20 2026\r\n",  # the wrong day of the week
            b"\xff\xfe\r\n",
            b"\r\n",
        ]:
            d = self._get(_saying(reply), clock)
            failure = self.failureResultOf(d, MalformedReply)
            self.assertEqual(failure.value.reply, reply)

    def test_tooLong(self) -> None:
        """
        A reply longer than L{MAX_DAYTIME_REPLY} bytes fails with
        L{MalformedReply} as soon as it is too long, without waiting for
        the server to close, and the connection is aborted.
        """
        clock = _clock()
        endpoint = _saying(b"2026-12-02T13:37:20Z" + b" " * 300, close=False)
        d = self._get(endpoint, clock)
        failure = self.failureResultOf(d, MalformedReply)
        self.assertIn(str(MAX_DAYTIME_REPLY), str(failure.value))
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_longestAccepted(self) -> None:
        """
        A reply of L{MAX_DAYTIME_REPLY} bytes is not refused for its length.
        """
        clock = _clock()
        reply = b"2026-12-02T13:37:20Z"
        d = self._get(_saying(reply + b"x" * (MAX_DAYTIME_REPLY - len(reply))), clock)
        failure = self.failureResultOf(d, MalformedReply)
        self.assertNotIn(str(MAX_DAYTIME_REPLY), str(failure.value))

    def test_closedWithNothing(self) -> None:
        """
        A server that closes the connection without a word makes the call
        fail with L{ConnectionClosed}.
        """
        clock = _clock()
        d = self._get(_saying(b""), clock)
        failure = self.failureResultOf(d, ConnectionClosed)
        self.assertIn("daytime server", str(failure.value))

    def test_refused(self) -> None:
        """
        With nothing listening, the call fails with L{ConnectFailed}.
        """
        clock = _clock()
        endpoint = _recorded(DaytimeFactory(clock))
        endpoint.refuse = True
        failure = self.failureResultOf(self._get(endpoint, clock), ConnectFailed)
        self.assertIn("daytime server", str(failure.value))

    def test_connectTimeout(self) -> None:
        """
        A connection not made within the timeout fails with
        L{RequestTimedOut}, and the attempt is cancelled.
        """
        clock = _clock()
        endpoint = _HangingEndpoint()
        d = getDaytime(endpoint, timeout=3, clock=clock)
        clock.advance(2.9)
        self.assertNoResult(d)
        clock.advance(0.1)
        self.failureResultOf(d, RequestTimedOut)
        self.assertTrue(endpoint.cancelled)

    def test_replyTimeout(self) -> None:
        """
        A server that never closes the connection makes the call fail with
        L{RequestTimedOut} after the timeout, and the connection is aborted.
        """
        clock = _clock()
        endpoint = _saying(b"2026-12-02T13:37:20Z\r\n", close=False)
        d = getDaytime(endpoint, timeout=3, clock=clock)
        endpoint.flush()
        clock.advance(2.9)
        self.assertNoResult(d)
        clock.advance(0.1)
        endpoint.flush()
        failure = self.failureResultOf(d, RequestTimedOut)
        self.assertIsInstance(failure.value, TimeoutError)
        self.assertIn("3s", str(failure.value))
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        """
        Cancelling the call while it waits aborts the connection.
        """
        clock = _clock()
        endpoint = _saying(b"", close=False)
        d = self._get(endpoint, clock)
        d.cancel()
        endpoint.flush()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_async(self) -> None:
        """
        L{getDaytime} can be awaited from a coroutine.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(DaytimeFactory(clock, utc=True))

        async def ask() -> datetime:
            return (await getDaytime(endpoint, clock=clock)).when

        d = Deferred.fromCoroutine(ask())
        endpoint.flush()
        self.assertEqual(self.successResultOf(d), NOW_UTC)


class GetTimeTests(SynchronousTestCase):
    """
    Tests for L{getTime} against the real server and stand-ins.
    """

    def _ask(self, server: float, client: float) -> float:
        """
        @return: what L{getTime} gives with the server's clock at C{server}
            and the client's at C{client}.
        """
        clientClock = _clock(client)
        endpoint = _recorded(TimeFactory(_clock(server)))
        d = getTime(endpoint, timeout=5, clock=clientClock)
        endpoint.flush()
        seconds = self.successResultOf(d)
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(clientClock.getDelayedCalls(), [])
        return seconds

    def test_now(self) -> None:
        """
        The server's time comes back in seconds since the POSIX epoch.
        """
        seconds = self._ask(NOW, NOW)
        self.assertIsInstance(seconds, float)
        self.assertEqual(seconds, NOW)

    def test_offset(self) -> None:
        """
        The server's clock is read, not the client's.
        """
        self.assertEqual(self._ask(NOW - 7, NOW), NOW - 7)
        self.assertEqual(self._ask(NOW + 3600, NOW), NOW + 3600)

    def test_fractionDropped(self) -> None:
        """
        A server clock between two seconds gives the earlier second.
        """
        self.assertEqual(self._ask(NOW + 0.75, NOW), NOW)

    def test_beforeWrap(self) -> None:
        """
        The last second before the RFC 868 count wraps is read right.
        """
        self.assertEqual(self._ask(WRAP - 1, WRAP - 1), WRAP - 1)

    def test_atWrap(self) -> None:
        """
        At 2036-02-07T06:28:16Z the server sends a count of 0, which the
        client reads as that time, not as 1900.
        """
        self.assertEqual(packTime(WRAP), b"\x00\x00\x00\x00")
        self.assertEqual(self._ask(WRAP, WRAP), WRAP)
        self.assertEqual(
            datetime.fromtimestamp(self._ask(WRAP, WRAP), timezone.utc),
            datetime(2036, 2, 7, 6, 28, 16, tzinfo=timezone.utc),
        )

    def test_acrossWrap(self) -> None:
        """
        A server just past the wrap, asked by a client just before it, and
        the other way around, are read in the right era.
        """
        self.assertEqual(self._ask(WRAP + 5, WRAP - 3), WRAP + 5)
        self.assertEqual(self._ask(WRAP - 5, WRAP + 3), WRAP - 5)

    def test_tooShort(self) -> None:
        """
        Fewer than 4 bytes fail with L{MalformedReply}.
        """
        clock = _clock()
        for reply in [b"\x00", b"\x00\x00\x00"]:
            endpoint = _saying(reply)
            d = getTime(endpoint, clock=clock)
            endpoint.flush()
            self.failureResultOf(d, MalformedReply)

    def test_tooLong(self) -> None:
        """
        More than 4 bytes fail with L{MalformedReply} at once, and the
        connection is aborted.
        """
        clock = _clock()
        endpoint = _saying(packTime(NOW) + b"\x00", close=False)
        d = getTime(endpoint, clock=clock)
        endpoint.flush()
        self.failureResultOf(d, MalformedReply)
        self.assertTrue(endpoint.servers[0].lost)

    def test_closedWithNothing(self) -> None:
        """
        A server that closes the connection without a word makes the call
        fail with L{ConnectionClosed}.
        """
        clock = _clock()
        endpoint = _saying(b"")
        d = getTime(endpoint, clock=clock)
        endpoint.flush()
        failure = self.failureResultOf(d, ConnectionClosed)
        self.assertIn("time server", str(failure.value))

    def test_refused(self) -> None:
        """
        With nothing listening, the call fails with L{ConnectFailed}.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(TimeFactory(clock))
        endpoint.refuse = True
        self.failureResultOf(getTime(endpoint, clock=clock), ConnectFailed)

    def test_connectTimeout(self) -> None:
        """
        A connection not made within the timeout fails with
        L{RequestTimedOut}.
        """
        clock = _clock()
        endpoint = _HangingEndpoint()
        d = getTime(endpoint, timeout=2, clock=clock)
        clock.advance(2)
        self.failureResultOf(d, RequestTimedOut)
        self.assertTrue(endpoint.cancelled)

    def test_replyTimeout(self) -> None:
        """
        A server that sends its 4 bytes but never closes makes the call fail
        with L{RequestTimedOut}.
        """
        clock = _clock()
        endpoint = _saying(packTime(NOW), close=False)
        d = getTime(endpoint, timeout=2, clock=clock)
        endpoint.flush()
        clock.advance(2)
        endpoint.flush()
        self.failureResultOf(d, RequestTimedOut)
        self.assertTrue(endpoint.servers[0].lost)


def _serverReply(protocol: Any, datagram: bytes = b"") -> bytes:
    """
    What a real datagram server protocol answers to C{datagram}.
    """
    protocol.makeConnection(FakeDatagramTransport())
    protocol.datagramReceived(datagram, CLIENT)
    [(reply, _)] = protocol.transport.written
    return bytes(reply)


class _UDPTests(SynchronousTestCase):
    """
    What the UDP client tests share: a fake reactor at L{NOW}.
    """

    def setUp(self) -> None:
        self.reactor = _FakeUDPReactor({"time.example": "192.0.2.9"})
        self.reactor.advance(NOW)

    def _assertClosed(self, port: _FakeUDPPort) -> None:
        self.assertFalse(port.listening)
        self.reactor.advance(0)
        self.assertEqual(self.reactor.getDelayedCalls(), [])


class GetDaytimeUDPTests(_UDPTests):
    """
    Tests for L{getDaytimeUDP}.
    """

    def _get(self, **kwargs: Any) -> Deferred[DaytimeReply]:
        kwargs.setdefault("tries", 3)
        kwargs.setdefault("interval", 2)
        return getDaytimeUDP("192.0.2.1", 21513, reactor=self.reactor, **kwargs)

    def test_reply(self) -> None:
        """
        An empty datagram is sent to the server, and the real server's
        reply, in each format, is parsed; the socket is then closed.
        """
        for format, zoneKnown in [
            (TimeFormat.ISO, True),
            (TimeFormat.CTIME, False),
            (TimeFormat.UNIX, True),
        ]:
            d = self._get()
            port = self.reactor.ports[-1]
            self.assertEqual(port.connectedTo, ("192.0.2.1", 21513))
            self.assertEqual(port.sent(), [b""])
            self.assertNoResult(d)
            server = DaytimeDatagramProtocol(self.reactor, format=format, utc=True)
            port.protocol.datagramReceived(_serverReply(server), ("192.0.2.1", 21513))
            self.assertEqual(self.successResultOf(d), DaytimeReply(NOW_UTC, zoneKnown))
            self._assertClosed(port)

    def test_hostName(self) -> None:
        """
        A host name is looked up first.
        """
        d = getDaytimeUDP("time.example", 21513, reactor=self.reactor)
        [port] = self.reactor.ports
        self.assertEqual(port.connectedTo, ("192.0.2.9", 21513))
        port.protocol.datagramReceived(b"2026-12-02T13:37:20Z\r\n", port.connectedTo)
        self.assertEqual(self.successResultOf(d), DaytimeReply(NOW_UTC, True))

    def test_xinetd(self) -> None:
        """
        xinetd's reply is understood over UDP too.
        """
        d = self._get()
        [port] = self.reactor.ports
        port.protocol.datagramReceived(
            b"02 DEC 2026 13:37:20 UTC\r\n", ("192.0.2.1", 21513)
        )
        self.assertEqual(self.successResultOf(d), DaytimeReply(NOW_UTC, True))

    def test_retransmits(self) -> None:
        """
        With no reply the request is sent C{tries} times, C{interval}
        seconds apart, then fails with L{RequestTimedOut}.
        """
        d = self._get(tries=2, interval=1.5)
        [port] = self.reactor.ports
        self.reactor.advance(1.5)
        self.assertEqual(port.sent(), [b"", b""])
        self.assertNoResult(d)
        self.reactor.advance(1.5)
        self.failureResultOf(d, RequestTimedOut)
        self._assertClosed(port)

    def test_malformed(self) -> None:
        """
        A reply that is not a time fails with L{MalformedReply}.
        """
        d = self._get()
        [port] = self.reactor.ports
        port.protocol.datagramReceived(b"hello\r\n", ("192.0.2.1", 21513))
        self.failureResultOf(d, MalformedReply)
        self._assertClosed(port)

    def test_tooLong(self) -> None:
        """
        A reply longer than L{MAX_DAYTIME_REPLY} bytes fails with
        L{MalformedReply}.
        """
        d = self._get()
        [port] = self.reactor.ports
        port.protocol.datagramReceived(
            b"2026-12-02T13:37:20Z" + b" " * MAX_DAYTIME_REPLY, ("192.0.2.1", 21513)
        )
        failure = self.failureResultOf(d, MalformedReply)
        self.assertIn(str(MAX_DAYTIME_REPLY), str(failure.value))

    def test_unreachable(self) -> None:
        """
        A port found unreachable fails with L{ConnectFailed}.
        """
        d = self._get()
        [port] = self.reactor.ports
        port.protocol.connectionRefused()
        self.failureResultOf(d, ConnectFailed)


class GetTimeUDPTests(_UDPTests):
    """
    Tests for L{getTimeUDP}.
    """

    def _get(self, **kwargs: Any) -> Deferred[float]:
        kwargs.setdefault("tries", 3)
        kwargs.setdefault("interval", 2)
        return getTimeUDP("192.0.2.1", 21537, reactor=self.reactor, **kwargs)

    def test_reply(self) -> None:
        """
        An empty datagram is sent, and the real server's reply is decoded;
        the socket is then closed.
        """
        d = self._get()
        [port] = self.reactor.ports
        self.assertEqual(port.connectedTo, ("192.0.2.1", 21537))
        self.assertEqual(port.sent(), [b""])
        server = TimeDatagramProtocol(_clock(NOW - 2))
        port.protocol.datagramReceived(_serverReply(server), ("192.0.2.1", 21537))
        self.assertEqual(self.successResultOf(d), NOW - 2)
        self._assertClosed(port)

    def test_acrossWrap(self) -> None:
        """
        The era is chosen by the reactor's clock: a server past the wrap is
        read right by a client just before it.
        """
        self.reactor.advance(WRAP - 3 - NOW)
        d = self._get()
        [port] = self.reactor.ports
        server = TimeDatagramProtocol(_clock(WRAP + 5))
        port.protocol.datagramReceived(_serverReply(server), ("192.0.2.1", 21537))
        self.assertEqual(self.successResultOf(d), WRAP + 5)

    def test_wrongLength(self) -> None:
        """
        A reply that is not 4 bytes fails with L{MalformedReply}.
        """
        for reply in [b"", b"\x00\x00\x00", packTime(NOW) + b"\n"]:
            d = self._get()
            port = self.reactor.ports[-1]
            port.protocol.datagramReceived(reply, ("192.0.2.1", 21537))
            self.failureResultOf(d, MalformedReply)
            self._assertClosed(port)

    def test_retransmits(self) -> None:
        """
        With no reply, the call fails with L{RequestTimedOut} after
        C{tries * interval} seconds.
        """
        d = self._get(tries=3, interval=1)
        [port] = self.reactor.ports
        self.reactor.advance(1)
        self.reactor.advance(1)
        self.assertNoResult(d)
        self.reactor.advance(1)
        self.failureResultOf(d, RequestTimedOut)
        self.assertEqual(port.sent(), [b"", b"", b""])
        self._assertClosed(port)
