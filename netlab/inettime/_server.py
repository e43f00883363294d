"""
The daytime (RFC 867) and time (RFC 868) servers: over a stream, one reply
to each connection, which is then closed; over UDP, one reply datagram to
each datagram, behind netlab's reflection guard.  Whatever a peer sends is
ignored.

The time comes from an injected clock (C{IReactorTime}: the reactor, or a
C{Clock} in tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from twisted.internet.interfaces import IAddress, IReactorTime, ITransport
from twisted.internet.protocol import Protocol, ServerFactory

from netlab.inettime._wire import DAYTIME_PORT, TIME_PORT, formatDaytime, packTime
from netlab.policies import TrafficStats
from netlab.timestamp import TimeFormat, clockTime
from netlab.udp import DatagramGuard, GuardedDatagramProtocol

__all__ = [
    "DaytimeDatagramProtocol",
    "DaytimeFactory",
    "DaytimeProtocol",
    "TimeDatagramProtocol",
    "TimeFactory",
    "TimeProtocol",
]

Reply = Callable[[], bytes]
"""
What makes a server's reply, from its clock's current time.
"""


class _DaytimeReplies:
    """
    Makes daytime replies from a clock, formatting the time at most once per
    second however many replies it makes.
    """

    def __init__(self, clock: IReactorTime, format: TimeFormat, utc: bool) -> None:
        self._clock = clock
        self._format = format
        self._utc = utc
        self._second: int | None = None
        self._line = b""

    def __call__(self) -> bytes:
        second = math.floor(self._clock.seconds())
        if second != self._second:
            self._line = formatDaytime(clockTime(second, self._utc), self._format)
            self._second = second
        return self._line


def _timeReply(clock: IReactorTime) -> Reply:
    return lambda: packTime(clock.seconds())


class _OneReplyProtocol(Protocol):
    """
    Sends its reply as soon as it is connected, then closes; anything the
    peer sends is thrown away.
    """

    transport: ITransport

    def __init__(self, reply: Reply, stats: TrafficStats) -> None:
        """
        @param reply: makes the reply.
        @param stats: counts the reply sent as a message.
        """
        self._reply = reply
        self._stats = stats

    def connectionMade(self) -> None:
        self._stats.messages += 1
        self.transport.write(self._reply())
        self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        """
        Ignore what the peer sends.
        """


class DaytimeProtocol(_OneReplyProtocol):
    """
    Sends the time as one line (RFC 867), then closes.
    """


class TimeProtocol(_OneReplyProtocol):
    """
    Sends the time as 4 bytes (RFC 868), then closes.
    """


class DaytimeFactory(ServerFactory):
    """
    Builds L{DaytimeProtocol}s, for any stream endpoint::

        serverFromString(reactor, "tcp:21513").listen(DaytimeFactory(reactor))

    @ivar stats: the service's counters (see L{netlab.policies}).
    """

    def __init__(
        self,
        clock: IReactorTime,
        format: TimeFormat = TimeFormat.ISO,
        utc: bool = False,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param clock: where the time comes from.
        @param format: how the time is written (see
            L{netlab.inettime.formatDaytime}).
        @param utc: send UTC rather than the local time.
        @param stats: the service's counters; new ones if C{None}.
        """
        self._reply = _DaytimeReplies(clock, format, utc)
        self.stats = stats if stats is not None else TrafficStats("daytime")

    def buildProtocol(self, addr: IAddress | None) -> DaytimeProtocol:
        protocol = DaytimeProtocol(self._reply, self.stats)
        protocol.factory = self
        return protocol


class TimeFactory(ServerFactory):
    """
    Builds L{TimeProtocol}s, for any stream endpoint::

        serverFromString(reactor, "tcp:21537").listen(TimeFactory(reactor))

    @ivar stats: the service's counters (see L{netlab.policies}).
    """

    def __init__(self, clock: IReactorTime, stats: TrafficStats | None = None) -> None:
        """
        @param clock: where the time comes from.
        @param stats: the service's counters; new ones if C{None}.
        """
        self._reply = _timeReply(clock)
        self.stats = stats if stats is not None else TrafficStats("time")

    def buildProtocol(self, addr: IAddress | None) -> TimeProtocol:
        protocol = TimeProtocol(self._reply, self.stats)
        protocol.factory = self
        return protocol


def _defaultGuard(clock: IReactorTime) -> DatagramGuard:
    """
    A guard with its defaults that also refuses the daytime and time ports.
    """
    guard = DatagramGuard(clock)
    guard.servicePorts = guard.servicePorts | {DAYTIME_PORT, TIME_PORT}
    return guard


class _OneReplyDatagramProtocol(GuardedDatagramProtocol):
    """
    Answers each datagram with one reply, unless its L{DatagramGuard}
    refuses it.  What the datagram holds does not matter.
    """

    def __init__(
        self,
        clock: IReactorTime,
        reply: Reply,
        guard: DatagramGuard | None,
        stats: TrafficStats,
    ) -> None:
        super().__init__(clock, guard or _defaultGuard(clock), stats)
        self._reply = reply

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        stats = self.stats
        stats.bytesReceived += len(datagram)
        if self.admit(addr[0], addr[1]):
            reply = self._reply()
            stats.messages += 1
            stats.bytesSent += len(reply)
            self.sendReply(reply, addr)


class DaytimeDatagramProtocol(_OneReplyDatagramProtocol):
    """
    Answers each datagram with the time as one line (RFC 867), unless its
    L{DatagramGuard} refuses it.
    """

    def __init__(
        self,
        clock: IReactorTime,
        format: TimeFormat = TimeFormat.ISO,
        utc: bool = False,
        guard: DatagramGuard | None = None,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param clock: where the time comes from; also paces the guard and
            the logging.
        @param format: how the time is written.
        @param utc: send UTC rather than the local time.
        @param guard: decides which datagrams are answered; if C{None}, one
            with its defaults that also refuses the daytime and time ports.
        @param stats: the service's counters; new ones if C{None}.
        """
        super().__init__(
            clock,
            _DaytimeReplies(clock, format, utc),
            guard,
            stats or TrafficStats("daytime", "udp"),
        )


class TimeDatagramProtocol(_OneReplyDatagramProtocol):
    """
    Answers each datagram with the time as 4 bytes (RFC 868), unless its
    L{DatagramGuard} refuses it.
    """

    def __init__(
        self,
        clock: IReactorTime,
        guard: DatagramGuard | None = None,
        stats: TrafficStats | None = None,
    ) -> None:
        """
        @param clock: where the time comes from; also paces the guard and
            the logging.
        @param guard: decides which datagrams are answered; if C{None}, one
            with its defaults that also refuses the daytime and time ports.
        @param stats: the service's counters; new ones if C{None}.
        """
        super().__init__(
            clock, _timeReply(clock), guard, stats or TrafficStats("time", "udp")
        )
