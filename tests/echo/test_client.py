"""
Tests for L{netlab.echo._client}: the stream clients against the real
L{EchoFactory} in memory or over a L{StringTransport} where the test plays
the server, and the UDP client over a fake reactor.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.error import (
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
)
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock, Cooperator
from twisted.internet.testing import FakeDatagramTransport, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import FileBodyProducer
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer
from zope.interface.verify import verifyObject

from netlab.echo import (
    EchoClient,
    EchoDatagramProtocol,
    EchoFactory,
    connectEcho,
    echo,
    echoStream,
    echoUDP,
)
from netlab.errors import (
    ConnectFailed,
    ConnectionClosed,
    MalformedReply,
    NetlabError,
    RequestTimedOut,
)
from netlab.testing import MemoryEndpoint
from tests.timestamp.test_client import (
    _FailingEndpoint,
    _FakeUDPReactor,
    _HangingEndpoint,
    _HangUp,
    _RecordingFactory,
)


def _endpoint() -> MemoryEndpoint:
    """
    An endpoint to a recorded, real echo server.
    """
    return MemoryEndpoint(_RecordingFactory(EchoFactory()))


def _lost() -> Failure:
    return Failure(ConnectionDone())


@implementer(IHalfCloseableProtocol)
class _Silent(Protocol):
    """
    A server that reads, never answers, and stays open when its peer
    half-closes.
    """

    lost = False

    def readConnectionLost(self) -> None:
        pass

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.lost = True


def _silentEndpoint() -> MemoryEndpoint:
    """
    An endpoint to a server that reads and never answers.
    """
    return MemoryEndpoint(Factory.forProtocol(_Silent))


class EchoTests(SynchronousTestCase):
    """
    Tests for L{echo} against the real server.
    """

    def test_echoes(self) -> None:
        """
        L{echo} fires with the bytes sent, closes the connection and leaves
        no timer behind.
        """
        clock = Clock()
        endpoint = _endpoint()
        d = echo(endpoint, b"hello, world", timeout=5, clock=clock)
        self.assertNoResult(d)
        endpoint.flush()
        self.assertEqual(self.successResultOf(d), b"hello, world")
        self.assertEqual(endpoint.servers[0].received, [b"hello, world"])
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_notUTF8(self) -> None:
        """
        Bytes that are not UTF-8, NULs and line ends included, come back
        unchanged.
        """
        data = b"\xff\x00\xfe\x80\r\n\xc3"
        clock = Clock()
        endpoint = _endpoint()
        d = echo(endpoint, data, clock=clock)
        endpoint.flush()
        self.assertEqual(self.successResultOf(d), data)

    def test_empty(self) -> None:
        """
        An empty message fails with L{ValueError} and sends nothing.
        """
        clock = Clock()
        endpoint = _endpoint()
        d = echo(endpoint, b"", clock=clock)
        endpoint.flush()
        self.failureResultOf(d, ValueError)
        for server in endpoint.servers:
            self.assertEqual(server.received, [])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_refused(self) -> None:
        """
        A refused connection fails with L{ConnectFailed}.
        """
        endpoint = _endpoint()
        endpoint.refuse = True
        self.failureResultOf(echo(endpoint, b"hi", clock=Clock()), ConnectFailed)

    def test_timeout(self) -> None:
        """
        An echo that does not come within the timeout fails with
        L{RequestTimedOut} and the connection is closed.
        """
        clock = Clock()
        endpoint = _silentEndpoint()
        d = echo(endpoint, b"hi", timeout=3, clock=clock)
        endpoint.flush()
        clock.advance(3)
        endpoint.flush()
        self.failureResultOf(d, RequestTimedOut)
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_serverCloses(self) -> None:
        """
        A server that closes the connection before echoing fails the call
        with L{ConnectionClosed}.
        """
        endpoint = MemoryEndpoint(Factory.forProtocol(_HangUp))
        d = echo(endpoint, b"hi", clock=Clock())
        endpoint.flush()
        self.failureResultOf(d, ConnectionClosed)

    def test_async(self) -> None:
        """
        L{echo} can be awaited from a coroutine.
        """
        clock = Clock()
        endpoint = _endpoint()

        async def twice() -> bytes:
            return await echo(endpoint, b"ab", clock=clock) * 2

        d = Deferred.fromCoroutine(twice())
        endpoint.flush()
        self.assertEqual(self.successResultOf(d), b"abab")


class ConnectEchoTests(SynchronousTestCase):
    """
    Tests for L{connectEcho} and the L{EchoClient} it gives, against the
    real server.
    """

    def _connect(self, endpoint: Any, clock: Clock, timeout: float = 5) -> EchoClient:
        return self.successResultOf(connectEcho(endpoint, timeout=timeout, clock=clock))

    def test_connects(self) -> None:
        """
        L{connectEcho} fires with an L{EchoClient} and leaves no connect
        timer behind.
        """
        clock = Clock()
        client = self._connect(_endpoint(), clock)
        self.assertIsInstance(client, EchoClient)
        self.assertEqual(client.timeout, 5)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_severalRequests(self) -> None:
        """
        Requests one after the other are echoed on one connection.
        """
        clock = Clock()
        endpoint = _endpoint()
        client = self._connect(endpoint, clock)
        for data in [b"one", b"two", b"three"]:
            d = client.request(data)
            endpoint.flush()
            self.assertEqual(self.successResultOf(d), data)
        self.assertEqual(len(endpoint.servers), 1)
        self.assertFalse(endpoint.servers[0].lost)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_pipelines(self) -> None:
        """
        Every request is written before any echo comes back, and each gets
        its own bytes back, in order.
        """
        clock = Clock()
        endpoint = _endpoint()
        client = self._connect(endpoint, clock)
        messages = [b"one", b"\xff\x00", b"three", b"one"]
        ds = [client.request(data) for data in messages]
        for d in ds:
            self.assertNoResult(d)
        endpoint.flush()
        self.assertEqual(endpoint.servers[0].received, [b"".join(messages)])
        self.assertEqual([self.successResultOf(d) for d in ds], messages)

    def test_empty(self) -> None:
        """
        An empty request raises L{ValueError} and sends nothing.
        """
        clock = Clock()
        endpoint = _endpoint()
        client = self._connect(endpoint, clock)
        self.assertRaises(ValueError, client.request, b"")
        endpoint.flush()
        self.assertEqual(endpoint.servers[0].received, [])

    def test_requestTimeout(self) -> None:
        """
        A request not echoed within the timeout fails with
        L{RequestTimedOut}, which is also a L{TimeoutError}; the connection
        is then aborted and the other waiting requests fail with
        L{ConnectionClosed}.
        """
        clock = Clock()
        endpoint = _silentEndpoint()
        client = self._connect(endpoint, clock, timeout=5)
        first = client.request(b"one")
        clock.advance(1)
        second = client.request(b"two")
        endpoint.flush()
        clock.advance(3.9)
        self.assertNoResult(first)
        clock.advance(0.1)
        failure = self.failureResultOf(first, RequestTimedOut)
        self.assertIsInstance(failure.value, TimeoutError)
        self.assertIsInstance(failure.value, NetlabError)
        self.assertIn("5s", str(failure.value))
        self.assertNoResult(second)
        endpoint.flush()
        failure = self.failureResultOf(second, ConnectionClosed)
        self.assertIn("timed out", str(failure.value))
        self.assertTrue(endpoint.servers[0].lost)
        self.failureResultOf(client.request(b"three"), ConnectionClosed)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_connectTimeout(self) -> None:
        """
        A connection not made within the timeout fails with
        L{RequestTimedOut} and the attempt is cancelled.
        """
        clock = Clock()
        endpoint = _HangingEndpoint()
        d = connectEcho(endpoint, timeout=3, clock=clock)
        clock.advance(2.9)
        self.assertNoResult(d)
        clock.advance(0.1)
        failure = self.failureResultOf(d, RequestTimedOut)
        self.assertIn("3s", str(failure.value))
        self.assertTrue(endpoint.cancelled)

    def test_refused(self) -> None:
        """
        A refused connection fails with L{ConnectFailed}, chained to the
        refusal.
        """
        endpoint = _endpoint()
        endpoint.refuse = True
        failure = self.failureResultOf(
            connectEcho(endpoint, clock=Clock()), ConnectFailed
        )
        self.assertIsInstance(failure.value.__cause__, ConnectionRefusedError)
        self.assertIn("echo server", str(failure.value))

    def test_connectErrors(self) -> None:
        """
        An endpoint failing with a refusal, a failed look-up or an
        L{OSError} fails with L{ConnectFailed}.
        """
        for exception in [
            ConnectionRefusedError(),
            DNSLookupError("nowhere"),
            OSError("no route"),
        ]:
            d = connectEcho(_FailingEndpoint(exception), clock=Clock())
            failure = self.failureResultOf(d, ConnectFailed)
            self.assertIs(failure.value.__cause__, exception)

    def test_otherConnectErrors(self) -> None:
        """
        An endpoint failing with something that is not a connection error
        fails with that error, unchanged.
        """
        d = connectEcho(_FailingEndpoint(KeyError("bug")), clock=Clock())
        self.failureResultOf(d, KeyError)

    def test_serverCloses(self) -> None:
        """
        A server closing the connection before echoing fails the request
        with L{ConnectionClosed}.
        """
        clock = Clock()
        endpoint = MemoryEndpoint(Factory.forProtocol(_HangUp))
        client = self._connect(endpoint, clock)
        d = client.request(b"hi")
        endpoint.flush()
        failure = self.failureResultOf(d, ConnectionClosed)
        self.assertIn("server closed", str(failure.value))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_close(self) -> None:
        """
        C{close} fires once the connection is closed, failing the requests
        still waiting with L{ConnectionClosed}; later calls fire at once.
        """
        clock = Clock()
        endpoint = _silentEndpoint()
        client = self._connect(endpoint, clock)
        pending = client.request(b"hi")
        closed = client.close()
        again = client.close()
        self.assertNoResult(closed)
        self.assertNoResult(again)
        endpoint.flush()
        self.assertIsNone(self.successResultOf(closed))
        self.assertIsNone(self.successResultOf(again))
        self.assertTrue(endpoint.servers[0].lost)
        failure = self.failureResultOf(pending, ConnectionClosed)
        self.assertIn("closed by the client", str(failure.value))
        self.assertIsNone(self.successResultOf(client.close()))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_requestAfterClose(self) -> None:
        """
        A request made once the connection is closed fails with
        L{ConnectionClosed} and sends nothing.
        """
        clock = Clock()
        endpoint = _endpoint()
        client = self._connect(endpoint, clock)
        client.close()
        endpoint.flush()
        self.failureResultOf(client.request(b"hi"), ConnectionClosed)
        endpoint.flush()
        self.assertEqual(endpoint.servers[0].received, [])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        """
        Cancelling a request fails it with L{CancelledError} and closes the
        connection, failing the other waiting requests with
        L{ConnectionClosed}.
        """
        clock = Clock()
        endpoint = _silentEndpoint()
        client = self._connect(endpoint, clock)
        first = client.request(b"one")
        second = client.request(b"two")
        first.cancel()
        self.failureResultOf(first, CancelledError)
        endpoint.flush()
        self.assertTrue(endpoint.servers[0].lost)
        self.failureResultOf(second, ConnectionClosed)
        self.assertEqual(clock.getDelayedCalls(), [])


class EchoClientTests(SynchronousTestCase):
    """
    Tests for L{EchoClient} over a L{StringTransport}, the test playing the
    server.
    """

    def _client(self) -> tuple[EchoClient, StringTransport, Clock]:
        clock = Clock()
        client = EchoClient(timeout=5, clock=clock)
        transport = StringTransport()
        client.makeConnection(transport)
        return client, transport, clock

    def test_writesAtOnce(self) -> None:
        """
        Each request is written as soon as it is made.
        """
        client, transport, _ = self._client()
        client.request(b"one")
        self.assertEqual(transport.value(), b"one")
        client.request(b"two")
        self.assertEqual(transport.value(), b"onetwo")

    def test_pieces(self) -> None:
        """
        An echo that arrives in pieces, or in chunks spanning two requests,
        is matched to the requests by length.
        """
        client, transport, clock = self._client()
        first = client.request(b"hello")
        second = client.request(b"world")
        client.dataReceived(b"he")
        self.assertNoResult(first)
        client.dataReceived(b"llowo")
        self.assertEqual(self.successResultOf(first), b"hello")
        self.assertNoResult(second)
        client.dataReceived(b"rld")
        self.assertEqual(self.successResultOf(second), b"world")
        self.assertFalse(transport.disconnecting)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_differs(self) -> None:
        """
        An echo that differs from what was sent fails that request with
        L{MalformedReply} carrying the bytes received, and aborts the
        connection; the other waiting requests then fail with
        L{ConnectionClosed}.
        """
        client, transport, clock = self._client()
        first = client.request(b"hello")
        second = client.request(b"world")
        client.dataReceived(b"hellx")
        failure = self.failureResultOf(first, MalformedReply)
        self.assertEqual(failure.value.reply, b"hellx")
        self.assertTrue(transport.disconnected)
        self.assertNoResult(second)
        client.connectionLost(Failure(ConnectionLost()))
        failure = self.failureResultOf(second, ConnectionClosed)
        self.assertIn("differed", str(failure.value))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_unsolicited(self) -> None:
        """
        Bytes that no request is waiting for abort the connection; later
        requests fail with L{ConnectionClosed} saying why.
        """
        client, transport, _ = self._client()
        client.dataReceived(b"surprise")
        self.assertTrue(transport.disconnected)
        client.connectionLost(Failure(ConnectionLost()))
        failure = self.failureResultOf(client.request(b"hi"), ConnectionClosed)
        self.assertIn("nobody asked for", str(failure.value))

    def test_tooLong(self) -> None:
        """
        An echo longer than what was sent completes the request and then
        aborts the connection for the bytes nobody asked for.
        """
        client, transport, _ = self._client()
        d = client.request(b"hi")
        client.dataReceived(b"hi!")
        self.assertEqual(self.successResultOf(d), b"hi")
        self.assertTrue(transport.disconnected)

    def test_closeLosesConnection(self) -> None:
        """
        C{close} loses the connection cleanly (not an abort) and fires only
        once the connection is lost.
        """
        client, transport, _ = self._client()
        d = client.close()
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        self.assertNoResult(d)
        client.connectionLost(_lost())
        self.assertIsNone(self.successResultOf(d))


class _HalfCloseableTransport(StringTransport):
    """
    A L{StringTransport} that also records a half-close, which
    L{StringTransport} itself does not support.

    @ivar writeClosed: whether C{loseWriteConnection} was called.
    """

    writeClosed = False

    def loseWriteConnection(self) -> None:
        self.writeClosed = True


@implementer(IStreamClientEndpoint)
class _StringEndpoint:
    """
    An endpoint whose one connection is over a L{_HalfCloseableTransport},
    the test playing the server.
    """

    def __init__(self) -> None:
        self.protocol: Any = None
        self.transport = _HalfCloseableTransport()

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        self.protocol = protocolFactory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)
        return succeed(self.protocol)

    def echo(self) -> None:
        """
        Send back everything written so far, as an echo server would.
        """
        data = self.transport.value()
        self.transport.clear()
        self.protocol.dataReceived(data)

    def serverCloses(self) -> None:
        """
        The server closes: the client sees its reading side end, then the
        connection lost.
        """
        self.protocol.readConnectionLost()
        self.protocol.connectionLost(_lost())


@implementer(IBodyProducer)
class _Source:
    """
    A body producer the test drives by hand.
    """

    length = UNKNOWN_LENGTH

    def __init__(self) -> None:
        self.consumer: Any = None
        self.finished: Deferred[None] = Deferred()
        self.paused = False
        self.stopped = False

    def startProducing(self, consumer: Any) -> Deferred[None]:
        self.consumer = consumer
        return self.finished

    def send(self, data: bytes) -> None:
        assert not self.stopped
        self.consumer.write(data)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.stopped = True


class EchoStreamTests(SynchronousTestCase):
    """
    Tests for L{echoStream} over a transport where the test plays the
    server.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = _StringEndpoint()
        self.source = _Source()
        self.sink = StringTransport()
        self.d = echoStream(
            self.endpoint, self.source, self.sink, timeout=5, clock=self.clock
        )
        self.transport = self.endpoint.transport

    def test_source(self) -> None:
        """
        The fake source used here is a body producer.
        """
        verifyObject(IBodyProducer, self.source)

    def test_echoed(self) -> None:
        """
        When all is echoed and the server closes, the call fires with the
        number of bytes, the echo has gone to the sink, and no timer or
        producer registration is left.
        """
        for chunk in [b"abc", b"\xff\x00", b"def"]:
            self.source.send(chunk)
            self.endpoint.echo()
        self.source.finished.callback(None)
        self.assertNoResult(self.d)
        self.endpoint.serverCloses()
        self.assertEqual(self.successResultOf(self.d), 8)
        self.assertEqual(self.sink.value(), b"abc\xff\x00def")
        self.assertIsNone(self.sink.producer)
        self.assertIsNone(self.transport.producer)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_empty(self) -> None:
        """
        A source with nothing in it fires with 0 once the server closes.
        """
        self.source.finished.callback(None)
        self.assertTrue(self.transport.writeClosed)
        self.endpoint.serverCloses()
        self.assertEqual(self.successResultOf(self.d), 0)
        self.assertEqual(self.sink.value(), b"")

    def test_halfClose(self) -> None:
        """
        Once the source is done the connection is half-closed: the sending
        side is shut down, the source unregistered, and the echo still read.
        """
        self.source.send(b"abc")
        self.assertFalse(self.transport.writeClosed)
        self.source.finished.callback(None)
        self.assertTrue(self.transport.writeClosed)
        self.assertFalse(self.transport.disconnecting)
        self.assertIsNone(self.transport.producer)
        self.endpoint.echo()
        self.assertEqual(self.sink.value(), b"abc")
        self.assertNoResult(self.d)

    def test_closesWhenServerDone(self) -> None:
        """
        When the server's side ends, the client closes the connection.
        """
        self.source.send(b"abc")
        self.source.finished.callback(None)
        self.endpoint.echo()
        self.endpoint.protocol.readConnectionLost()
        self.assertTrue(self.transport.disconnecting)
        self.assertFalse(self.transport.disconnected)

    def test_flowControl(self) -> None:
        """
        The source is registered as a streaming producer on the transport,
        and the transport as a streaming producer on the sink, so the sink
        pausing stops reading from the server.
        """
        self.assertIs(self.transport.producer, self.source)
        self.assertTrue(self.transport.streaming)
        self.assertIs(self.sink.producer, self.transport)
        self.assertTrue(self.sink.streaming)
        self.sink.producer.pauseProducing()
        self.assertEqual(self.transport.producerState, "paused")
        self.sink.producer.resumeProducing()
        self.assertEqual(self.transport.producerState, "producing")

    def test_serverClosesBeforeAllSent(self) -> None:
        """
        A server that closes while the source is still sending fails the
        call with L{ConnectionClosed} naming the bytes sent, and stops the
        source.
        """
        self.source.send(b"abcd")
        self.endpoint.echo()
        self.endpoint.protocol.connectionLost(_lost())
        failure = self.failureResultOf(self.d, ConnectionClosed)
        self.assertIn("after 4 bytes were sent", str(failure.value))
        self.assertTrue(self.source.stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_serverClosesBeforeAllEchoed(self) -> None:
        """
        A server that closes before echoing everything fails the call with
        L{ConnectionClosed} naming how much of what was sent came back.
        """
        self.source.send(b"abcd")
        self.source.finished.callback(None)
        self.endpoint.protocol.dataReceived(b"ab")
        self.endpoint.serverCloses()
        failure = self.failureResultOf(self.d, ConnectionClosed)
        self.assertIn("having echoed 2 of 4 bytes", str(failure.value))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_differs(self) -> None:
        """
        An echo of the right length whose bytes differ fails the call with
        L{MalformedReply}.
        """
        self.source.send(b"abcd")
        self.source.finished.callback(None)
        self.endpoint.protocol.dataReceived(b"abce")
        self.endpoint.serverCloses()
        self.failureResultOf(self.d, MalformedReply)

    def test_reordered(self) -> None:
        """
        An echo with the bytes sent in another order fails the call with
        L{MalformedReply}.
        """
        self.source.send(b"ab")
        self.source.send(b"cd")
        self.source.finished.callback(None)
        self.endpoint.protocol.dataReceived(b"cdab")
        self.endpoint.serverCloses()
        self.failureResultOf(self.d, MalformedReply)

    def test_timeout(self) -> None:
        """
        No progress for C{timeout} seconds aborts the connection, stops the
        source and fails the call with L{RequestTimedOut}.
        """
        self.source.send(b"abc")
        self.clock.advance(4.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.disconnected)
        self.assertTrue(self.source.stopped)
        self.endpoint.protocol.connectionLost(Failure(ConnectionLost()))
        failure = self.failureResultOf(self.d, RequestTimedOut)
        self.assertIsInstance(failure.value, TimeoutError)
        self.assertIn("5s", str(failure.value))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timeoutWaitingForEcho(self) -> None:
        """
        Once everything is sent, no echo for C{timeout} seconds fails the
        call with L{RequestTimedOut}.
        """
        self.source.send(b"abc")
        self.source.finished.callback(None)
        self.clock.advance(5)
        self.assertTrue(self.transport.disconnected)
        self.endpoint.protocol.connectionLost(Failure(ConnectionLost()))
        self.failureResultOf(self.d, RequestTimedOut)

    def test_progressResetsTimer(self) -> None:
        """
        Bytes sent or received at intervals shorter than the timeout keep
        the stream going however long it takes in all.
        """
        for _ in range(10):
            self.clock.advance(4)
            self.source.send(b"x")
            self.clock.advance(4)
            self.endpoint.echo()
        self.source.finished.callback(None)
        self.assertFalse(self.transport.disconnecting)
        self.endpoint.serverCloses()
        self.assertEqual(self.successResultOf(self.d), 10)
        self.assertEqual(self.clock.seconds(), 80)

    def assertTimedOut(self) -> None:
        """
        Assert that the connection was aborted for want of progress, and
        that the call fails with L{RequestTimedOut} once it is lost.
        """
        self.assertTrue(self.transport.disconnected)
        self.endpoint.protocol.connectionLost(Failure(ConnectionLost()))
        self.failureResultOf(self.d, RequestTimedOut)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_idleBeforeSending(self) -> None:
        """
        A source that sends nothing for longer than the timeout, the server
        owing nothing, does not time out.
        """
        self.clock.advance(100)
        self.assertFalse(self.transport.disconnecting)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.source.send(b"abc")
        self.endpoint.echo()
        self.source.finished.callback(None)
        self.endpoint.serverCloses()
        self.assertEqual(self.successResultOf(self.d), 3)

    def test_idleWhenAllEchoed(self) -> None:
        """
        A source that is quiet for longer than the timeout once everything
        it sent has been echoed does not time out, and the stream goes on.
        """
        self.source.send(b"abc")
        self.clock.advance(4)
        self.endpoint.echo()
        self.clock.advance(100)
        self.assertFalse(self.transport.disconnecting)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.source.send(b"def")
        self.endpoint.echo()
        self.clock.advance(100)
        self.source.finished.callback(None)
        self.endpoint.serverCloses()
        self.assertEqual(self.successResultOf(self.d), 6)
        self.assertEqual(self.sink.value(), b"abcdef")

    def test_stopsEchoingAfterIdle(self) -> None:
        """
        After a quiet spell, a server that does not echo what is sent next
        times out C{timeout} seconds after it was sent.
        """
        self.source.send(b"abc")
        self.endpoint.echo()
        self.clock.advance(100)
        self.source.send(b"def")
        self.clock.advance(4.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(self.source.stopped)
        self.assertTimedOut()

    def test_partialEchoOwesRest(self) -> None:
        """
        An echo of part of what was sent resets the deadline, which goes on
        running for the rest.
        """
        self.source.send(b"abcd")
        self.clock.advance(4)
        self.endpoint.protocol.dataReceived(b"ab")
        self.clock.advance(4.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTimedOut()

    def test_doneDeadlineForClose(self) -> None:
        """
        Once the source is done, after a quiet spell with everything echoed,
        the server has C{timeout} seconds to close.
        """
        self.source.send(b"abc")
        self.endpoint.echo()
        self.clock.advance(100)
        self.source.finished.callback(None)
        self.clock.advance(4.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTimedOut()

    def test_doneServerCloses(self) -> None:
        """
        Once the source is done, a server that closes in time ends the call
        successfully and leaves no timer behind.
        """
        self.source.send(b"abc")
        self.endpoint.echo()
        self.clock.advance(100)
        self.source.finished.callback(None)
        self.clock.advance(4.9)
        self.endpoint.serverCloses()
        self.assertEqual(self.successResultOf(self.d), 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_emptySourceDeadlineForClose(self) -> None:
        """
        A source with nothing in it leaves the server C{timeout} seconds to
        close.
        """
        self.clock.advance(100)
        self.source.finished.callback(None)
        self.clock.advance(5)
        self.assertTimedOut()

    def test_cancel(self) -> None:
        """
        Cancelling the call fails it with L{CancelledError}, aborts the
        connection and stops the source; the connection's loss then changes
        nothing.
        """
        self.source.send(b"abc")
        self.d.cancel()
        self.failureResultOf(self.d, CancelledError)
        self.assertTrue(self.transport.disconnected)
        self.assertTrue(self.source.stopped)
        self.endpoint.protocol.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sourceFails(self) -> None:
        """
        A source that fails aborts the connection, and the call fails with
        the source's error.
        """
        error = OSError("disk on fire")
        self.source.send(b"abc")
        self.source.finished.errback(error)
        self.assertTrue(self.transport.disconnected)
        self.assertTrue(self.source.stopped)
        self.endpoint.protocol.connectionLost(Failure(ConnectionLost()))
        self.assertIs(self.failureResultOf(self.d, OSError).value, error)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sourceCancelled(self) -> None:
        """
        A source that fails with L{CancelledError} (its own, not the
        caller's cancellation) still fails the call rather than leaving it
        waiting forever.
        """
        self.source.send(b"abc")
        self.source.finished.errback(CancelledError())
        self.assertTrue(self.transport.disconnected)
        self.endpoint.protocol.connectionLost(Failure(ConnectionLost()))
        self.failureResultOf(self.d)


class EchoStreamConnectTests(SynchronousTestCase):
    """
    Tests for how L{echoStream} connects.
    """

    def test_connectTimeout(self) -> None:
        """
        A connection not made within the timeout fails with
        L{RequestTimedOut} and the source is never started.
        """
        clock = Clock()
        endpoint = _HangingEndpoint()
        source = _Source()
        d = echoStream(endpoint, source, StringTransport(), timeout=3, clock=clock)
        clock.advance(3)
        self.failureResultOf(d, RequestTimedOut)
        self.assertTrue(endpoint.cancelled)
        self.assertIsNone(source.consumer)

    def test_refused(self) -> None:
        """
        A refused connection fails with L{ConnectFailed}.
        """
        endpoint = _endpoint()
        endpoint.refuse = True
        d = echoStream(endpoint, _Source(), StringTransport(), clock=Clock())
        self.failureResultOf(d, ConnectFailed)

    def test_cancelWhileConnecting(self) -> None:
        """
        Cancelling the call while connecting cancels the attempt.
        """
        clock = Clock()
        endpoint = _HangingEndpoint()
        d = echoStream(endpoint, _Source(), StringTransport(), clock=clock)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(endpoint.cancelled)
        self.assertEqual(clock.getDelayedCalls(), [])


def _cooperator(clock: Clock) -> Cooperator:
    """
    A cooperator driven by C{clock}, doing one step per tick.
    """
    return Cooperator(
        terminationPredicateFactory=lambda: lambda: True,
        scheduler=lambda step: clock.callLater(0, step),
    )


class EchoStreamMemoryTests(SynchronousTestCase):
    """
    Tests for L{echoStream} with a L{FileBodyProducer} against the real
    server through L{MemoryEndpoint}, which delivers the half-close.
    """

    def _stream(
        self, endpoint: MemoryEndpoint, data: bytes, clock: Clock, timeout: float = 5
    ) -> tuple[Deferred[int], StringTransport, BytesIO]:
        """
        Start streaming C{data}, read from a file 1000 bytes at a time.

        @return: the call's Deferred, the sink and the file read.
        """
        inputFile = BytesIO(data)
        source = FileBodyProducer(
            inputFile, cooperator=_cooperator(clock), readSize=1000
        )
        sink = StringTransport()
        d = echoStream(endpoint, source, sink, timeout=timeout, clock=clock)
        return d, sink, inputFile

    def test_echoed(self) -> None:
        """
        Many chunks go through the real server and come back whole, in
        order; the client half-closes, the server closes once all is echoed,
        and the call fires with the byte count.
        """
        clock = Clock()
        endpoint = _endpoint()
        data = bytes(range(256)) * 40
        d, sink, _ = self._stream(endpoint, data, clock)
        for _ in range(20):
            clock.advance(0)
            endpoint.flush()
        self.assertEqual(sink.value(), data)
        self.assertEqual(b"".join(endpoint.servers[0].received), data)
        self.assertEqual(self.successResultOf(d), len(data))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_serverCloses(self) -> None:
        """
        A server that closes at once fails the call with
        L{ConnectionClosed}.
        """
        clock = Clock()
        endpoint = MemoryEndpoint(Factory.forProtocol(_HangUp))
        d, _, _ = self._stream(endpoint, b"x" * 5000, clock)
        clock.advance(0)
        endpoint.flush()
        self.failureResultOf(d, ConnectionClosed)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_timeout(self) -> None:
        """
        A server that never echoes makes the call fail with
        L{RequestTimedOut} once the timeout passes with no progress.
        """
        clock = Clock()
        endpoint = _silentEndpoint()
        d, _, _ = self._stream(endpoint, b"x" * 5000, clock, timeout=5)
        clock.advance(0)
        endpoint.flush()
        clock.advance(5)
        endpoint.flush()
        self.failureResultOf(d, RequestTimedOut)
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        """
        Cancelling the call midway closes the connection and stops reading
        the source.
        """
        clock = Clock()
        endpoint = _endpoint()
        d, _, inputFile = self._stream(endpoint, b"x" * 5000, clock)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(inputFile.closed)
        clock.advance(0)
        endpoint.flush()
        self.assertTrue(endpoint.servers[0].lost)
        self.assertEqual(endpoint.servers[0].received, [])
        self.assertEqual(clock.getDelayedCalls(), [])


def _serverReply(clock: Clock, data: bytes) -> bytes:
    """
    What the real UDP echo server answers to C{data}.
    """
    server = EchoDatagramProtocol(clock)
    server.makeConnection(FakeDatagramTransport())
    server.datagramReceived(data, ("192.0.2.7", 50000))
    [(reply, _)] = server.transport.written
    return reply


class EchoUDPTests(SynchronousTestCase):
    """
    Tests for L{echoUDP} over a fake reactor.
    """

    def setUp(self) -> None:
        self.reactor = _FakeUDPReactor({"echo.example": "192.0.2.9"})

    def _echo(
        self, host: str = "192.0.2.1", data: bytes = b"hi", **kwargs: Any
    ) -> Deferred[bytes]:
        kwargs.setdefault("tries", 3)
        kwargs.setdefault("interval", 2)
        return echoUDP(host, 21568, data, reactor=self.reactor, **kwargs)

    def _assertClosed(self) -> None:
        for port in self.reactor.ports:
            self.assertFalse(port.listening)
        self.reactor.advance(0)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_reply(self) -> None:
        """
        The datagram is sent once to the server and the real server's echo
        is returned; the socket is then closed.
        """
        data = b"hello \xff\x00"
        d = self._echo(data=data)
        [port] = self.reactor.ports
        self.assertEqual(port.connectedTo, ("192.0.2.1", 21568))
        self.assertEqual(port.sent(), [data])
        self.assertNoResult(d)
        port.protocol.datagramReceived(
            _serverReply(self.reactor, data), ("192.0.2.1", 21568)
        )
        self.assertEqual(self.successResultOf(d), data)
        self._assertClosed()

    def test_differs(self) -> None:
        """
        A reply that differs from the datagram sent fails with
        L{MalformedReply} carrying the reply.
        """
        d = self._echo()
        [port] = self.reactor.ports
        port.protocol.datagramReceived(b"ho", ("192.0.2.1", 21568))
        failure = self.failureResultOf(d, MalformedReply)
        self.assertEqual(failure.value.reply, b"ho")
        self._assertClosed()

    def test_retransmits(self) -> None:
        """
        With no reply the datagram is sent C{tries} times, C{interval}
        apart, then the call fails with L{RequestTimedOut}.
        """
        d = self._echo(tries=3, interval=2)
        [port] = self.reactor.ports
        self.reactor.advance(2)
        self.reactor.advance(2)
        self.assertEqual(port.sent(), [b"hi"] * 3)
        self.assertNoResult(d)
        self.reactor.advance(2)
        failure = self.failureResultOf(d, RequestTimedOut)
        self.assertIn("3 tries in 6s", str(failure.value))
        self._assertClosed()

    def test_replyAfterRetry(self) -> None:
        """
        An echo of a retransmission succeeds.
        """
        d = self._echo(tries=3, interval=2)
        [port] = self.reactor.ports
        self.reactor.advance(2)
        port.protocol.datagramReceived(b"hi", ("192.0.2.1", 21568))
        self.assertEqual(self.successResultOf(d), b"hi")
        self._assertClosed()

    def test_hostName(self) -> None:
        """
        A host name is looked up with the reactor's resolver.
        """
        self._echo(host="echo.example")
        [port] = self.reactor.ports
        self.assertEqual(port.connectedTo, ("192.0.2.9", 21568))

    def test_tooFewTries(self) -> None:
        """
        Fewer than one try raises L{ValueError}.
        """
        self.assertRaises(ValueError, self._echo, tries=0)
