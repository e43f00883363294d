"""
Tests for L{netlab.timestamp._client}: the stream client against the real
L{TimestampFactory} in memory, and the UDP client over a fake reactor.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from itertools import pairwise
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.error import (
    CannotListenError,
    ConnectionDone,
    ConnectionRefusedError,
    DNSLookupError,
    MessageLengthError,
)
from twisted.internet.interfaces import IProtocolFactory, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from netlab.errors import (
    ConnectFailed,
    ConnectionClosed,
    MalformedReply,
    NetlabError,
    RequestTimedOut,
    ServerError,
)
from netlab.testing import MemoryEndpoint
from netlab.timestamp import (
    Framing,
    TimeFormat,
    TimestampClient,
    TimestampDatagramProtocol,
    TimestampFactory,
    TimestampReply,
    connectTimestamp,
    getTimestamp,
    getTimestampUDP,
)

NOW = 1795391173
"""
The clock's time in these tests: Sun Nov 22 23:46:13 2026 UTC.
"""

NOW_UTC = datetime(2026, 11, 22, 23, 46, 13)
"""
L{NOW} as a naive UTC wall-clock time.
"""

STAMP = b"[Sun Nov 22 23:46:13 2026] "
"""
The ctime stamp of L{NOW} in UTC, as a server writes it.
"""


def _clock() -> Clock:
    clock = Clock()
    clock.advance(NOW)
    return clock


class _Recorder(ProtocolWrapper):
    """
    Wraps a server protocol, remembering each chunk it received and whether
    its connection was lost.
    """

    def __init__(self, factory: WrappingFactory, wrappedProtocol: Any) -> None:
        super().__init__(factory, wrappedProtocol)
        self.received: list[bytes] = []
        self.lost = False

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)
        super().dataReceived(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.lost = True
        super().connectionLost(reason)


class _RecordingFactory(WrappingFactory):
    protocol = _Recorder


class _Answer(Protocol):
    """
    A server that answers every chunk with the same bytes.
    """

    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(self.answer)


class _HangUp(Protocol):
    """
    A server that closes the connection when anything arrives.
    """

    def dataReceived(self, data: bytes) -> None:
        self.transport.loseConnection()


@implementer(IStreamClientEndpoint)
class _FailingEndpoint:
    """
    An endpoint whose connections fail with a given exception.
    """

    def __init__(self, exception: Exception) -> None:
        self.exception = exception

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        return fail(self.exception)


@implementer(IStreamClientEndpoint)
class _HangingEndpoint:
    """
    An endpoint whose connections never complete, until cancelled.
    """

    def __init__(self) -> None:
        self.cancelled = False

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        def cancel(d: Deferred[Any]) -> None:
            self.cancelled = True

        return Deferred(cancel)


def _endpoint(
    clock: Clock, framing: Framing = Framing.RAW, **kwargs: Any
) -> MemoryEndpoint:
    """
    An endpoint to a recorded, real timestamp server that stamps UTC.
    """
    return MemoryEndpoint(
        _RecordingFactory(TimestampFactory(clock, utc=True, framing=framing, **kwargs))
    )


class GetTimestampTests(SynchronousTestCase):
    """
    Tests for L{getTimestamp} against the real server.
    """

    def _get(
        self, data: bytes, framing: Framing, format: TimeFormat = TimeFormat.CTIME
    ) -> TimestampReply:
        clock = _clock()
        endpoint = _endpoint(clock, framing, format=format)
        d = getTimestamp(endpoint, data, framing, timeout=5, clock=clock)
        endpoint.flush()
        # A reply that never comes shows up as a timeout, not as a call left
        # hanging.
        clock.advance(5)
        endpoint.flush()
        return self.successResultOf(d)

    def test_ctimeRaw(self) -> None:
        """
        Over raw framing the reply carries the clock's time as a naive wall
        clock time, and the data sent.
        """
        self.assertEqual(
            self._get(b"hello", Framing.RAW),
            TimestampReply(NOW_UTC, b"hello", TimeFormat.CTIME),
        )

    def test_ctimeLine(self) -> None:
        """
        Over line framing the reply carries the clock's time as a naive wall
        clock time, and the data sent.
        """
        self.assertEqual(
            self._get(b"hello", Framing.LINE),
            TimestampReply(NOW_UTC, b"hello", TimeFormat.CTIME),
        )

    def test_localTime(self) -> None:
        """
        A server stamping local time gives the local wall-clock time of the
        clock, naive.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(TimestampFactory(clock))
        d = getTimestamp(endpoint, b"hi", clock=clock)
        endpoint.flush()
        reply = self.successResultOf(d)
        self.assertEqual(reply.when, datetime.fromtimestamp(NOW))
        self.assertIsNone(reply.when.tzinfo)

    def test_isoDetected(self) -> None:
        """
        A server stamping ISO 8601 gives an aware time and the ISO format,
        with no format given to the client.
        """
        for framing in Framing:
            reply = self._get(b"hi", framing, TimeFormat.ISO)
            self.assertEqual(
                reply,
                TimestampReply(
                    NOW_UTC.replace(tzinfo=timezone.utc), b"hi", TimeFormat.ISO
                ),
            )

    def test_unixDetected(self) -> None:
        """
        A server stamping Unix seconds gives an aware time and the Unix
        format, with no format given to the client.
        """
        for framing in Framing:
            reply = self._get(b"hi", framing, TimeFormat.UNIX)
            self.assertEqual(reply.format, TimeFormat.UNIX)
            self.assertEqual(reply.when.timestamp(), NOW)
            self.assertIsNotNone(reply.when.tzinfo)

    def test_fractionDropped(self) -> None:
        """
        A clock between two seconds gives the earlier second.
        """
        clock = _clock()
        clock.advance(0.75)
        endpoint = _endpoint(clock)
        d = getTimestamp(endpoint, b"hi", clock=clock)
        endpoint.flush()
        self.assertEqual(self.successResultOf(d).when, NOW_UTC)

    def test_notUTF8(self) -> None:
        """
        Bytes that are not UTF-8 come back unchanged, in both framings.
        """
        data = b"\xff\x00\xfe\x80 \xc3"
        for framing in Framing:
            self.assertEqual(self._get(data, framing).data, data)

    def test_bracketsInside(self) -> None:
        """
        Data with brackets and C{"] "} after its first byte comes back
        unchanged, in both framings.
        """
        data = b"a[b] c ] [Sun Nov 22 23:46:13 2026] d"
        for framing in Framing:
            self.assertEqual(self._get(data, framing).data, data)

    def test_rawStartsWithBracket(self) -> None:
        """
        Over raw framing, data starting with C{"["} (a JSON array, say) comes
        back unchanged.
        """
        self.assertEqual(self._get(b"[1, 2]", Framing.RAW).data, b"[1, 2]")

    def test_rawStartsWithBracketedWord(self) -> None:
        """
        Over raw framing, data starting with a bracketed word and C{"] "}
        comes back unchanged.
        """
        self.assertEqual(self._get(b"[hi] there", Framing.RAW).data, b"[hi] there")

    def test_lineStartsWithBracket(self) -> None:
        """
        Over line framing, data starting with C{"["} comes back unchanged.
        """
        for data in [b"[1, 2]", b"[hi] there"]:
            self.assertEqual(self._get(data, Framing.LINE).data, data)

    def test_disconnects(self) -> None:
        """
        The connection is closed once the reply has come.
        """
        clock = _clock()
        endpoint = _endpoint(clock)
        d = getTimestamp(endpoint, b"hi", clock=clock)
        endpoint.flush()
        self.successResultOf(d)
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_refused(self) -> None:
        """
        A refused connection fails with L{ConnectFailed}.
        """
        clock = _clock()
        endpoint = _endpoint(clock)
        endpoint.refuse = True
        d = getTimestamp(endpoint, b"hi", clock=clock)
        self.failureResultOf(d, ConnectFailed)

    def test_serverCloses(self) -> None:
        """
        A server that closes the connection before replying makes the call
        fail with L{ConnectionClosed}.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(Factory.forProtocol(_HangUp))
        d = getTimestamp(endpoint, b"hi", clock=clock)
        endpoint.flush()
        self.failureResultOf(d, ConnectionClosed)

    def test_connectTimeout(self) -> None:
        """
        A connection not made within the timeout fails with
        L{RequestTimedOut}.
        """
        clock = _clock()
        endpoint = _HangingEndpoint()
        d = getTimestamp(endpoint, b"hi", timeout=3, clock=clock)
        clock.advance(3)
        self.failureResultOf(d, RequestTimedOut)
        self.assertTrue(endpoint.cancelled)

    def test_replyTimeout(self) -> None:
        """
        A reply not received within the timeout fails with L{RequestTimedOut}.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(Factory.forProtocol(Protocol))
        d = getTimestamp(endpoint, b"hi", timeout=3, clock=clock)
        endpoint.flush()
        clock.advance(3)
        endpoint.flush()
        self.failureResultOf(d, RequestTimedOut)

    def test_async(self) -> None:
        """
        L{getTimestamp} can be awaited from a coroutine.
        """
        clock = _clock()
        endpoint = _endpoint(clock, Framing.LINE)

        async def stamp() -> tuple[datetime, bytes]:
            reply = await getTimestamp(endpoint, b"hi", Framing.LINE, clock=clock)
            return reply.when, reply.data

        d = Deferred.fromCoroutine(stamp())
        self.assertNoResult(d)
        endpoint.flush()
        self.assertEqual(self.successResultOf(d), (NOW_UTC, b"hi"))


