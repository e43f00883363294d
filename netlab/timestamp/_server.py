"""
The timestamp server: TCP protocols for both framings, the UDP protocol,
and the factory.
"""

from __future__ import annotations

import enum
import functools

from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IReactorTime,
    ITCPTransport,
)
from twisted.internet.protocol import (
    Protocol,
    ServerFactory,
    connectionDone,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from netlab._flow import (
    closeWhenWritten,
    directWriter,
    pauseReadingWhenBacklogged,
)
from netlab._lines import LineBuffer
from netlab._peer import formatHostPort, formatPeer
from netlab._ratelog import RateLimitedLog
from netlab._udpguard import DatagramGuard
from netlab._udpserver import GuardedDatagramProtocol
from netlab.policies import TrafficStats
from netlab.timestamp._format import Stamper, TimeFormat

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_REPLY_SIZE",
    "DEFAULT_PORT",
    "Framing",
    "LineTimestampProtocol",
    "RawTimestampProtocol",
    "TimestampDatagramProtocol",
    "TimestampFactory",
]

DEFAULT_PORT = 21567
"""
The port of the classic C{tsTserv}/C{tsUserv} exercises, for TCP and UDP.
"""

DEFAULT_MAX_LINE_LENGTH = 8192
"""
The longest line, in bytes without its line ending, that line framing
stamps; longer lines are answered with an error line and discarded.
"""

DEFAULT_MAX_REPLY_SIZE = 65507
"""
The largest UDP reply, in bytes: the most an IPv4 UDP datagram can carry.
"""

_log = Logger()


class Framing(enum.Enum):
    """
    How a TCP timestamp server splits what it receives into requests.
    """

    RAW = "raw"
    """
    The classic behaviour: every chunk of bytes that arrives is stamped and
    sent back as it is.  TCP keeps no message boundaries, so what a chunk
    is depends on the network; fine for one short message at a time.
    """

    LINE = "line"
    """
    One stamped reply line per received line, in order.
    """


@functools.lru_cache(maxsize=16)
def _tooLongLine(maxLineLength: int) -> bytes:
    # One per limit, shared by the connections: an idle connection costs
    # less.
    return b"error: line longer than %d bytes; it was discarded\n" % maxLineLength


@implementer(IHalfCloseableProtocol)
class RawTimestampProtocol(Protocol):
    """
    Stamps each chunk of bytes as it arrives: C{b"hello"} is answered with
    C{b"[Sat Nov 21 23:46:13 2026] hello"}, no line ending added.
    """

    transport: ITCPTransport

    def __init__(self, stamper: Stamper, stats: TrafficStats | None = None) -> None:
        """
        @param stamper: makes the stamps (shared by a service's connections).
        @param stats: counts each chunk received as a message.
        """
        self._stamper = stamper
        self._stats = stats if stats is not None else TrafficStats("tsserv")

    def _write(self, data: bytes) -> None:
        # Until connectionMade picks a direct writer.
        self.transport.write(data)

    def connectionMade(self) -> None:
        pauseReadingWhenBacklogged(self.transport)
        self._write = directWriter(self.transport)  # type: ignore[method-assign,assignment]

    def dataReceived(self, data: bytes) -> None:
        self._stats.messages += 1
        self._write(self._stamper.stamp(data))

    def readConnectionLost(self) -> None:
        """
        The peer will send no more: close once every reply is written.
        """
        closeWhenWritten(self.transport)

    def writeConnectionLost(self) -> None:
        """
        The peer will read no more: nothing left to do but close.
        """
        closeWhenWritten(self.transport)


