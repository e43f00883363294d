"""
The daytime (RFC 867) and time (RFC 868) client library: Deferred-returning
calls over any stream endpoint, and over UDP with bounded retransmission.

Both protocols answer without being asked: on a stream, the server sends
its reply as soon as the connection is made and then closes it, so a
client reads until the end of the stream; over UDP, any datagram (netlab
sends an empty one, as RFC 868 says) is answered with one datagram.

Nothing here imports or starts the reactor at import time; calls that need
one take it as an argument and fall back to the global reactor only when
called without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IReactorTime,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from netlab._connect import connect
from netlab._udpclient import globalReactor, requestDatagram
from netlab.errors import ConnectionClosed, MalformedReply, RequestTimedOut
from netlab.inettime._wire import DaytimeReply, parseDaytime, unpackTime

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_UDP_INTERVAL",
    "DEFAULT_UDP_TRIES",
    "MAX_DAYTIME_REPLY",
    "getDaytime",
    "getDaytimeUDP",
    "getTime",
    "getTimeUDP",
]

DEFAULT_TIMEOUT = 10.0
"""
Seconds a stream client waits to connect, and then for the reply.
"""

DEFAULT_UDP_TRIES = 3
"""
How many times a UDP request is sent before giving up.
"""

DEFAULT_UDP_INTERVAL = 1.0
"""
Seconds a UDP client waits for a reply before sending the request again.
"""

MAX_DAYTIME_REPLY = 256
"""
The longest daytime reply accepted, in bytes: a date on one line is far
shorter, so anything longer is not a daytime server talking.
"""

_TIME_REPLY = 4
"""
The length of a time reply: a 32-bit count of seconds.
"""

_UDP_REQUEST = b""
"""
What a UDP client sends: RFC 868 asks for an empty datagram, and RFC 867
answers any.
"""

_T = TypeVar("_T")


class _WholeReply(Protocol):
    """
    Reads what the server sends until it closes the connection, up to a
    bound: the whole of a daytime or time reply.

    @ivar reply: fires with the bytes received once the server has closed
        the connection, or fails with L{MalformedReply} as soon as more
        than the bound has arrived, or L{ConnectionClosed} if nothing did.
        Cancelling it aborts the connection.
    """

    transport: ITCPTransport

    def __init__(self, maxSize: int, server: str) -> None:
        """
        @param maxSize: the most bytes a reply may have.
        @param server: what the errors call the server, e.g.
            C{"daytime server"}.
        """
        self._maxSize = maxSize
        self._server = server
        self._received = bytearray()
        self.reply: Deferred[bytes] = Deferred(lambda d: self._abort())

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        if self.reply.called:
            return
        self._received += data
        if len(self._received) > self._maxSize:
            self.reply.errback(
                MalformedReply(
                    f"the {self._server} sent more than the {self._maxSize} "
                    "bytes a reply may have",
                    bytes(self._received[: self._maxSize + 1]),
                )
            )
            self._abort()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.reply.called:
            return
        if not self._received:
            self.reply.errback(
                ConnectionClosed(
                    f"the {self._server} closed the connection without a reply"
                )
            )
        else:
            self.reply.callback(bytes(self._received))


def _readReply(
    endpoint: IStreamClientEndpoint,
    maxSize: int,
    server: str,
    timeout: float,
    clock: IReactorTime,
    parse: Callable[[bytes], _T],
) -> Deferred[_T]:
    """
    Connect, read the whole reply, and parse it.

    @param parse: turns the reply into the result, or raises
        L{MalformedReply}.
    @return: a Deferred of what C{parse} returned, or failing with
        L{ConnectFailed} or L{RequestTimedOut} (connecting),
        L{RequestTimedOut} (no end of the reply within C{timeout} seconds
        of connecting), L{ConnectionClosed} or L{MalformedReply}.
    """

    def timedOut(result: object, timeout: float) -> Failure:
        return Failure(
            RequestTimedOut(f"no whole reply from the {server} in {timeout:g}s")
        )

    async def once() -> _T:
        factory = Factory.forProtocol(lambda: _WholeReply(maxSize, server))
        protocol: _WholeReply = await connect(endpoint, factory, timeout, clock, server)
        reply = protocol.reply
        reply.addTimeout(timeout, clock, timedOut)
        return parse(await reply)

    return Deferred.fromCoroutine(once())


def _parseDaytimeReply(reply: bytes) -> DaytimeReply:
    """
    @return: a daytime reply, parsed, once it is known to be short enough.
    @raise MalformedReply: if it is too long or not a time.
    """
    if len(reply) > MAX_DAYTIME_REPLY:
        raise MalformedReply(
            f"the daytime reply is longer than {MAX_DAYTIME_REPLY} bytes",
            reply[: MAX_DAYTIME_REPLY + 1],
        )
    return parseDaytime(reply)


def getDaytime(
    endpoint: IStreamClientEndpoint,
    timeout: float = DEFAULT_TIMEOUT,
    clock: IReactorTime | None = None,
) -> Deferred[DaytimeReply]:
    """
    Ask a daytime server (RFC 867) the time: connect, read its one line
    until it closes the connection, and parse it.

    From C{async def} code: C{reply = await getDaytime(endpoint)}.

    @param endpoint: where the server is, for example
        C{HostnameEndpoint(reactor, "localhost", 21513)}.
    @param timeout: seconds to wait for the connection, and then for the
        whole reply.
    @param clock: the clock for timeouts; the global reactor if C{None}.
    @return: a Deferred that fires with the L{DaytimeReply}, or fails with
        L{ConnectFailed} (nothing listening, no such host),
        L{RequestTimedOut}, L{ConnectionClosed} (closed without a word) or
        L{MalformedReply} (not a time in a format netlab knows, or longer
        than L{MAX_DAYTIME_REPLY}).  Cancelling it closes the connection.
    """
    return _readReply(
        endpoint,
        MAX_DAYTIME_REPLY,
        "daytime server",
        timeout,
        clock or globalReactor(),
        _parseDaytimeReply,
    )


def getTime(
    endpoint: IStreamClientEndpoint,
    timeout: float = DEFAULT_TIMEOUT,
    clock: IReactorTime | None = None,
) -> Deferred[float]:
    """
    Ask a time server (RFC 868) the time: connect, read its 4 bytes until
    it closes the connection, and decode them.

    The reply counts seconds since 1900 modulo 2**32, so it names one time
    every 136 years: the one taken is the closest to C{clock}'s time when
    the reply arrives, right across the wrap of 2036-02-07T06:28:16Z.

    @param endpoint: where the server is, for example
        C{HostnameEndpoint(reactor, "localhost", 21537)}.
    @param timeout: seconds to wait for the connection, and then for the
        whole reply.
    @param clock: the clock for timeouts and for choosing the era; the
        global reactor if C{None}.
    @return: a Deferred that fires with the server's time in seconds since
        the POSIX epoch (whole seconds), or fails with L{ConnectFailed},
        L{RequestTimedOut}, L{ConnectionClosed} or L{MalformedReply} (not
        exactly 4 bytes).  Cancelling it closes the connection.
    """
    theClock = clock or globalReactor()
    return _readReply(
        endpoint,
        _TIME_REPLY,
        "time server",
        timeout,
        theClock,
        lambda reply: unpackTime(reply, theClock.seconds()),
    )


def getDaytimeUDP(
    host: str,
    port: int,
    reactor: Any = None,
    tries: int = DEFAULT_UDP_TRIES,
    interval: float = DEFAULT_UDP_INTERVAL,
) -> Deferred[DaytimeReply]:
    """
    Ask a UDP daytime server (RFC 867) the time.

    An empty datagram is sent up to C{tries} times, C{interval} seconds
    apart, until a reply comes; so the call takes at most
    C{tries * interval} seconds.

    @param host: the server's IPv4 or IPv6 address, or a host name (looked
        up with the reactor's resolver, IPv4).
    @param port: the server's UDP port.
    @param reactor: an C{IReactorUDP} and C{IReactorTime} provider; the
        global reactor if C{None}.
    @param tries: how many times to send the request, at least 1.
    @param interval: seconds to wait for a reply after each send.
    @return: a Deferred that fires with the L{DaytimeReply}, or fails with
        L{RequestTimedOut}, L{ConnectFailed} (no such host, or the port is
        unreachable) or L{MalformedReply}.
    @raise ValueError: if C{tries} is less than 1.
    """
    return requestDatagram(
        host, port, _UDP_REQUEST, _parseDaytimeReply, reactor, tries, interval
    )


def getTimeUDP(
    host: str,
    port: int,
    reactor: Any = None,
    tries: int = DEFAULT_UDP_TRIES,
    interval: float = DEFAULT_UDP_INTERVAL,
) -> Deferred[float]:
    """
    Ask a UDP time server (RFC 868) the time, as L{getDaytimeUDP} asks a
    daytime server; the era is chosen as L{getTime} does, with the
    reactor's clock.

    @return: a Deferred that fires with the server's time in seconds since
        the POSIX epoch, or fails with L{RequestTimedOut}, L{ConnectFailed}
        or L{MalformedReply} (a datagram that is not exactly 4 bytes).
    @raise ValueError: if C{tries} is less than 1.
    """
    if reactor is None:
        reactor = globalReactor()
    clock: IReactorTime = reactor
    return requestDatagram(
        host,
        port,
        _UDP_REQUEST,
        lambda reply: unpackTime(reply, clock.seconds()),
        reactor,
        tries,
        interval,
    )
