"""
C{twistd netlab daytime} and C{twistd netlab time}: the services' options
and how they are built, registered as the entry points C{daytime} and
C{time} of the group C{netlab.services}.

Written as a third party would write them, on netlab's public modules only.
Neither has C{--idle-timeout}: the server closes each connection as soon as
its reply is written.  Neither is part of C{all}.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from netlab.inettime._server import (
    DaytimeDatagramProtocol,
    DaytimeFactory,
    TimeDatagramProtocol,
    TimeFactory,
)
from netlab.inettime._wire import DAYTIME_PORT, TIME_PORT
from netlab.policies import TrafficStats
from netlab.service import (
    IServiceContext,
    NetlabService,
    StreamOptions,
    datagramParameters,
)
from netlab.timestamp import TimeFormat

__all__ = ["DaytimeOptions", "TimeOptions", "daytime", "time"]

_FORMATS = ", ".join(format.value for format in TimeFormat)


class _OneReplyOptions(StreamOptions):
    """
    What both services take: the stream options, the datagram ones, and
    C{--no-tcp} or C{--no-udp}.
    """

    optFlags: list[list[Any]] = [
        ["no-tcp", None, "Do not serve TCP (ignore --listen)."],
        ["no-udp", None, "Do not serve UDP."],
    ]

    def postOptions(self) -> None:
        super().postOptions()
        if self["no-tcp"] and self["no-udp"]:
            raise usage.UsageError("--no-tcp and --no-udp leave nothing to serve")


def _timeFormat(value: str) -> str:
    try:
        return TimeFormat(value).value
    except ValueError:
        raise ValueError(f"{value!r} is not one of {_FORMATS}") from None


class DaytimeOptions(_OneReplyOptions):
    """
    C{twistd netlab daytime}: the daytime service over TCP and UDP.
    """

    synopsis = (
        "[--listen ENDPOINT]... [--udp-port N] [--no-tcp | --no-udp] "
        "[--format ctime|iso|unix] [--utc]"
    )
    longdesc = (
        "Send the time as one line to each connection, then close it, and "
        "answer each datagram with that line (RFC 867). Listens on TCP and "
        f"UDP port {DAYTIME_PORT} unless told otherwise."
    )
    defaultListen = [f"tcp:{DAYTIME_PORT}"]
    optFlags: list[list[Any]] = [["utc", None, "Send UTC instead of the local time."]]
    optParameters: list[list[Any]] = [
        [
            "format",
            None,
            TimeFormat.ISO.value,
            "How to write the time: iso (2026-12-02T14:37:20+01:00, the "
            "default: it carries its zone), ctime (Wed Dec  2 14:37:20 2026) "
            "or unix (seconds since 1970).",
            _timeFormat,
        ],
        *datagramParameters(DAYTIME_PORT),
    ]

    def postOptions(self) -> None:
        super().postOptions()
        self["format"] = TimeFormat(self["format"])


class TimeOptions(_OneReplyOptions):
    """
    C{twistd netlab time}: the time service over TCP and UDP.
    """

    synopsis = "[--listen ENDPOINT]... [--udp-port N] [--no-tcp | --no-udp]"
    longdesc = (
        "Send the time as 4 bytes, seconds since 1900 in network order, to "
        "each connection, then close it, and answer each datagram with them "
        f"(RFC 868). Listens on TCP and UDP port {TIME_PORT} unless told "
        "otherwise."
    )
    defaultListen = [f"tcp:{TIME_PORT}"]
    optParameters = datagramParameters(TIME_PORT)


def _buildDaytime(options: usage.Options, context: IServiceContext) -> list[IService]:
    services: list[IService] = []
    if not options["no-tcp"]:
        factory = DaytimeFactory(
            context.reactor,
            options["format"],
            options["utc"],
            TrafficStats(context.name),
        )
        # Refused connections are closed without a word: whatever they
        # were sent would be read as the time.
        services.extend(context.listen(factory, options, refusalLine=None))
    if not options["no-udp"]:
        protocol = DaytimeDatagramProtocol(
            context.reactor,
            options["format"],
            options["utc"],
            context.datagramGuard(options),
            TrafficStats(context.name, "udp"),
        )
        services.append(context.bindDatagram(protocol, options))
    return services


def _buildTime(options: usage.Options, context: IServiceContext) -> list[IService]:
    services: list[IService] = []
    if not options["no-tcp"]:
        factory = TimeFactory(context.reactor, TrafficStats(context.name))
        # Refused connections are closed without a word: any 4 bytes sent
        # would be read as a time.
        services.extend(context.listen(factory, options, refusalLine=None))
    if not options["no-udp"]:
        protocol = TimeDatagramProtocol(
            context.reactor,
            context.datagramGuard(options),
            TrafficStats(context.name, "udp"),
        )
        services.append(context.bindDatagram(protocol, options))
    return services


daytime = NetlabService(
    "Daytime (RFC 867) over TCP and UDP: the time as one line of text.",
    DaytimeOptions,
    _buildDaytime,
    defaultPorts=(DAYTIME_PORT,),
)
"""
C{twistd netlab daytime}.
"""

time = NetlabService(
    "Time (RFC 868) over TCP and UDP: the time as 4 bytes, seconds since 1900.",
    TimeOptions,
    _buildTime,
    defaultPorts=(TIME_PORT,),
)
"""
C{twistd netlab time}.
"""