@implementer(IHalfCloseableProtocol)
class LineTimestampProtocol(Protocol):
    """
    Answers each line with one stamped line, in order.

    A line ends with LF; a CR just before the LF is part of the line ending,
    and the reply ends the way the request did (C{b"hi\\r\\n"} gets
    C{b"[...] hi\\r\\n"}).  A line longer than C{maxLineLength} bytes
    (not counting its ending) is discarded whole and answered, in its place,
    with one line starting with C{b"error: "}, so that replies stay one per
    request.  A last line with no ending, followed by the peer closing its
    sending side, is answered too (with LF).
    """

    transport: ITCPTransport

    def __init__(
        self,
        stamper: Stamper,
        maxLineLength: int = DEFAULT_MAX_LINE_LENGTH,
        tooLongLog: RateLimitedLog | None = None,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param stamper: makes the stamps (shared by a service's connections).
        @param maxLineLength: the longest line answered, in bytes.
        @param tooLongLog: where over-long lines are reported.
        @param stats: counts each line received as a message.
        """
        self._stamper = stamper
        self._stats = stats if stats is not None else TrafficStats("tsserv")
        self.maxLineLength = maxLineLength
        self._tooLongLog = tooLongLog or RateLimitedLog(_log, stamper.clock)
        self._lines = LineBuffer(maxLineLength)
        self._tooLong = _tooLongLine(maxLineLength)

    def _write(self, data: bytes) -> None:
        # Until connectionMade picks a direct writer.
        self.transport.write(data)

    def connectionMade(self) -> None:
        pauseReadingWhenBacklogged(self.transport)
        self._write = directWriter(self.transport)  # type: ignore[method-assign,assignment]

    def dataReceived(self, data: bytes) -> None:
        lines, overlong = self._lines.feed(data)
        if lines:
            self._stats.messages += len(lines)
            prefix = self._stamper.prefix()
            if not overlong:
                # The common case, in one join: every line fits.
                self._write(prefix + (b"\n" + prefix).join(lines) + b"\n")  # type: ignore[arg-type]
            else:
                self._write(b"".join(self._answer(prefix, lines)))

    def _answer(self, prefix: bytes, lines: list[bytes | None]) -> list[bytes]:
        out = []
        for line in lines:
            if line is None:
                out.append(self._tooLong)
                self._logTooLong()
            else:
                out.append(prefix + line + b"\n")
        return out

    def _logTooLong(self) -> None:
        self._tooLongLog.warn(
            "discarded a line longer than {limit} bytes from {peer}",
            limit=self.maxLineLength,
            peer=formatPeer(self.transport),
        )

    def readConnectionLost(self) -> None:
        """
        The peer will send no more: answer a last unterminated line, then
        close once every reply is written.
        """
        last = self._lines.pending()
        if last:
            self._write(self._stamper.stamp(last) + b"\n")
        self._lines.clear()
        closeWhenWritten(self.transport)

    def writeConnectionLost(self) -> None:
        """
        The peer will read no more: nothing left to do but close.
        """
        closeWhenWritten(self.transport)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lines.clear()


class TimestampFactory(ServerFactory):
    """
    Builds timestamp protocols for a stream service (TCP, TLS, UNIX...).

    Embed it like any factory::

        endpoint = serverFromString(reactor, "tcp:21567")
        endpoint.listen(TimestampFactory(reactor))
    """

    def __init__(
        self,
        clock: IReactorTime,
        format: TimeFormat = TimeFormat.CTIME,
        utc: bool = False,
        framing: Framing = Framing.RAW,
        maxLineLength: int = DEFAULT_MAX_LINE_LENGTH,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param clock: the time to stamp (usually the reactor).
        @param format: the time format.
        @param utc: stamp UTC rather than local time.
        @param framing: L{Framing.RAW} (the classic) or L{Framing.LINE}.
        @param maxLineLength: the longest line line framing answers.
        @param stats: the service's counters (see L{netlab.policies}); new
            ones if C{None}.
        @raise ValueError: if C{maxLineLength} is less than 1.
        """
        if maxLineLength < 1:
            raise ValueError("maxLineLength must be at least 1")
        self.stats = stats if stats is not None else TrafficStats("tsserv")
        self.stamper = Stamper(clock, format, utc)
        self.framing = framing
        self.maxLineLength = maxLineLength
        self._tooLongLog = RateLimitedLog(_log, clock)

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        protocol: Protocol
        if self.framing is Framing.LINE:
            protocol = LineTimestampProtocol(
                self.stamper, self.maxLineLength, self._tooLongLog, self.stats
            )
        else:
            protocol = RawTimestampProtocol(self.stamper, self.stats)
        protocol.factory = self
        return protocol


class TimestampDatagramProtocol(GuardedDatagramProtocol):
    """
    Answers each datagram with one datagram, C{[stamp] data}, to its sender,
    unless its L{DatagramGuard} refuses it (privileged or own source port,
    a source that is not a single host, over a rate: see
    L{netlab._udpguard}).

    A datagram whose reply would be larger than C{maxReplySize} is not
    answered; that is logged, at most once every ten seconds with a count.
    Listen with C{maxPacketSize} of at least C{maxReplySize} (the plugin
    uses 65536) so that large datagrams are not cut short before they get
    here.
    """

    def __init__(
        self,
        clock: IReactorTime,
        format: TimeFormat = TimeFormat.CTIME,
        utc: bool = False,
        maxReplySize: int = DEFAULT_MAX_REPLY_SIZE,
        guard: DatagramGuard | None = None,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param clock: the time to stamp (usually the reactor).
        @param format: the time format.
        @param utc: stamp UTC rather than local time.
        @param maxReplySize: the largest reply sent, in bytes.
        @param guard: decides which datagrams are answered; a
            L{DatagramGuard} with its defaults if C{None}.
        @param stats: the service's counters; new ones if C{None}.
        """
        super().__init__(clock, guard, stats or TrafficStats("tsuserv", "udp"))
        self.stamper = Stamper(clock, format, utc)
        self.maxReplySize = maxReplySize
        self._oversizeLog = RateLimitedLog(_log, clock)

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        stats = self.stats
        stats.bytesReceived += len(datagram)
        if not self.admit(addr[0], addr[1]):
            return
        reply = self.stamper.stamp(datagram)
        if len(reply) > self.maxReplySize:
            self._oversizeLog.warn(
                "not answering a {size}-byte datagram from {peer}: its "
                "reply would be larger than {limit} bytes",
                size=len(datagram),
                peer=formatHostPort(addr[0], addr[1]),
                host=addr[0],
                port=addr[1],
                limit=self.maxReplySize,
            )
            return
        stats.messages += 1
        stats.bytesSent += len(reply)
        self.sendReply(reply, addr)
