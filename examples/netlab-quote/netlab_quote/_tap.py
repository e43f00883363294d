"""
C{twistd netlab quote}: the quote service's options and how it is built,
registered as the entry point C{quote} of the group C{netlab.services}.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from netlab.policies import TrafficStats
from netlab.service import (
    IServiceContext,
    NetlabService,
    StreamOptions,
    datagramParameters,
)
from netlab_quote._quotes import QUOTES, readQuotes
from netlab_quote._server import DEFAULT_PORT, QuoteDatagramProtocol, QuoteFactory

__all__ = ["QuoteOptions", "service"]

UDP_RATES = {
    "udp-rate": 10,
    "udp-burst": 20,
    "udp-global-rate": 500,
    "udp-global-burst": 1000,
}
"""
The reflection guard's rates, lower than netlab's defaults: a quote can be
hundreds of times the size of the datagram that asks for it, and a forged
source address would turn that into a flood towards its victim.
"""


class QuoteOptions(StreamOptions):
    """
    C{twistd netlab quote}: Quote of the Day over TCP and UDP.
    """

    synopsis = (
        "[--listen ENDPOINT]... [--udp-port N] [--no-tcp | --no-udp] [--quotes FILE]"
    )
    longdesc = (
        "Send a quote to each connection, then close it, and answer each "
        "datagram with a quote (RFC 865). Listens on TCP and UDP port "
        f"{DEFAULT_PORT} unless told otherwise."
    )
    defaultListen = [f"tcp:{DEFAULT_PORT}"]
    optFlags: list[list[Any]] = [
        ["no-tcp", None, "Do not serve TCP (ignore --listen)."],
        ["no-udp", None, "Do not serve UDP."],
    ]
    optParameters: list[list[Any]] = [
        [
            "quotes",
            None,
            None,
            "A UTF-8 file of quotes to tell instead of the built-in ones, "
            "separated by blank lines.",
        ],
        *(
            [name, short, UDP_RATES.get(name, default), *rest]
            for name, short, default, *rest in datagramParameters(DEFAULT_PORT)
        ),
    ]

    def postOptions(self) -> None:
        super().postOptions()
        if self["no-tcp"] and self["no-udp"]:
            raise usage.UsageError("--no-tcp and --no-udp leave nothing to serve")


def _build(options: usage.Options, context: IServiceContext) -> list[IService]:
    quotes = QUOTES if options["quotes"] is None else readQuotes(options["quotes"])
    context.addGauge(
        "netlab_quote_quotes", "Quotes the quote service tells.", lambda: len(quotes)
    )
    services: list[IService] = []
    if not options["no-tcp"]:
        factory = QuoteFactory(quotes, TrafficStats(context.name))
        # Refused connections are closed without a word: whatever they
        # were sent would be read as a quote.
        services.extend(context.listen(factory, options, refusalLine=None))
    if not options["no-udp"]:
        protocol = QuoteDatagramProtocol(
            context.reactor,
            quotes,
            context.datagramGuard(options),
            TrafficStats(context.name, "udp"),
        )
        services.append(context.bindDatagram(protocol, options))
    return services


service = NetlabService(
    "Quote of the Day (RFC 865) over TCP and UDP: one quote to each asker.",
    QuoteOptions,
    _build,
    defaultPorts=(DEFAULT_PORT,),
)
"""
C{twistd netlab quote}.
"""
