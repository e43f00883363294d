"""
The timestamp client library: Deferred-returning calls over any stream
endpoint, and over UDP with bounded retransmission.

Nothing here imports or starts the reactor at import time; calls that need
one take it as an argument and fall back to the global reactor only when
called without it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IDelayedCall,
    IReactorTime,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import (
    Factory,
    Protocol,
    connectionDone,
)
from twisted.logger import Logger
from twisted.python.failure import Failure

from netlab._connect import connect
from netlab._lines import LineBuffer
from netlab._pending import PendingReplies
from netlab._udpclient import globalReactor, requestDatagram
from netlab.errors import (
    ConnectionClosed,
    MalformedReply,
    ServerError,
)
from netlab.timestamp._format import TimestampReply, parseStamp
from netlab.timestamp._server import Framing

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_UDP_INTERVAL",
    "DEFAULT_UDP_TRIES",
    "TimestampClient",
    "connectTimestamp",
    "getTimestamp",
    "getTimestampUDP",
]

DEFAULT_TIMEOUT = 10.0
"""
Seconds a stream client waits to connect, and then for each reply.
"""

DEFAULT_UDP_TRIES = 3
"""
How many times a UDP request is sent before giving up.
"""

DEFAULT_UDP_INTERVAL = 1.0
"""
Seconds a UDP client waits for a reply before sending the request again.
"""

_MAX_STAMP = 64
"""
More than the longest stamp in any format, with its brackets.
"""

_LINE_SLACK = 8192
"""
Bytes a line-framed reply may run past the longest request waiting and a
stamp before the client gives up on it.
"""

_SETTLE = 0.05
"""
Seconds a raw client waits, when a reply could end where it stands or go on
with a stamp, for the rest of the stamp before taking the reply as it is.
"""

_log = Logger()


class TimestampClient(Protocol):
    """
    One connection to a timestamp server, on which any number of requests
    can be made; get one with L{connectTimestamp}.

    With L{Framing.LINE} requests are pipelined: each is sent at once and
    the replies come back in order.  With L{Framing.RAW} (the classic
    server) a reply has no end marker, so one request is sent at a time and
    its reply is complete once all of the data has come back stamped; the
    server may have stamped it in several pieces, which are joined.
    """

    transport: ITCPTransport

    def __init__(
        self,
        framing: Framing = Framing.RAW,
        timeout: float = DEFAULT_TIMEOUT,
        clock: IReactorTime | None = None,
    ) -> None:
        """
        @param framing: the framing of the server.
        @param timeout: seconds to wait for each reply.
        @param clock: the clock for timeouts; the global reactor if C{None}.
        """
        self.framing = framing
        self.timeout = timeout
        self._clock: IReactorTime = clock or globalReactor()
        self._replies: PendingReplies[bytes, TimestampReply] = PendingReplies(
            self._clock,
            self._write,
            self._abandoned,
            lambda data, t: f"no reply from the timestamp server in {t:g}s",
            # A raw reply has no end marker: one request at a time.
            window=1 if framing is Framing.RAW else None,
        )
        self._lines = LineBuffer(_LINE_SLACK)
        self._buffer = b""
        self._closeWaiters: list[Deferred[None]] = []
        self._settling: IDelayedCall | None = None
        self._settled = False
        self._lost: Failure | None = None
        self._whyLost: str = "the server closed the connection"

    def request(self, data: bytes) -> Deferred[TimestampReply]:
        """
        Have C{data} stamped.

        @param data: the bytes to stamp; with L{Framing.LINE} they must not
            contain a line feed, and with L{Framing.RAW} they must not be
            empty (an empty send is not a message in TCP).
        @return: a Deferred that fires with the parsed L{TimestampReply}, or
            fails with L{RequestTimedOut}, L{ConnectionClosed},
            L{ServerError} (the server refused the line, for example as too
            long) or L{MalformedReply}.  Cancelling it closes the connection,
            since later replies could no longer be matched to requests.
        @raise ValueError: for data the framing cannot carry.
        """
        if self.framing is Framing.LINE and b"\n" in data:
            raise ValueError("a line-framed request cannot contain a line feed")
        if self.framing is Framing.RAW and not data:
            raise ValueError("a raw request must contain at least one byte")
        # With raw framing the deadline counts from when the request is
        # sent, not from when it was queued behind others.
        return self._replies.push(data, self.timeout)

    def close(self) -> Deferred[None]:
        """
        Close the connection; requests still waiting fail with
        L{ConnectionClosed}.

        @return: a Deferred that fires when the connection is closed.
        """
        if self._lost is not None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._closeWaiters.append(d)
        if len(self._closeWaiters) == 1:
            self._whyLost = "the connection was closed by the client"
            self.transport.loseConnection()
        return d

    def _write(self, data: bytes) -> None:
        self.transport.write(data + b"\n" if self.framing is Framing.LINE else data)

    def _abandoned(self, data: bytes) -> None:
        # Replies cannot be matched to requests once one is abandoned.
        self._whyLost = "the connection was closed after a request timed out"
        self.transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        try:
            if self.framing is Framing.LINE:
                self._receiveLines(data)
            else:
                self._buffer += data
                self._receiveRaw()
        except MalformedReply as e:
            self._malformed(e)

    def _malformed(self, error: MalformedReply) -> None:
        self._stopSettling()
        if self._replies:
            self._replies.fail(error)
        self._whyLost = f"the server sent a malformed reply: {error}"
        self.transport.abortConnection()

    def _receiveLines(self, data: bytes) -> None:
        # A reply is its request's data and a stamp: one far longer than
        # any request waiting is refused rather than held.
        longest = max(map(len, self._replies), default=0)
        self._lines.maxLineLength = longest + _MAX_STAMP + _LINE_SLACK
        lines, _ = self._lines.feed(data)
        for line in lines:
            if line is None:
                raise MalformedReply("the reply line is far longer than any request")
            if not self._replies:
                _log.warn("ignoring a reply to no request: {line!r}", line=line)
            elif line.startswith(b"error: "):
                self._replies.fail(
                    ServerError(line[7:].rstrip(b"\r").decode("utf-8", "replace"))
                )
            else:
                reply = parseStamp(line)
                if reply.data != self._replies.first():
                    raise MalformedReply("the reply does not echo the request", line)
                self._replies.resolve(reply)

    def _receiveRaw(self) -> None:
        # The reply is [stamp] piece [stamp] piece ..., the pieces joined
        # being the request's data: the server stamps each chunk it reads,
        # and a chunk is never empty.  Every "[" after the first stamp may
        # start a new stamp or be part of the data; data may even contain
        # text that looks like a stamp.  So the reply is matched against the
        # data sent, trying both readings at each "[" (see _matchRaw), each
        # time more of it arrives.
        if not self._replies:
            if self._buffer:
                _log.warn("ignoring {n} bytes sent unasked", n=len(self._buffer))
                self._buffer = b""
            return
        expected = self._replies.first()
        end, more, first = _matchRaw(self._buffer, expected)
        if end is None:
            if not more:
                raise MalformedReply("the reply does not echo the request")
            # No length check is needed: a reading that still needs more
            # has matched data all along, and every stamp in it is followed
            # by some, so the buffer stays within a stamp per byte sent.
            return
        if more and not self._settled:
            # Complete if the data ends here, but a stamp may be starting
            # too (data ending in "[", split by the server just before it):
            # the rest of a stamp arrives at once if it comes at all, so
            # wait a moment before taking the reply as it is.
            if self._settling is None:
                self._settling = self._clock.callLater(_SETTLE, self._settle)
            return
        self._stopSettling()
        assert first is not None
        self._buffer = self._buffer[end:]
        # The next request, if any, is sent as this one is answered.
        self._replies.resolve(TimestampReply(first.when, expected, first.format))
        self._receiveRaw()

    def _settle(self) -> None:
        self._settling = None
        self._settled = True
        try:
            self._receiveRaw()
        except MalformedReply as e:
            self._malformed(e)
        finally:
            self._settled = False

    def _stopSettling(self) -> None:
        if self._settling is not None:
            if self._settling.active():
                self._settling.cancel()
            self._settling = None

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = reason
        self._stopSettling()
        self._replies.failAll(lambda: ConnectionClosed(self._whyLost))
        waiters, self._closeWaiters = self._closeWaiters, []
        for d in waiters:
            d.callback(None)


def _matchRaw(
    reply: bytes, expected: bytes
) -> tuple[int | None, bool, TimestampReply | None]:
    """
    Match a raw-framed reply against the data that was sent.

    @return: C{(end, more, firstStamp)}: C{end} is where the longest
        complete reading of the reply ends in C{reply}, or C{None} if there
        is none; C{more} is whether another reading needs more bytes.
    """
    first: TimestampReply | None = None
    more = False
    complete: int | None = None
    seen: set[tuple[int, int, bool]] = set()
    # (position in reply, position in expected, just after a stamp)
    stack = [(0, 0, True)]
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        i, j, afterStamp = state
        if j == len(expected) and not afterStamp:
            complete = i if complete is None else max(complete, i)
            continue
        if i == len(reply):
            more = True
            continue
        # A stamp: always at the start, never twice in a row.
        if (i == 0 or not afterStamp) and reply[i : i + 1] == b"[":
            end = reply.find(b"] ", i, i + _MAX_STAMP)
            if end >= 0:
                stamp = _stamp(reply[i : end + 2])
                if stamp is not None:
                    if i == 0:
                        first = stamp
                    stack.append((end + 2, j, True))
            elif len(reply) - i < _MAX_STAMP:
                more = True
        # Data, up to the next "[", where both readings are tried again.
        if i > 0:
            nextBracket = reply.find(b"[", i + 1)
            stop = len(reply) if nextBracket < 0 else nextBracket
            n = _commonPrefix(reply[i:stop], expected, j)
            if n and (i + n == stop or j + n == len(expected)):
                stack.append((i + n, j + n, False))
    return complete, more, first


def _stamp(prefix: bytes) -> TimestampReply | None:
    """
    @return: the stamp if C{prefix} is a whole, valid C{[stamp] }, else
        C{None}.
    """
    try:
        stamp = parseStamp(prefix)
    except MalformedReply:
        return None
    return stamp if stamp.data == b"" else None


def _commonPrefix(buffer: bytes, expected: bytes, offset: int) -> int:
    """
    @return: how many bytes at the start of C{buffer} equal those of
        C{expected} from C{offset} on.
    """
    n = min(len(buffer), len(expected) - offset)
    if expected.startswith(buffer[:n], offset):
        return n
    low, high = 0, n  # buffer[:low] matches, buffer[:high] does not
    while high - low > 1:
        middle = (low + high) // 2
        if expected.startswith(buffer[:middle], offset):
            low = middle
        else:
            high = middle
    return low


def connectTimestamp(
    endpoint: IStreamClientEndpoint,
    framing: Framing = Framing.RAW,
    timeout: float = DEFAULT_TIMEOUT,
    clock: IReactorTime | None = None,
) -> Deferred[TimestampClient]:
    """
    Connect to a timestamp server.

    @param endpoint: where the server is, for example
        C{HostnameEndpoint(reactor, "localhost", 21567)} or
        C{clientFromString(reactor, "tcp:localhost:21567")}.
    @param framing: the server's framing; L{Framing.RAW} is the default of
        C{twistd netlab tsserv}.
    @param timeout: seconds to wait for the connection, and then for each
        reply.
    @param clock: the clock for timeouts; the global reactor if C{None}.
    @return: a Deferred that fires with a connected L{TimestampClient}, or
        fails with L{ConnectFailed} or L{RequestTimedOut}.
    """
    clock = clock or globalReactor()
    factory = Factory.forProtocol(lambda: TimestampClient(framing, timeout, clock))
    return connect(endpoint, factory, timeout, clock, "timestamp server")


def getTimestamp(
    endpoint: IStreamClientEndpoint,
    data: bytes,
    framing: Framing = Framing.RAW,
    timeout: float = DEFAULT_TIMEOUT,
    clock: IReactorTime | None = None,
) -> Deferred[TimestampReply]:
    """
    Connect, have C{data} stamped once, and disconnect.

    From C{async def} code: C{reply = await getTimestamp(endpoint, b"hi")}.

    @param endpoint: where the server is (see L{connectTimestamp}).
    @param data: the bytes to stamp (see L{TimestampClient.request}).
    @param framing: the server's framing.
    @param timeout: seconds for the connection and for the reply.
    @param clock: the clock for timeouts; the global reactor if C{None}.
    @return: a Deferred that fires with the L{TimestampReply}, or fails with
        one of netlab's errors (see L{connectTimestamp} and
        L{TimestampClient.request}).
    """

    async def once() -> TimestampReply:
        client = await connectTimestamp(endpoint, framing, timeout, clock)
        try:
            return await client.request(data)
        finally:
            await client.close()

    return Deferred.fromCoroutine(once())


def getTimestampUDP(
    host: str,
    port: int,
    data: bytes,
    reactor: Any = None,
    tries: int = DEFAULT_UDP_TRIES,
    interval: float = DEFAULT_UDP_INTERVAL,
) -> Deferred[TimestampReply]:
    """
    Have C{data} stamped by a UDP timestamp server.

    The request is sent up to C{tries} times, C{interval} seconds apart,
    until a reply comes; so the call takes at most C{tries * interval}
    seconds.

    @param host: the server's IPv4 or IPv6 address, or a host name (looked
        up with the reactor's resolver, IPv4).
    @param port: the server's UDP port.
    @param data: the bytes to stamp, one datagram's worth.
    @param reactor: an C{IReactorUDP} and C{IReactorTime} provider; the
        global reactor if C{None}.
    @param tries: how many times to send the request, at least 1.
    @param interval: seconds to wait for a reply after each send.
    @return: a Deferred that fires with the L{TimestampReply}, or fails with
        L{RequestTimedOut}, L{ConnectFailed} (no such host, or the port is
        unreachable) or L{MalformedReply}.
    @raise ValueError: if C{tries} is less than 1.
    """

    def accept(datagram: bytes) -> TimestampReply:
        reply = parseStamp(datagram)
        if reply.data != data:
            raise MalformedReply("the reply does not echo the request", datagram)
        return reply

    return requestDatagram(host, port, data, accept, reactor, tries, interval)