class ConnectTimestampTests(SynchronousTestCase):
    """
    Tests for L{connectTimestamp} and the L{TimestampClient} it gives.
    """

    def _connect(
        self, endpoint: Any, framing: Framing, clock: Clock, timeout: float = 5
    ) -> TimestampClient:
        return self.successResultOf(
            connectTimestamp(endpoint, framing, timeout=timeout, clock=clock)
        )

    def test_connects(self) -> None:
        """
        L{connectTimestamp} fires with a L{TimestampClient} of the framing
        asked for, and leaves no connect timer behind.
        """
        clock = _clock()
        for framing in Framing:
            client = self._connect(_endpoint(clock, framing), framing, clock)
            self.assertIsInstance(client, TimestampClient)
            self.assertIs(client.framing, framing)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_severalRequests(self) -> None:
        """
        Several requests, one after the other, are answered on one
        connection in both framings.
        """
        for framing in Framing:
            clock = _clock()
            endpoint = _endpoint(clock, framing)
            client = self._connect(endpoint, framing, clock)
            for data in [b"one", b"two", b"three"]:
                d = client.request(data)
                endpoint.flush()
                self.assertEqual(self.successResultOf(d).data, data)
                clock.advance(1)
            self.assertEqual(len(endpoint.servers), 1)
            self.assertEqual(clock.getDelayedCalls(), [])

    def test_linePipelines(self) -> None:
        """
        With line framing every request is written before any reply comes,
        and the replies are matched to the requests in order.
        """
        clock = _clock()
        endpoint = _endpoint(clock, Framing.LINE)
        client = self._connect(endpoint, Framing.LINE, clock)
        ds = [client.request(data) for data in [b"one", b"two", b"three"]]
        for d in ds:
            self.assertNoResult(d)
        endpoint.flush()
        self.assertEqual(endpoint.servers[0].received, [b"one\ntwo\nthree\n"])
        self.assertEqual(
            [self.successResultOf(d).data for d in ds], [b"one", b"two", b"three"]
        )

    def test_rawOneAtATime(self) -> None:
        """
        With raw framing a request is not sent until the reply to the one
        before it has come, so the server gets them one by one.
        """
        clock = _clock()
        endpoint = _endpoint(clock, Framing.RAW)
        client = self._connect(endpoint, Framing.RAW, clock)
        ds = [client.request(data) for data in [b"one", b"two", b"three"]]
        endpoint.flush()
        self.assertEqual(endpoint.servers[0].received, [b"one", b"two", b"three"])
        self.assertEqual(
            [self.successResultOf(d).data for d in ds], [b"one", b"two", b"three"]
        )

    def test_rawSecondNotWritten(self) -> None:
        """
        With raw framing the second request is not written while the first
        one's reply is awaited.
        """
        client = TimestampClient(Framing.RAW, clock=_clock())
        transport = StringTransport()
        client.makeConnection(transport)
        first = client.request(b"one")
        second = client.request(b"two")
        self.assertEqual(transport.value(), b"one")
        client.dataReceived(STAMP + b"one")
        self.assertEqual(self.successResultOf(first).data, b"one")
        self.assertEqual(transport.value(), b"onetwo")
        self.assertNoResult(second)

    def test_serverErrorTooLong(self) -> None:
        """
        A line longer than the server accepts fails that request alone with
        L{ServerError}; the requests before and after it succeed.
        """
        clock = _clock()
        endpoint = _endpoint(clock, Framing.LINE, maxLineLength=5)
        client = self._connect(endpoint, Framing.LINE, clock)
        before = client.request(b"short")
        tooLong = client.request(b"much too long")
        after = client.request(b"ok")
        endpoint.flush()
        self.assertEqual(self.successResultOf(before).data, b"short")
        error = self.failureResultOf(tooLong, ServerError).value
        self.assertIn("longer than 5 bytes", error.message)
        self.assertEqual(self.successResultOf(after).data, b"ok")
        later = client.request(b"later")
        endpoint.flush()
        self.assertEqual(self.successResultOf(later).data, b"later")
        self.assertFalse(endpoint.servers[0].lost)

    def test_requestTimeout(self) -> None:
        """
        A request not answered within the timeout fails with
        L{RequestTimedOut}, which is also a L{TimeoutError}; the connection is
        then aborted and the other waiting requests fail with
        L{ConnectionClosed}.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(_RecordingFactory(Factory.forProtocol(Protocol)))
        client = self._connect(endpoint, Framing.LINE, clock, timeout=5)
        first = client.request(b"one")
        clock.advance(1)
        second = client.request(b"two")
        endpoint.flush()
        clock.advance(3.9)
        self.assertNoResult(first)
        clock.advance(0.1)
        failure = self.failureResultOf(first, RequestTimedOut)
        self.assertIsInstance(failure.value, TimeoutError)
        self.assertIn("5s", str(failure.value))
        endpoint.flush()
        self.failureResultOf(second, ConnectionClosed)
        self.assertTrue(endpoint.servers[0].lost)
        self.failureResultOf(client.request(b"three"), ConnectionClosed)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_rawTimeoutFailsUnsent(self) -> None:
        """
        With raw framing, requests not yet sent when one times out fail with
        L{ConnectionClosed}.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(Factory.forProtocol(Protocol))
        client = self._connect(endpoint, Framing.RAW, clock, timeout=5)
        first = client.request(b"one")
        clock.advance(1)
        second = client.request(b"two")
        clock.advance(4)
        self.failureResultOf(first, RequestTimedOut)
        endpoint.flush()
        self.failureResultOf(second, ConnectionClosed)

    def test_connectTimeout(self) -> None:
        """
        A connection not made within the timeout fails with
        L{RequestTimedOut}, and the connection attempt is cancelled.
        """
        clock = _clock()
        endpoint = _HangingEndpoint()
        d = connectTimestamp(endpoint, timeout=3, clock=clock)
        clock.advance(2.9)
        self.assertNoResult(d)
        clock.advance(0.1)
        failure = self.failureResultOf(d, RequestTimedOut)
        self.assertIsInstance(failure.value, TimeoutError)
        self.assertTrue(endpoint.cancelled)

    def test_refused(self) -> None:
        """
        A connection refused by L{MemoryEndpoint} fails with
        L{ConnectFailed}, chained to the refusal.
        """
        clock = _clock()
        endpoint = _endpoint(clock)
        endpoint.refuse = True
        failure = self.failureResultOf(
            connectTimestamp(endpoint, clock=clock), ConnectFailed
        )
        self.assertIsInstance(failure.value.__cause__, ConnectionRefusedError)
        self.assertIsInstance(failure.value, NetlabError)

    def test_connectErrors(self) -> None:
        """
        An endpoint failing with a refusal or a failed host name lookup
        fails with L{ConnectFailed}.
        """
        for exception in [ConnectionRefusedError(), DNSLookupError("nowhere")]:
            d = connectTimestamp(_FailingEndpoint(exception), clock=_clock())
            failure = self.failureResultOf(d, ConnectFailed)
            self.assertIs(failure.value.__cause__, exception)

    def test_serverCloses(self) -> None:
        """
        A server closing the connection before replying fails the request
        with L{ConnectionClosed}.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(Factory.forProtocol(_HangUp))
        client = self._connect(endpoint, Framing.LINE, clock)
        d = client.request(b"hi")
        endpoint.flush()
        failure = self.failureResultOf(d, ConnectionClosed)
        self.assertIn("server closed", str(failure.value))

    def test_requestAfterClose(self) -> None:
        """
        A request made once the connection is closed fails with
        L{ConnectionClosed}.
        """
        clock = _clock()
        endpoint = _endpoint(clock)
        client = self._connect(endpoint, Framing.RAW, clock)
        client.close()
        endpoint.flush()
        self.failureResultOf(client.request(b"hi"), ConnectionClosed)

    def test_close(self) -> None:
        """
        C{close} fires once the connection is closed, failing the requests
        still waiting with L{ConnectionClosed}.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(_RecordingFactory(Factory.forProtocol(Protocol)))
        client = self._connect(endpoint, Framing.LINE, clock)
        pending = client.request(b"hi")
        closed = client.close()
        again = client.close()
        self.assertNoResult(closed)
        endpoint.flush()
        self.assertIsNone(self.successResultOf(closed))
        self.assertIsNone(self.successResultOf(again))
        self.assertTrue(endpoint.servers[0].lost)
        self.failureResultOf(pending, ConnectionClosed)
        self.assertIsNone(self.successResultOf(client.close()))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_garbage(self) -> None:
        """
        A reply with no stamp fails with L{MalformedReply} and the
        connection is aborted.
        """
        for framing, answer in [
            (Framing.RAW, b"garbage that is not a stamp"),
            (Framing.LINE, b"garbage\n"),
        ]:
            clock = _clock()
            endpoint = MemoryEndpoint(
                _RecordingFactory(Factory.forProtocol(partial(_Answer, answer)))
            )
            client = self._connect(endpoint, framing, clock)
            d = client.request(b"hi")
            endpoint.flush()
            self.failureResultOf(d, MalformedReply)
            self.assertTrue(endpoint.servers[0].lost)
            self.failureResultOf(client.request(b"hi"), ConnectionClosed)

    def test_notEchoed(self) -> None:
        """
        A reply that does not echo the request fails with L{MalformedReply}
        and the connection is aborted.
        """
        for framing, answer in [
            (Framing.RAW, STAMP + b"other"),
            (Framing.LINE, STAMP + b"other\n"),
        ]:
            clock = _clock()
            endpoint = MemoryEndpoint(
                _RecordingFactory(Factory.forProtocol(partial(_Answer, answer)))
            )
            client = self._connect(endpoint, framing, clock)
            d = client.request(b"hi")
            endpoint.flush()
            failure = self.failureResultOf(d, MalformedReply)
            self.assertIn("does not echo", str(failure.value))
            self.assertTrue(endpoint.servers[0].lost)
            self.failureResultOf(client.request(b"hi"), ConnectionClosed)

    def test_malformedFailsOthers(self) -> None:
        """
        Once a malformed reply has aborted the connection, the other waiting
        requests fail with L{ConnectionClosed}.
        """
        for framing in Framing:
            client = TimestampClient(framing, clock=_clock())
            transport = StringTransport()
            client.makeConnection(transport)
            first = client.request(b"one")
            second = client.request(b"two")
            client.dataReceived(b"garbage\n")
            self.failureResultOf(first, MalformedReply)
            self.assertTrue(transport.disconnecting)
            client.connectionLost(Failure(ConnectionDone()))
            failure = self.failureResultOf(second, ConnectionClosed)
            self.assertIn("malformed", str(failure.value))

    def test_lineFeedInLine(self) -> None:
        """
        A line-framed request containing a line feed raises L{ValueError} and
        sends nothing.
        """
        client = TimestampClient(Framing.LINE, clock=_clock())
        transport = StringTransport()
        client.makeConnection(transport)
        self.assertRaises(ValueError, client.request, b"a\nb")
        self.assertEqual(transport.value(), b"")

    def test_emptyRaw(self) -> None:
        """
        An empty raw request raises L{ValueError} and sends nothing.
        """
        client = TimestampClient(Framing.RAW, clock=_clock())
        transport = StringTransport()
        client.makeConnection(transport)
        self.assertRaises(ValueError, client.request, b"")
        self.assertEqual(transport.value(), b"")

    def test_cancel(self) -> None:
        """
        Cancelling a request fails it with L{CancelledError} and closes the
        connection, failing the other waiting requests with
        L{ConnectionClosed}.
        """
        clock = _clock()
        endpoint = MemoryEndpoint(_RecordingFactory(Factory.forProtocol(Protocol)))
        client = self._connect(endpoint, Framing.LINE, clock)
        first = client.request(b"one")
        second = client.request(b"two")
        first.cancel()
        self.failureResultOf(first, CancelledError)
        endpoint.flush()
        self.assertTrue(endpoint.servers[0].lost)
        self.failureResultOf(second, ConnectionClosed)
        self.assertEqual(clock.getDelayedCalls(), [])


