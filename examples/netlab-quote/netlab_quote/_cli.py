"""
C{netlab quote}: print one quote from a Quote of the Day server, registered
as the entry point C{quote} of the group C{netlab.clients}.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.python import usage

from netlab.service import NetlabClient
from netlab_quote._client import DEFAULT_TIMEOUT, getQuote, getQuoteUDP
from netlab_quote._server import DEFAULT_PORT

__all__ = ["QuoteClientOptions", "client", "displayQuote", "runQuote"]


def _port(value: str) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise ValueError(f"{value} is not a port (1 to 65535)")
    return number


def _seconds(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise ValueError(f"{value}: give a number of seconds above 0")
    return seconds


class QuoteClientOptions(usage.Options):
    """
    C{netlab quote}: ask a quote server for a quote.
    """

    synopsis = "[--udp] [-H HOST] [-p PORT] [-t SECONDS]"
    longdesc = "Print one quote from a Quote of the Day (RFC 865) server."
    optFlags: list[list[Any]] = [["udp", "u", "Ask over UDP instead of TCP."]]
    optParameters: list[list[Any]] = [
        ["host", "H", "localhost", "The server's host name or address."],
        ["port", "p", DEFAULT_PORT, "The server's port.", _port],
        [
            "timeout",
            "t",
            DEFAULT_TIMEOUT,
            "Seconds to wait for the quote (over UDP, asking up to 3 times).",
            _seconds,
        ],
    ]


def displayQuote(reply: bytes) -> str:
    """
    @return: a quote as received, made safe for a terminal: local line
        endings, and no control characters (a server could send escape
        sequences).
    """
    text = reply.decode("utf-8", "replace").replace("\r\n", "\n")
    text = "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)
    return text if text.endswith("\n") else text + "\n"


def runQuote(
    reactor: Any, options: usage.Options, out: IO[str] | None = None
) -> Deferred[int]:
    """
    Run C{netlab quote}: print the quote.

    @param out: where to print it; standard output if C{None}.
    @return: a Deferred of the exit status, 0; it fails with a
        L{netlab.errors.NetlabError} (which C{netlab} shows as one line,
        exit status 1) if no quote came.
    """
    host, port, timeout = options["host"], options["port"], options["timeout"]
    if options["udp"]:
        asked = getQuoteUDP(reactor, host, port, timeout)
    else:
        asked = getQuote(HostnameEndpoint(reactor, host, port), reactor, timeout)

    def show(reply: bytes) -> int:
        shown = sys.stdout if out is None else out
        shown.write(displayQuote(reply))
        shown.flush()
        return 0

    return asked.addCallback(show)


client = NetlabClient(
    "Print a quote from a Quote of the Day server.", QuoteClientOptions, runQuote
)
"""
C{netlab quote}.
"""
