"""
The echo client library: one message, a stream of any length with flow
control, and UDP with bounded retransmission.
"""

from __future__ import annotations

import hashlib
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import (
    IConsumer,
    IDelayedCall,
    IHalfCloseableProtocol,
    INegotiated,
    IReactorTime,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from netlab._connect import connect
from netlab._pending import PendingReplies
from netlab._udpclient import globalReactor, requestDatagram
from netlab.errors import (
    ConnectionClosed,
    MalformedReply,
    RequestTimedOut,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_UDP_INTERVAL",
    "DEFAULT_UDP_TRIES",
    "EchoClient",
    "connectEcho",
    "echo",
    "echoStream",
    "echoUDP",
]

DEFAULT_TIMEOUT = 10.0
"""
Seconds to wait for a connection, and then for each echo (for a stream: for
any progress).
"""

DEFAULT_UDP_TRIES = 3
"""
How many times a UDP datagram is sent before giving up.
"""

DEFAULT_UDP_INTERVAL = 1.0
"""
Seconds to wait for a UDP echo before sending the datagram again.
"""


class EchoClient(Protocol):
    """
    One connection to an echo server; get one with L{connectEcho}.

    Requests are pipelined: each is sent at once, and since an echo server
    sends back exactly what it got, in order, each reply is the next
    C{len(data)} bytes.
    """

    transport: ITCPTransport

    def __init__(
        self, timeout: float = DEFAULT_TIMEOUT, clock: IReactorTime | None = None
    ) -> None:
        """
        @param timeout: seconds to wait for each echo.
        @param clock: the clock for timeouts; the global reactor if C{None}.
        """
        self.timeout = timeout
        self._replies: PendingReplies[bytes, bytes] = PendingReplies(
            clock or globalReactor(),
            self._write,
            self._abandoned,
            lambda data, t: f"no echo from the server in {t:g}s",
        )
        self._buffer = b""
        self._lost = False
        self._whyLost = "the server closed the connection"
        self._closeWaiters: list[Deferred[None]] = []

    def request(self, data: bytes) -> Deferred[bytes]:
        """
        Send C{data} and wait for its echo.

        @param data: the bytes to send, at least one.
        @return: a Deferred that fires with the echoed bytes, or fails with
            L{RequestTimedOut}, L{ConnectionClosed} or L{MalformedReply} (the
            echo differs).  Cancelling it closes the connection.
        @raise ValueError: for empty C{data}.
        """
        if not data:
            raise ValueError("an echo request must contain at least one byte")
        return self._replies.push(data, self.timeout)

    def close(self) -> Deferred[None]:
        """
        Close the connection; requests still waiting fail with
        L{ConnectionClosed}.

        @return: a Deferred that fires when the connection is closed.
        """
        if self._lost:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._closeWaiters.append(d)
        if len(self._closeWaiters) == 1:
            self._whyLost = "the connection was closed by the client"
            self.transport.loseConnection()
        return d

    def _write(self, data: bytes) -> None:
        self.transport.write(data)

    def _abandoned(self, data: bytes) -> None:
        self._whyLost = "the connection was closed after a request timed out"
        self.transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while self._replies and len(self._buffer) >= len(self._replies.first()):
            sent = self._replies.first()
            echoed, self._buffer = self._buffer[: len(sent)], self._buffer[len(sent) :]
            if echoed != sent:
                self._replies.fail(
                    MalformedReply("the echo differs from what was sent", echoed)
                )
                self._whyLost = "the server's echo differed from what was sent"
                self.transport.abortConnection()
                return
            self._replies.resolve(echoed)
        if not self._replies and self._buffer:
            self._whyLost = "the server sent bytes nobody asked for"
            self._buffer = b""
            self.transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = True
        self._replies.failAll(lambda: ConnectionClosed(self._whyLost))
        waiters, self._closeWaiters = self._closeWaiters, []
        for d in waiters:
            d.callback(None)


def connectEcho(
    endpoint: IStreamClientEndpoint,
    timeout: float = DEFAULT_TIMEOUT,
    clock: IReactorTime | None = None,
) -> Deferred[EchoClient]:
    """
    Connect to an echo server.

    @param endpoint: where the server is, e.g.
        C{HostnameEndpoint(reactor, "localhost", 21568)}.
    @param timeout: seconds to wait for the connection, then for each echo.
    @param clock: the clock for timeouts; the global reactor if C{None}.
    @return: a Deferred that fires with a connected L{EchoClient}, or fails
        with L{ConnectFailed} or L{RequestTimedOut}.
    """
    clock = clock or globalReactor()
    factory = Factory.forProtocol(lambda: EchoClient(timeout, clock))
    return connect(endpoint, factory, timeout, clock, "echo server")


def echo(
    endpoint: IStreamClientEndpoint,
    data: bytes,
    timeout: float = DEFAULT_TIMEOUT,
    clock: IReactorTime | None = None,
) -> Deferred[bytes]:
    """
    Connect, send C{data}, wait for its echo, and disconnect.

    @return: a Deferred that fires with the echoed bytes (equal to C{data}),
        or fails with one of netlab's errors (see L{connectEcho} and
        L{EchoClient.request}).
    """

    async def once() -> bytes:
        client = await connectEcho(endpoint, timeout, clock)
        try:
            return await client.request(data)
        finally:
            await client.close()

    return Deferred.fromCoroutine(once())


@implementer(IConsumer)
class _Counting:
    """
    Stands between a body producer and the transport, counting and hashing
    what goes out.
    """

    def __init__(self, transport: Any, progress: Any) -> None:
        self._transport = transport
        self._progress = progress
        self.count = 0
        self.digest = hashlib.blake2b()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._transport.unregisterProducer()

    def write(self, data: bytes) -> None:
        self.count += len(data)
        self.digest.update(data)
        self._progress()
        self._transport.write(data)


@implementer(IHalfCloseableProtocol)
class _StreamEcho(Protocol):
    """
    Sends a body producer's bytes and passes the echo to a consumer; fires
    L{done} with the byte count once the server has echoed everything and
    closed.
    """

    transport: Any  # a TCP transport: also a producer and a consumer

    def __init__(
        self,
        source: IBodyProducer,
        sink: IConsumer,
        timeout: float,
        clock: IReactorTime,
    ) -> None:
        self._source = source
        self._sink = sink
        self._timeout = timeout
        self._clock = clock
        self._timer: IDelayedCall | None = None
        self._received = 0
        self._digest = hashlib.blake2b()
        self._sentAll = False
        self._failure: Exception | None = None
        self._cancelled = False
        self.done: Deferred[int] = Deferred(lambda d: self._cancel())

    def connectionMade(self) -> None:
        self._tls = INegotiated.providedBy(self.transport)
        self._out = _Counting(self.transport, self._progress)
        # The server's echo is read no faster than the sink takes it.
        self._sink.registerProducer(self.transport, True)
        # The source is paused while the transport's buffer is full.
        self.transport.registerProducer(self._source, True)
        sending = self._source.startProducing(self._out)
        sending.addCallbacks(self._allSent, self._sourceFailed)

    def _progress(self) -> None:
        # The deadline runs only while the server owes us something: echo
        # of bytes sent, or, once all is sent, the close.  A source that is
        # quiet for a while (tail -f) is not the server's fault.
        timer = self._timer
        if not (self._sentAll or self._received < self._out.count):
            if timer is not None and timer.active():
                timer.cancel()
            return
        if timer is not None and timer.active():
            timer.reset(self._timeout)
        else:
            self._timer = self._clock.callLater(self._timeout, self._timedOut)

    def _timedOut(self) -> None:
        self._abort(
            RequestTimedOut(f"the echo made no progress for {self._timeout:g}s")
        )

    def _allSent(self, result: object) -> None:
        self._sentAll = True
        self._progress()
        self.transport.unregisterProducer()
        if self._tls:
            # TLS: Twisted's TLS layer cannot half-close (a shutdown would
            # bypass it, losing what it still holds), so wait for the whole
            # echo, then close.
            self._closeIfEchoed()
        else:
            # Half-close: the server echoes what is left, then closes.
            self.transport.loseWriteConnection()

    def _closeIfEchoed(self) -> None:
        if self._received >= self._out.count:
            self.transport.loseConnection()

    def _sourceFailed(self, failure: Failure) -> None:
        reason = failure.value
        self._abort(
            reason
            if isinstance(reason, Exception)
            else ConnectionClosed(f"the source failed: {reason!r}")
        )

    def _cancel(self) -> None:
        # The caller cancelled: the Deferred fails with CancelledError.
        self._cancelled = True
        self._abort(CancelledError())

    def _abort(self, reason: Exception) -> None:
        if self._failure is None:
            self._failure = reason
        if not self._sentAll:
            self._source.stopProducing()
        self.transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        self._received += len(data)
        self._digest.update(data)
        self._progress()
        self._sink.write(data)
        if self._sentAll and self._tls:
            self._closeIfEchoed()

    def readConnectionLost(self) -> None:
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._sink.unregisterProducer()
        if self.done.called:
            return
        if self._cancelled:
            return
        if self._failure is not None:
            self.done.errback(self._failure)
        elif not self._sentAll:
            self._source.stopProducing()
            self.done.errback(
                ConnectionClosed(
                    f"the server closed the connection after {self._out.count} "
                    "bytes were sent, before all of them"
                )
            )
        elif self._received != self._out.count:
            self.done.errback(
                ConnectionClosed(
                    f"the server closed the connection having echoed "
                    f"{self._received} of {self._out.count} bytes"
                )
            )
        elif self._digest.digest() != self._out.digest.digest():
            self.done.errback(MalformedReply("the echoed bytes differ from those sent"))
        else:
            self.done.callback(self._received)


def echoStream(
    endpoint: IStreamClientEndpoint,
    source: IBodyProducer,
    sink: IConsumer,
    timeout: float = DEFAULT_TIMEOUT,
    clock: IReactorTime | None = None,
) -> Deferred[int]:
    """
    Stream bytes of any length through an echo server, with flow control
    both ways, so that neither side holds much more than a buffer's worth:
    the source is paused while the connection's send buffer is full, and
    the echo is read no faster than the sink takes it.

    When the source is done the connection is half-closed; the server
    echoes what is left and closes, and the echo is checked against what
    was sent (length and a BLAKE2 digest).

    @param source: the bytes to send: an
        C{IBodyProducer}, for example
        C{twisted.web.client.FileBodyProducer(open(path, "rb"))}.
    @param sink: receives the echo: an C{IConsumer} (a transport, or
        C{twisted.internet.protocol.FileWrapper(file)}), given the
        connection as a streaming producer.
    @param timeout: seconds to wait for the connection, and then at most
        between two signs of progress (bytes sent or received).
    @param clock: the clock for timeouts; the global reactor if C{None}.
    @return: a Deferred that fires with the number of bytes echoed, or fails
        with L{ConnectFailed}, L{RequestTimedOut}, L{ConnectionClosed} or
        L{MalformedReply}.  Cancelling it closes the connection.
    """
    clock = clock or globalReactor()
    protocol = _StreamEcho(source, sink, timeout, clock)

    async def stream() -> int:
        factory = Factory.forProtocol(lambda: protocol)
        await connect(endpoint, factory, timeout, clock, "echo server")
        return await protocol.done

    return Deferred.fromCoroutine(stream())


def echoUDP(
    host: str,
    port: int,
    data: bytes,
    reactor: Any = None,
    tries: int = DEFAULT_UDP_TRIES,
    interval: float = DEFAULT_UDP_INTERVAL,
) -> Deferred[bytes]:
    """
    Send one datagram to a UDP echo server and wait for it to come back.

    It is sent up to C{tries} times, C{interval} seconds apart, so the call
    takes at most C{tries * interval} seconds.  netlab's server does not
    answer datagrams from ports below 1024 or from its own port; the client
    sends from a port the system picks, which is above 1024.

    @param host: the server's address, or a host name (looked up with the
        reactor's resolver).
    @param port: the server's UDP port.
    @param data: the datagram.
    @param reactor: an C{IReactorUDP} and C{IReactorTime}; the global
        reactor if C{None}.
    @param tries: how many times to send, at least 1.
    @param interval: seconds to wait after each send.
    @return: a Deferred that fires with the echoed bytes, or fails with
        L{RequestTimedOut}, L{ConnectFailed} or L{MalformedReply}.
    @raise ValueError: if C{tries} is less than 1.
    """

    def accept(datagram: bytes) -> bytes:
        if datagram != data:
            raise MalformedReply("the echo differs from what was sent", datagram)
        return datagram

    return requestDatagram(host, port, data, accept, reactor, tries, interval)