class RawReplyTests(SynchronousTestCase):
    """
    Tests for how L{TimestampClient} puts together raw-framed replies.
    """

    def _client(self) -> tuple[TimestampClient, StringTransport]:
        client = TimestampClient(Framing.RAW, timeout=5, clock=_clock())
        transport = StringTransport()
        client.makeConnection(transport)
        return client, transport

    def test_pieces(self) -> None:
        """
        A reply the server stamped in several pieces is joined into one
        reply with the first piece's time.
        """
        client, _ = self._client()
        d = client.request(b"hello")
        client.dataReceived(STAMP + b"hel")
        self.assertNoResult(d)
        client.dataReceived(b"[Sun Nov 22 23:46:14 2026] lo")
        self.assertEqual(
            self.successResultOf(d),
            TimestampReply(NOW_UTC, b"hello", TimeFormat.CTIME),
        )

    def test_piecesInOneChunk(self) -> None:
        """
        Several stamped pieces arriving together are joined into one reply.
        """
        client, _ = self._client()
        d = client.request(b"hello")
        client.dataReceived(STAMP + b"he" + STAMP + b"l" + STAMP + b"lo")
        self.assertEqual(self.successResultOf(d).data, b"hello")

    def test_byteByByte(self) -> None:
        """
        A reply delivered one byte at a time is parsed once it is complete.
        """
        client, _ = self._client()
        d = client.request(b"hello")
        reply = STAMP + b"hello"
        for i in range(len(reply) - 1):
            client.dataReceived(reply[i : i + 1])
            self.assertNoResult(d)
        client.dataReceived(reply[-1:])
        self.assertEqual(self.successResultOf(d).data, b"hello")

    def test_pieceStartingWithBracket(self) -> None:
        """
        A piece whose data starts with C{"["} is joined like any other.
        """
        client, _ = self._client()
        d = client.request(b"a[b")
        client.dataReceived(STAMP + b"a")
        client.dataReceived(STAMP + b"[b")
        self.assertEqual(self.successResultOf(d).data, b"a[b")

    def test_nextRequestSent(self) -> None:
        """
        Once a reply is complete the next request is written.
        """
        client, transport = self._client()
        first = client.request(b"ab")
        second = client.request(b"cd")
        client.dataReceived(STAMP + b"a")
        self.assertEqual(transport.value(), b"ab")
        client.dataReceived(STAMP + b"b")
        self.assertEqual(transport.value(), b"abcd")
        client.dataReceived(STAMP + b"cd")
        self.assertEqual(self.successResultOf(first).data, b"ab")
        self.assertEqual(self.successResultOf(second).data, b"cd")

    def test_noStamp(self) -> None:
        """
        A long reply with no C{"] "} near its start fails with
        L{MalformedReply} and aborts the connection.
        """
        client, transport = self._client()
        d = client.request(b"hi")
        client.dataReceived(b"[" + b"x" * 100)
        self.failureResultOf(d, MalformedReply)
        self.assertTrue(transport.disconnecting)

    @given(
        data=st.binary(min_size=1, max_size=40).filter(lambda b: b"[" not in b),
        cuts=st.lists(st.integers(min_value=1, max_value=39), max_size=5),
        chunk=st.integers(min_value=1, max_value=50),
    )
    def test_anyPieces(self, data: bytes, cuts: list[int], chunk: int) -> None:
        """
        However the server split the data into stamped pieces, and however
        the network split the reply, the client joins it back.
        """
        client, _ = self._client()
        d = client.request(data)
        points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
        reply = b"".join(STAMP + data[a:b] for a, b in pairwise(points))
        for i in range(0, len(reply), chunk):
            client.dataReceived(reply[i : i + chunk])
        self.assertEqual(self.successResultOf(d).data, data)


