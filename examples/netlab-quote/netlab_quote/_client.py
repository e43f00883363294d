"""
Asking a Quote of the Day server (RFC 865, netlab's or any other) for a
quote, over TCP (any client endpoint) or UDP.  Both return Deferreds and
never touch the global reactor: the caller passes it in.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, TimeoutError, fail, maybeDeferred
from twisted.internet.endpoints import connectProtocol
from twisted.internet.error import ConnectError, ConnectionDone, DNSLookupError
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import DatagramProtocol, Protocol, connectionDone
from twisted.python.failure import Failure

from netlab.errors import (
    ConnectFailed,
    ConnectionClosed,
    MalformedReply,
    RequestTimedOut,
)

__all__ = ["DEFAULT_TIMEOUT", "MAX_REPLY", "getQuote", "getQuoteUDP"]

DEFAULT_TIMEOUT = 10.0
"""
Seconds a client waits for its quote, connecting included.
"""

MAX_REPLY = 65536
"""
The most bytes taken as a quote; a server that sends more is not one.
"""

UDP_TRIES = 3
"""
How many times L{getQuoteUDP} asks, spread over its timeout.
"""


class _QuoteReceiver(Protocol):
    """
    Takes what the server sends until it closes the connection.

    @ivar done: fires with the quote once the server has closed; cancelling
        it aborts the connection.
    """

    transport: Any  # An ITCPTransport, or another with abortConnection.

    def __init__(self) -> None:
        self._received: list[bytes] = []
        self._size = 0
        self.done: Deferred[bytes] = Deferred(
            lambda d: self.transport.abortConnection()
        )

    def dataReceived(self, data: bytes) -> None:
        self._size += len(data)
        self._received.append(data)
        if self._size > MAX_REPLY and not self.done.called:
            self.done.errback(
                MalformedReply(f"more than {MAX_REPLY} bytes: not a quote")
            )
            self.transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.done.called:
            return
        if not reason.check(ConnectionDone):
            self.done.errback(
                ConnectionClosed(f"the connection was lost: {reason.getErrorMessage()}")
            )
        elif not self._received:
            self.done.errback(
                ConnectionClosed("the server closed the connection without a quote")
            )
        else:
            self.done.callback(b"".join(self._received))


def _explain(reason: Failure, timeout: float) -> Failure:
    if reason.check(TimeoutError):
        return Failure(RequestTimedOut(f"no quote within {timeout:g}s"))
    if reason.check(ConnectError, DNSLookupError):
        return Failure(ConnectFailed(f"cannot connect: {reason.getErrorMessage()}"))
    return reason


def getQuote(
    endpoint: IStreamClientEndpoint,
    clock: IReactorTime,
    timeout: float = DEFAULT_TIMEOUT,
) -> Deferred[bytes]:
    """
    Connect, and take what the server sends until it closes: the quote.

    @param endpoint: where the server is, e.g.
        C{HostnameEndpoint(reactor, "localhost", 21517)}.
    @param clock: times the deadline (the reactor).
    @param timeout: seconds for all of it.
    @return: a Deferred of the quote, as sent; it fails with
        L{ConnectFailed}, L{ConnectionClosed} (nothing was sent),
        L{RequestTimedOut} or L{MalformedReply}.
    """
    receiver = _QuoteReceiver()
    connected: Deferred[Any] = connectProtocol(endpoint, receiver)
    d: Deferred[bytes] = connected.addCallback(lambda _: receiver.done)
    return d.addTimeout(timeout, clock).addErrback(_explain, timeout)


class _QuoteAsker(DatagramProtocol):
    """
    A UDP socket connected to the server, that sends a request and takes
    the next datagram as its answer.
    """

    transport: Any  # A connected IUDPTransport: write takes no address.

    def __init__(self, host: str, port: int) -> None:
        self._refusal = ConnectFailed(f"no quote server on UDP {host}:{port}")
        self._refused = False
        self._answer: Deferred[bytes] | None = None

    def ask(self) -> Deferred[bytes]:
        """
        @return: a Deferred of the next datagram the server sends.
        """
        if self._refused:
            return fail(self._refusal)
        self._answer = Deferred()
        self.transport.write(b"\n")
        return self._answer

    def _settle(self, result: bytes | Exception) -> None:
        answer, self._answer = self._answer, None
        if answer is None or answer.called:
            return
        if isinstance(result, Exception):
            answer.errback(result)
        else:
            answer.callback(result)

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self._settle(datagram)

    def connectionRefused(self) -> None:
        self._refused = True
        self._settle(self._refusal)

    # Linux reports that a connected socket's datagram was refused (an ICMP
    # port unreachable) as an error the reactor takes for the socket's end.
    stopProtocol = connectionRefused


async def _askUDP(reactor: Any, host: str, port: int, timeout: float) -> bytes:
    try:
        address = await reactor.resolve(host)
    except DNSLookupError as e:
        raise ConnectFailed(f"cannot find {host}: {e}") from None
    asker = _QuoteAsker(host, port)
    listening = reactor.listenUDP(0, asker)
    try:
        listening.connect(address, port)
        for _ in range(UDP_TRIES):
            try:
                answer: bytes = await asker.ask().addTimeout(
                    timeout / UDP_TRIES, reactor
                )
                return answer
            except TimeoutError:
                continue
    finally:
        await maybeDeferred(listening.stopListening)
    raise RequestTimedOut(f"no quote within {timeout:g}s ({UDP_TRIES} tries)")


def getQuoteUDP(
    reactor: Any, host: str, port: int, timeout: float = DEFAULT_TIMEOUT
) -> Deferred[bytes]:
    """
    Ask over UDP: send a datagram (what it holds does not matter) and take
    the datagram that answers it, asking again, up to L{UDP_TRIES} times in
    all, if none comes.

    @param reactor: resolves C{host} (IPv4), listens and times the tries.
    @return: a Deferred of the quote, as sent; it fails with
        L{ConnectFailed} or L{RequestTimedOut}.
    """
    return Deferred.fromCoroutine(_askUDP(reactor, host, port, timeout))
