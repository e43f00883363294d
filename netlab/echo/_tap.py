"""
C{twistd netlab echo}: the echo service's options and how it is built,
registered as the entry point C{echo} of the group C{netlab.services}.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from netlab.echo._server import DEFAULT_PORT, EchoDatagramProtocol, EchoFactory
from netlab.policies import TrafficStats
from netlab.service import (
    IServiceContext,
    NetlabService,
    StreamOptions,
    datagramParameters,
    idleTimeoutParameter,
)

__all__ = ["EchoOptions", "echo"]


class EchoOptions(StreamOptions):
    """
    C{twistd netlab echo}: the echo service over TCP and UDP.
    """

    synopsis = "[--listen ENDPOINT]... [--udp-port N] [--no-tcp | --no-udp]"
    longdesc = (
        "Send back every byte received, in order (RFC 862), over TCP and UDP. "
        f"Listens on TCP and UDP port {DEFAULT_PORT} unless told otherwise."
    )
    defaultListen = [f"tcp:{DEFAULT_PORT}"]
    optFlags: list[list[Any]] = [
        ["no-tcp", None, "Do not serve TCP (ignore --listen)."],
        ["no-udp", None, "Do not serve UDP."],
    ]
    optParameters = [*datagramParameters(DEFAULT_PORT), idleTimeoutParameter()]

    def postOptions(self) -> None:
        super().postOptions()
        if self["no-tcp"] and self["no-udp"]:
            raise usage.UsageError("--no-tcp and --no-udp leave nothing to serve")


def _build(options: usage.Options, context: IServiceContext) -> list[IService]:
    services: list[IService] = []
    if not options["no-tcp"]:
        factory = EchoFactory(TrafficStats(context.name))
        # Refused connections are closed without a word: whatever echo
        # sent would read as echo.
        services.extend(context.listen(factory, options, refusalLine=None))
    if not options["no-udp"]:
        protocol = EchoDatagramProtocol(
            context.reactor,
            context.datagramGuard(options),
            TrafficStats(context.name, "udp"),
        )
        services.append(context.bindDatagram(protocol, options))
    return services


echo = NetlabService(
    "Echo server (RFC 862) over TCP and UDP: sends back what it gets.",
    EchoOptions,
    _build,
    inAll=True,
    defaultPorts=(DEFAULT_PORT,),
)
"""
C{twistd netlab echo}.
"""