_TRICKY = st.sampled_from(
    [b"[", b"]", b" ", b"S", b"1", b"9", b"a", b"\n", STAMP, b"[Sun", b"] ", b"[0] "]
)
"""
Pieces of data that look like stamps, or like parts of them.
"""


def _stampedByServer(pieces: list[bytes], steps: list[int]) -> tuple[bytes, datetime]:
    """
    Have a real raw timestamp server stamp each piece as a chunk it read,
    its clock moving on by the given seconds before each.

    @return: everything the server wrote, and the time of its first stamp.
    """
    clock = _clock()
    server = TimestampFactory(clock, utc=True, framing=Framing.RAW).buildProtocol(None)
    transport = StringTransport()
    server.makeConnection(transport)
    first = None
    for piece, step in zip(pieces, steps, strict=False):
        clock.advance(step)
        if first is None:
            first = datetime.fromtimestamp(clock.seconds(), timezone.utc)
        server.dataReceived(piece)
    assert first is not None
    return transport.value(), first.replace(tzinfo=None)


def _outcomes(d: Deferred[Any]) -> list[object]:
    """
    @return: a list that gets C{d}'s result, or its L{Failure} (which is
        then handled, so that a failed assertion leaves no unhandled error
        to spoil later tests).
    """
    outcomes: list[object] = []
    d.addBoth(outcomes.append)
    return outcomes


