"""
C{twistd netlab tsserv} and C{twistd netlab tsuserv}: the timestamp
services' options and how they are built, registered as the entry points
C{tsserv} and C{tsuserv} of the group C{netlab.services}.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from netlab._options import choice, positiveInt
from netlab.policies import TrafficStats
from netlab.service import (
    IServiceContext,
    NetlabService,
    ServiceOptions,
    StreamOptions,
    datagramParameters,
    idleTimeoutParameter,
)
from netlab.timestamp._format import TimeFormat
from netlab.timestamp._server import (
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_REPLY_SIZE,
    DEFAULT_PORT,
    Framing,
    TimestampDatagramProtocol,
    TimestampFactory,
)

__all__ = ["TimestampServerOptions", "TimestampUDPOptions", "tsserv", "tsuserv"]


class _TimestampOptions(usage.Options):
    """
    The options of both timestamp services.
    """

    optFlags: list[list[Any]] = [["utc", None, "Stamp UTC instead of the local time."]]
    optParameters: list[list[Any]] = [
        [
            "format",
            None,
            TimeFormat.CTIME.value,
            "How to write the time: ctime (Sat Nov 21 23:46:13 2026), iso "
            "(2026-11-21T23:46:13+01:00) or unix (seconds since 1970).",
            choice(TimeFormat),
        ],
    ]

    def postOptions(self) -> None:
        super().postOptions()
        self["format"] = TimeFormat(self["format"])


class TimestampServerOptions(StreamOptions, _TimestampOptions):
    """
    C{twistd netlab tsserv}: the timestamp service over TCP.
    """

    synopsis = "[--listen ENDPOINT]... [--framing raw|line] [--format FORMAT] [--utc]"
    longdesc = (
        "Answer what a client sends with '[<time>] <data>', as the classic "
        "tsTserv does. Listens on tcp:21567 unless told otherwise."
    )
    defaultListen = [f"tcp:{DEFAULT_PORT}"]

    def postOptions(self) -> None:
        super().postOptions()
        self["framing"] = Framing(self["framing"])

    optParameters: list[list[Any]] = [
        [
            "framing",
            None,
            Framing.RAW.value,
            "raw: stamp each chunk as it arrives (the classic, for one short "
            "message at a time); line: one stamped line per line received.",
            choice(Framing),
        ],
        [
            "max-line-length",
            None,
            DEFAULT_MAX_LINE_LENGTH,
            "With --framing line, the longest line answered, in bytes; "
            "longer ones get an error line and are discarded.",
            positiveInt,
        ],
        idleTimeoutParameter(),
    ]


class TimestampUDPOptions(ServiceOptions, _TimestampOptions):
    """
    C{twistd netlab tsuserv}: the timestamp service over UDP.
    """

    optParameters = datagramParameters(DEFAULT_PORT)

    synopsis = "[--udp-port N] [--udp-interface ADDR] [--format FORMAT] [--utc]"
    longdesc = (
        "Answer each datagram with one datagram, '[<time>] <data>', as the "
        "classic tsUserv does. Listens on UDP port 21567 unless told otherwise."
    )


def _buildStream(
    options: usage.Options, context: IServiceContext
) -> Iterable[IService]:
    factory = TimestampFactory(
        context.reactor,
        format=options["format"],
        utc=options["utc"],
        framing=options["framing"],
        maxLineLength=options["max-line-length"],
        stats=TrafficStats(context.name),
    )
    return context.listen(factory, options)


def _buildDatagram(
    options: usage.Options, context: IServiceContext
) -> Iterable[IService]:
    protocol = TimestampDatagramProtocol(
        context.reactor,
        format=options["format"],
        utc=options["utc"],
        maxReplySize=DEFAULT_MAX_REPLY_SIZE,
        guard=context.datagramGuard(options),
        stats=TrafficStats(context.name, "udp"),
    )
    return [context.bindDatagram(protocol, options)]


tsserv = NetlabService(
    "Timestamp server over TCP: answers data with '[time] data'.",
    TimestampServerOptions,
    _buildStream,
    inAll=True,
    defaultPorts=(DEFAULT_PORT,),
)
"""
C{twistd netlab tsserv}.
"""

tsuserv = NetlabService(
    "Timestamp server over UDP: answers each datagram with '[time] data'.",
    TimestampUDPOptions,
    _buildDatagram,
    inAll=True,
    defaultPorts=(DEFAULT_PORT,),
)
"""
C{twistd netlab tsuserv}.
"""
