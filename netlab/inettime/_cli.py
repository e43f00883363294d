"""
C{netlab daytime} and C{netlab time}: the client commands of the daytime
(RFC 867) and time (RFC 868) services.

Each asks the server the time once, over TCP (or any stream endpoint) or
with C{--udp}, and prints it with its offset from this machine's clock.
Registered in the entry point group C{netlab.clients} as L{daytimeClient}
and L{timeClient}.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from typing import Any, TypeVar, cast

from twisted.internet.defer import Deferred
from twisted.python import usage

from netlab._clientoptions import (
    ConnectionOptions,
    connectionParameters,
    udpParameters,
)
from netlab._options import TLS_FLAGS, clientEndpoint
from netlab.inettime._client import (
    DEFAULT_TIMEOUT,
    DEFAULT_UDP_INTERVAL,
    DEFAULT_UDP_TRIES,
    getDaytime,
    getDaytimeUDP,
    getTime,
    getTimeUDP,
)
from netlab.inettime._wire import DAYTIME_PORT, TIME_PORT
from netlab.service import NetlabClient

_T = TypeVar("_T")

__all__ = [
    "DaytimeClientOptions",
    "TimeClientOptions",
    "daytimeClient",
    "describeTime",
    "runDaytime",
    "runTime",
    "timeClient",
]

ZONE_TAKEN_AS_UTC = "the server's reply gave no time zone: it was taken as UTC"
"""
The line C{netlab daytime} adds when the reply carried no zone.
"""

_RESOLUTION_NOTE = (
    " The server gives whole seconds, so an offset of less than a second is "
    "within what the protocol can tell."
)


class _InetTimeOptions(ConnectionOptions):
    """
    What C{netlab daytime} and C{netlab time} share: C{--udp} and C{--tls};
    each adds the rows of L{connectionParameters} with its own port.
    """

    optFlags: list[list[Any]] = [
        ["udp", "u", "Use UDP: one datagram each way."],
        *TLS_FLAGS,
    ]


class DaytimeClientOptions(_InetTimeOptions):
    """
    C{netlab daytime}: ask a daytime server (RFC 867) the time.
    """

    synopsis = "[options]"
    longdesc = (
        "Ask a daytime server (RFC 867) the time, and print it in UTC and in "
        "this machine's zone, with how far it is from this machine's clock. "
        "Replies in netlab's formats (iso, ctime, unix) and xinetd's are "
        "understood; a ctime reply, which has no zone, is taken as UTC."
        + _RESOLUTION_NOTE
    )
    optParameters = [
        *connectionParameters(DAYTIME_PORT, DEFAULT_TIMEOUT, udp=True),
        *udpParameters(DEFAULT_UDP_TRIES, DEFAULT_UDP_INTERVAL),
    ]


class TimeClientOptions(_InetTimeOptions):
    """
    C{netlab time}: ask a time server (RFC 868) the time.
    """

    synopsis = "[options]"
    longdesc = (
        "Ask a time server (RFC 868, as rdate does) the time, and print it in "
        "UTC and in this machine's zone, with how far it is from this "
        "machine's clock." + _RESOLUTION_NOTE
    )
    optParameters = [
        *connectionParameters(TIME_PORT, DEFAULT_TIMEOUT, udp=True),
        *udpParameters(DEFAULT_UDP_TRIES, DEFAULT_UDP_INTERVAL),
    ]


def describeTime(server: datetime, local: float, zone: tzinfo | None = None) -> str:
    """
    Say what time a server gave and how far it is from this machine's clock,
    e.g. C{2026-12-03T14:40:07+00:00 (server; 2026-12-03T15:40:07+01:00
    local), 0.4 s behind this machine's clock}.

    @param server: the server's time, aware.
    @param local: this machine's clock when the reply came, in seconds since
        the POSIX epoch.
    @param zone: this machine's zone; the local zone of this process if
        C{None}.
    @return: one line, without a line ending.
    """
    utc = server.astimezone(timezone.utc).isoformat()
    here = server.astimezone(zone).isoformat()
    offset = server.timestamp() - local
    size = f"{abs(offset):.1f} s"
    if size == "0.0 s":
        relation = "in step with"
    elif offset < 0:
        relation = f"{size} behind"
    else:
        relation = f"{size} ahead of"
    return f"{utc} (server; {here} local), {relation} this machine's clock"


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _ask(
    reactor: Any,
    options: usage.Options,
    stream: Callable[..., Deferred[_T]],
    datagram: Callable[..., Deferred[_T]],
) -> Deferred[_T]:
    """
    Ask the server C{options} name, over UDP with C{--udp} (C{datagram},
    with its tries and interval), else over a stream (C{stream}, with the
    endpoint and C{--timeout}).
    """
    if options["udp"]:
        return datagram(
            options["host"],
            options["port"],
            reactor=reactor,
            tries=options["tries"],
            interval=options["interval"],
        )
    return stream(clientEndpoint(reactor, options), options["timeout"], reactor)


async def runDaytime(reactor: Any, options: DaytimeClientOptions) -> int:
    """
    Run C{netlab daytime}: ask the server the time and print it.

    @param reactor: the running reactor, whose clock is this machine's.
    @return: the exit status, 0.
    @raise netlab.errors.NetlabError: if talking to the server failed.
    """
    reply = await _ask(reactor, options, getDaytime, getDaytimeUDP)
    when = reply.when
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    _print(describeTime(when, reactor.seconds()))
    if not reply.zoneKnown:
        _print(ZONE_TAKEN_AS_UTC)
    return 0


async def runTime(reactor: Any, options: TimeClientOptions) -> int:
    """
    Run C{netlab time}: ask the server the time and print it.

    @param reactor: the running reactor, whose clock is this machine's.
    @return: the exit status, 0.
    @raise netlab.errors.NetlabError: if talking to the server failed.
    """
    seconds = await _ask(reactor, options, getTime, getTimeUDP)
    when = datetime.fromtimestamp(seconds, timezone.utc)
    _print(describeTime(when, reactor.seconds()))
    return 0


def _runDaytime(reactor: Any, options: usage.Options) -> Deferred[int]:
    return Deferred.fromCoroutine(
        runDaytime(reactor, cast(DaytimeClientOptions, options))
    )


def _runTime(reactor: Any, options: usage.Options) -> Deferred[int]:
    return Deferred.fromCoroutine(runTime(reactor, cast(TimeClientOptions, options)))


daytimeClient = NetlabClient(
    "Ask a daytime server (RFC 867) the time.", DaytimeClientOptions, _runDaytime
)
"""
C{netlab daytime}, as the entry point C{netlab.clients} names it.
"""

timeClient = NetlabClient(
    "Ask a time server (RFC 868) the time.", TimeClientOptions, _runTime
)
"""
C{netlab time}, as the entry point C{netlab.clients} names it.
"""