class RawLookalikeTests(SynchronousTestCase):
    """
    Tests for how L{TimestampClient} matches raw-framed replies whose data
    holds C{"["} or even text that is a stamp.
    """

    def _client(self) -> tuple[TimestampClient, StringTransport, Clock]:
        clock = _clock()
        client = TimestampClient(Framing.RAW, timeout=5, clock=clock)
        transport = StringTransport()
        client.makeConnection(transport)
        return client, transport, clock

    @given(
        data=st.lists(_TRICKY, min_size=1, max_size=12).map(b"".join),
        cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=8),
        steps=st.lists(st.integers(min_value=0, max_value=100000), min_size=13),
        chunk=st.integers(min_value=1, max_value=80),
    )
    @example(data=b"[[", cuts=[1], steps=[0] * 13, chunk=80)
    @example(data=b"a" + STAMP + b"b", cuts=[1, 28], steps=[1] * 13, chunk=3)
    def test_lookalikesJoined(
        self, data: bytes, cuts: list[int], steps: list[int], chunk: int
    ) -> None:
        """
        However the server split data full of C{"["}, C{"]"} and stamp text
        into stamped pieces, and however the network split the reply, the
        request fires with exactly the data sent and the first stamp's time,
        and the next request is then sent.  (A reply that could also go on
        with a stamp, data ending in C{"["}, is taken as it is after a
        moment's wait for the rest of that stamp.)
        """
        client, transport, clock = self._client()
        replies = _outcomes(client.request(data))
        nextReplies = _outcomes(client.request(b"next"))
        points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
        pieces = [data[a:b] for a, b in pairwise(points)]
        reply, first = _stampedByServer(pieces, steps)
        for i in range(0, len(reply), chunk):
            client.dataReceived(reply[i : i + chunk])
        clock.advance(0.1)
        self.assertEqual(replies, [TimestampReply(first, data, TimeFormat.CTIME)])
        self.assertEqual(transport.value(), data + b"next")
        # All of the reply, and nothing more, was taken as the reply.
        self.assertEqual(nextReplies, [], f"after {reply!r}")
        self.assertFalse(transport.disconnecting)
        client.dataReceived(STAMP + b"next")
        self.assertEqual(
            nextReplies, [TimestampReply(NOW_UTC, b"next", TimeFormat.CTIME)]
        )

    def test_stampTextInData(self) -> None:
        """
        Data holding a whole stamp, split by the server right before it, is
        joined back with that text as data.
        """
        client, _, _ = self._client()
        data = b"x" + STAMP + b"y"
        d = client.request(data)
        client.dataReceived(STAMP + b"x")
        client.dataReceived(b"[Sun Nov 22 23:46:14 2026] " + STAMP + b"y")
        self.assertEqual(self.successResultOf(d).data, data)

    def test_bracketEndsPiece(self) -> None:
        """
        Data whose last piece, as the server split it, is C{"["} (the first
        byte of a stamp too) is joined from the whole reply, arriving at
        once, and leaves nothing behind to spoil the next reply.
        """
        client, transport, clock = self._client()
        replies = _outcomes(client.request(b"a["))
        nextReplies = _outcomes(client.request(b"next"))
        client.dataReceived(STAMP + b"a" + STAMP + b"[")
        clock.advance(0.1)
        self.assertEqual(replies, [TimestampReply(NOW_UTC, b"a[", TimeFormat.CTIME)])
        self.assertEqual(nextReplies, [])
        self.assertFalse(transport.disconnecting)
        client.dataReceived(STAMP + b"next")
        self.assertEqual(
            nextReplies, [TimestampReply(NOW_UTC, b"next", TimeFormat.CTIME)]
        )

    def test_notEchoedLookalike(self) -> None:
        """
        A reply that does not echo the request fails with
        L{MalformedReply}, even when both hold C{"["} and stamp text, and
        the connection is aborted.
        """
        for data, reply in [
            (b"a[b", STAMP + b"a]b"),
            (b"a[b", STAMP + b"a[c" + b"c" * 64),
            (b"a[b", STAMP + b"a" + STAMP + b"[c"),
            (b"x" + STAMP + b"y", STAMP + b"x" + STAMP + b"z"),
            (b"x" + STAMP + b"y", STAMP + b"x" + STAMP + STAMP + b"z"),
            (STAMP, STAMP + b"!" + STAMP[1:]),
        ]:
            client, transport, _ = self._client()
            d = client.request(data)
            client.dataReceived(reply)
            failure = self.failureResultOf(d, MalformedReply)
            self.assertIn("does not echo", str(failure.value))
            self.assertTrue(transport.disconnecting, (data, reply))

    def test_rawTimeoutFromSent(self) -> None:
        """
        A raw request queued behind another gets its whole timeout counted
        from when it is sent, not from when it was made.
        """
        client, transport, clock = self._client()
        first = client.request(b"one")
        second = client.request(b"two")
        clock.advance(4)
        client.dataReceived(STAMP + b"one")
        self.assertEqual(self.successResultOf(first).data, b"one")
        self.assertEqual(transport.value(), b"onetwo")
        clock.advance(4)
        self.assertNoResult(second)
        self.assertFalse(transport.disconnecting)
        clock.advance(1)
        self.failureResultOf(second, RequestTimedOut)

    def test_rawTimeoutSeenByEarlyErrback(self) -> None:
        """
        An errback added to a raw request while it waits behind another, so
        before it is sent, sees L{RequestTimedOut}, as one added later does.
        """
        client, _, clock = self._client()
        client.request(b"one")
        second = client.request(b"two")
        seen: list[type[BaseException] | None] = []

        def record(failure: Failure) -> Failure:
            seen.append(failure.type)
            return failure

        second.addErrback(record)
        client.dataReceived(STAMP + b"one")
        clock.advance(5)
        self.failureResultOf(second, RequestTimedOut)
        self.assertEqual(seen, [RequestTimedOut])

    def test_cancelQueuedRaw(self) -> None:
        """
        Cancelling a raw request still waiting behind another fails it with
        L{CancelledError} and aborts the connection; it is never sent.
        """
        client, transport, clock = self._client()
        first = client.request(b"one")
        second = client.request(b"two")
        second.cancel()
        self.failureResultOf(second, CancelledError)
        self.assertTrue(transport.disconnecting)
        client.connectionLost(Failure(ConnectionDone()))
        failure = self.failureResultOf(first, ConnectionClosed)
        self.assertIn("timed out", str(failure.value))
        self.assertEqual(transport.value(), b"one")
        self.assertEqual(clock.getDelayedCalls(), [])


class _FakeUDPPort(FakeDatagramTransport):
    """
    A UDP port as L{_FakeUDPReactor.listenUDP} makes: remembers what is
    sent, where it is connected and whether it was closed.
    """

    def __init__(
        self,
        reactor: Clock,
        protocol: Any,
        interface: str,
        maxPacketSize: int,
        failWrite: Exception | None = None,
    ) -> None:
        super().__init__()
        self.reactor = reactor
        self.protocol = protocol
        self.interface = interface
        self.maxPacketSize = maxPacketSize
        self.connectedTo: tuple[str, int] | None = None
        self.listening = True
        self.failWrite = failWrite

    def connect(self, host: str, port: int) -> None:
        self.connectedTo = (host, port)

    def write(self, packet: bytes, addr: Any = None) -> None:
        assert self.listening, "write on a closed port"
        if self.failWrite is not None:
            raise self.failWrite
        self.written.append((packet, addr))

    def stopListening(self) -> None:
        """
        Stop listening: like Twisted's UDP port, the protocol is told in the
        next reactor iteration.
        """
        if self.listening:
            self.listening = False
            self.reactor.callLater(0, self.protocol.doStop)

    def lose(self) -> None:
        """
        Close the port as the reactor does after an error it cannot read
        past (an ICMP port unreachable on a connected socket).
        """
        assert self.listening
        self.listening = False
        self.protocol.doStop()

    def sent(self) -> list[bytes]:
        return [packet for packet, addr in self.written]


class _FakeUDPReactor(Clock):
    """
    A clock that also listens on UDP and resolves host names, in memory.
    """

    def __init__(self, addresses: dict[str, str] | None = None) -> None:
        super().__init__()
        self.ports: list[_FakeUDPPort] = []
        self.addresses = addresses or {}
        self.resolved: list[str] = []
        self.cannotListen = False
        self.failWrite: Exception | None = None

    def listenUDP(
        self,
        port: int,
        protocol: Any,
        interface: str = "",
        maxPacketSize: int = 8192,
    ) -> _FakeUDPPort:
        if self.cannotListen:
            raise CannotListenError(interface, port, OSError("no sockets left"))
        udpPort = _FakeUDPPort(self, protocol, interface, maxPacketSize, self.failWrite)
        self.ports.append(udpPort)
        protocol.makeConnection(udpPort)
        return udpPort

    def resolve(self, name: str, timeout: Any = (1, 3, 11, 45)) -> Deferred[str]:
        self.resolved.append(name)
        if name in self.addresses:
            return succeed(self.addresses[name])
        return fail(DNSLookupError(name))


def _serverReply(clock: Clock, data: bytes) -> bytes:
    """
    What the real UDP server answers to C{data}.
    """
    server = TimestampDatagramProtocol(clock, utc=True)
    server.makeConnection(FakeDatagramTransport())
    server.datagramReceived(data, ("192.0.2.1", 50000))
    [(reply, _)] = server.transport.written
    return reply


class GetTimestampUDPTests(SynchronousTestCase):
    """
    Tests for L{getTimestampUDP}.
    """

    def setUp(self) -> None:
        self.reactor = _FakeUDPReactor({"ts.example": "192.0.2.9"})
        self.reactor.advance(NOW)

    def _get(
        self, host: str = "192.0.2.1", data: bytes = b"hi", **kwargs: Any
    ) -> Deferred[TimestampReply]:
        kwargs.setdefault("tries", 3)
        kwargs.setdefault("interval", 2)
        return getTimestampUDP(host, 21567, data, reactor=self.reactor, **kwargs)

    def _assertClosed(self, port: _FakeUDPPort) -> None:
        self.assertFalse(port.listening)
        self.reactor.advance(0)
        self.assertIsNone(port.protocol.transport)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_reply(self) -> None:
        """
        The request is sent once to the server and the real server's reply
        is parsed and returned; the socket is then closed.
        """
        d = self._get(data=b"hello \xff")
        [port] = self.reactor.ports
        self.assertEqual(port.connectedTo, ("192.0.2.1", 21567))
        self.assertEqual(port.interface, "0.0.0.0")
        self.assertGreaterEqual(port.maxPacketSize, 65507)
        self.assertEqual(port.sent(), [b"hello \xff"])
        self.assertNoResult(d)
        port.protocol.datagramReceived(
            _serverReply(self.reactor, b"hello \xff"), ("192.0.2.1", 21567)
        )
        self.assertEqual(
            self.successResultOf(d),
            TimestampReply(NOW_UTC, b"hello \xff", TimeFormat.CTIME),
        )
        self._assertClosed(port)

    def test_retransmits(self) -> None:
        """
        With no reply the request is sent again every C{interval} seconds,
        C{tries} times in all, then fails with L{RequestTimedOut} giving the
        tries and the time; the socket is closed and no timer is left.
        """
        d = self._get(tries=3, interval=2)
        [port] = self.reactor.ports
        self.assertEqual(port.sent(), [b"hi"])
        self.reactor.advance(1.9)
        self.assertEqual(port.sent(), [b"hi"])
        self.reactor.advance(0.1)
        self.assertEqual(port.sent(), [b"hi", b"hi"])
        self.reactor.advance(2)
        self.assertEqual(port.sent(), [b"hi", b"hi", b"hi"])
        self.assertNoResult(d)
        self.reactor.advance(2)
        failure = self.failureResultOf(d, RequestTimedOut)
        self.assertIsInstance(failure.value, TimeoutError)
        self.assertIn("3 tries", str(failure.value))
        self.assertIn("6s", str(failure.value))
        self.assertEqual(port.sent(), [b"hi", b"hi", b"hi"])
        self._assertClosed(port)

    def test_oneTry(self) -> None:
        """
        With one try the request is sent once and fails after C{interval}.
        """
        d = self._get(tries=1, interval=0.5)
        [port] = self.reactor.ports
        self.reactor.advance(0.5)
        self.failureResultOf(d, RequestTimedOut)
        self.assertEqual(port.sent(), [b"hi"])
        self._assertClosed(port)

    def test_replyAfterRetry(self) -> None:
        """
        A reply after the second send succeeds and stops retransmission.
        """
        d = self._get(tries=3, interval=2)
        [port] = self.reactor.ports
        self.reactor.advance(2)
        self.assertEqual(len(port.sent()), 2)
        port.protocol.datagramReceived(STAMP + b"hi", ("192.0.2.1", 21567))
        self.assertEqual(self.successResultOf(d).data, b"hi")
        self._assertClosed(port)
        self.reactor.advance(10)
        self.assertEqual(len(port.sent()), 2)

    def test_notEchoed(self) -> None:
        """
        A reply that does not echo the request fails with
        L{MalformedReply}.
        """
        d = self._get()
        [port] = self.reactor.ports
        port.protocol.datagramReceived(STAMP + b"other", ("192.0.2.1", 21567))
        self.failureResultOf(d, MalformedReply)
        self._assertClosed(port)

    def test_garbage(self) -> None:
        """
        A reply that is not stamped fails with L{MalformedReply}.
        """
        d = self._get()
        [port] = self.reactor.ports
        port.protocol.datagramReceived(b"garbage", ("192.0.2.1", 21567))
        self.failureResultOf(d, MalformedReply)
        self._assertClosed(port)

    def test_refused(self) -> None:
        """
        A port unreachable reported to the protocol fails with
        L{ConnectFailed}.
        """
        d = self._get()
        [port] = self.reactor.ports
        port.protocol.connectionRefused()
        self.failureResultOf(d, ConnectFailed)
        self._assertClosed(port)

    def test_socketClosed(self) -> None:
        """
        The socket closed by the reactor before an answer fails with
        L{ConnectFailed} and leaves no timer.
        """
        d = self._get()
        [port] = self.reactor.ports
        port.lose()
        self.failureResultOf(d, ConnectFailed)
        self._assertClosed(port)

    def test_ipv6(self) -> None:
        """
        An IPv6 literal host is sent to over a socket bound to C{"::"}.
        """
        d = self._get(host="::1")
        [port] = self.reactor.ports
        self.assertEqual(port.interface, "::")
        self.assertEqual(port.connectedTo, ("::1", 21567))
        port.protocol.datagramReceived(STAMP + b"hi", ("::1", 21567, 0, 0))
        self.assertEqual(self.successResultOf(d).data, b"hi")
        self.assertEqual(self.reactor.resolved, [])

    def test_hostName(self) -> None:
        """
        A host name is looked up with the reactor's resolver and the request
        sent to the address found.
        """
        d = self._get(host="ts.example")
        self.assertEqual(self.reactor.resolved, ["ts.example"])
        [port] = self.reactor.ports
        self.assertEqual(port.connectedTo, ("192.0.2.9", 21567))
        port.protocol.datagramReceived(STAMP + b"hi", ("192.0.2.9", 21567))
        self.assertEqual(self.successResultOf(d).data, b"hi")

    def test_noSuchHost(self) -> None:
        """
        A host name that cannot be looked up fails with L{ConnectFailed} and
        opens no socket.
        """
        d = self._get(host="nowhere.example")
        failure = self.failureResultOf(d, ConnectFailed)
        self.assertIn("nowhere.example", str(failure.value))
        self.assertIsInstance(failure.value.__cause__, DNSLookupError)
        self.assertEqual(self.reactor.ports, [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_cannotListen(self) -> None:
        """
        A socket that cannot be opened fails with L{ConnectFailed}.
        """
        self.reactor.cannotListen = True
        self.failureResultOf(self._get(), ConnectFailed)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_cannotSend(self) -> None:
        """
        A request the socket cannot send fails with L{ConnectFailed} and the
        socket is closed.
        """
        self.reactor.failWrite = MessageLengthError("too long")
        d = self._get()
        [port] = self.reactor.ports
        self.failureResultOf(d, ConnectFailed)
        self._assertClosed(port)

    def test_tooFewTries(self) -> None:
        """
        Fewer than one try raises L{ValueError} and sends nothing.
        """
        for tries in [0, -1]:
            self.assertRaises(ValueError, self._get, tries=tries)
        self.assertEqual(self.reactor.ports, [])

    def test_cancel(self) -> None:
        """
        Cancelling the call fails it with L{CancelledError}, closes the
        socket and stops retransmission.
        """
        d = self._get()
        [port] = self.reactor.ports
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self._assertClosed(port)
        self.reactor.advance(10)
        self.assertEqual(port.sent(), [b"hi"])


class RawSettleTests(SynchronousTestCase):
    """
    A raw reply that is complete as it stands but could also go on with a
    stamp (data ending in C{"["}) is taken after a short wait, unless the
    rest of the stamp arrives first.
    """

    def _client(self) -> tuple[TimestampClient, Clock]:
        clock = _clock()
        client = TimestampClient(Framing.RAW, timeout=5, clock=clock)
        client.makeConnection(StringTransport())
        return client, clock

    def test_takenAfterAMoment(self) -> None:
        """
        Data C{"a["} sent back in one piece fires once the short wait is
        over, not before.
        """
        client, clock = self._client()
        d = client.request(b"a[")
        client.dataReceived(STAMP + b"a[")
        self.assertNoResult(d)
        clock.advance(0.1)
        self.assertEqual(self.successResultOf(d).data, b"a[")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_stampArrivesInTime(self) -> None:
        """
        When the rest of the stamp arrives during the wait, the reply is
        read with it: the C{"["} began a stamp.
        """
        client, clock = self._client()
        d = client.request(b"a[")
        client.dataReceived(STAMP + b"a[")
        client.dataReceived(STAMP[1:] + b"[")
        clock.advance(0.1)
        self.assertEqual(self.successResultOf(d).data, b"a[")
        self.assertEqual(clock.getDelayedCalls(), [])


class ReplyBoundTests(SynchronousTestCase):
    """
    A server cannot make a line-framed client hold an unbounded reply: one
    far longer than the request fails it with L{MalformedReply} and closes
    the connection.
    """

    def _client(self, framing: Framing) -> tuple[TimestampClient, StringTransport]:
        client = TimestampClient(framing, timeout=5, clock=_clock())
        transport = StringTransport()
        client.makeConnection(transport)
        return client, transport

    def test_lineReplyBounded(self) -> None:
        """
        With line framing, a reply with no line ending that grows far past
        the longest request waiting is refused.
        """
        client, transport = self._client(Framing.LINE)
        d = client.request(b"hi")
        client.dataReceived(STAMP + b"h" * 4096)
        self.assertNoResult(d)
        client.dataReceived(b"h" * 8192)
        self.failureResultOf(d, MalformedReply)
        self.assertTrue(transport.disconnecting)

    def test_wholeLineReplyBounded(self) -> None:
        """
        With line framing, a whole reply line far longer than the longest
        request waiting is refused the same way, arriving in one piece; the
        replies before it are read.
        """
        client, transport = self._client(Framing.LINE)
        before = client.request(b"hi")
        d = client.request(b"hi")
        client.dataReceived(STAMP + b"hi\n" + STAMP + b"h" * 9000 + b"\n")
        self.assertEqual(self.successResultOf(before).data, b"hi")
        failure = self.failureResultOf(d, MalformedReply)
        self.assertIn("far longer", str(failure.value))
        self.assertTrue(transport.disconnecting)

    def test_lineReplyWithinBound(self) -> None:
        """
        With line framing, a reply line as long as the longest request and
        its stamp, arriving a byte at a time, is read.
        """
        client, transport = self._client(Framing.LINE)
        data = b"x" * 10000
        d = client.request(data)
        for byte in STAMP + data + b"\n":
            client.dataReceived(bytes([byte]))
        self.assertEqual(self.successResultOf(d).data, data)
        self.assertFalse(transport.disconnecting)
