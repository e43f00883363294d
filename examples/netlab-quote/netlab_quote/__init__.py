"""
Quote of the Day (RFC 865) as a netlab service: C{twistd -n netlab quote}
serves it over TCP and UDP, C{netlab quote} asks for one.

A worked example of a third-party netlab service: it uses only netlab's
public modules (L{netlab.service}, L{netlab.udp}, L{netlab.policies},
L{netlab.errors}), and its C{pyproject.toml} registers L{service} and
L{client} as entry points.

Server side: L{QuoteFactory} (TCP and any stream endpoint; also
C{twistd netlab serve --factory netlab_quote:QuoteFactory}) and
L{QuoteDatagramProtocol} (UDP).  Client side: L{getQuote}, L{getQuoteUDP}.
"""

from netlab_quote._cli import QuoteClientOptions, client, displayQuote, runQuote
from netlab_quote._client import DEFAULT_TIMEOUT, getQuote, getQuoteUDP
from netlab_quote._quotes import (
    QUOTES,
    REPLY_LIMIT,
    formatQuote,
    formatQuotes,
    parseQuotes,
    readQuotes,
)
from netlab_quote._server import (
    DEFAULT_PORT,
    QuoteDatagramProtocol,
    QuoteFactory,
    QuoteProtocol,
)
from netlab_quote._tap import QuoteOptions, service

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "QUOTES",
    "REPLY_LIMIT",
    "QuoteClientOptions",
    "QuoteDatagramProtocol",
    "QuoteFactory",
    "QuoteOptions",
    "QuoteProtocol",
    "client",
    "displayQuote",
    "formatQuote",
    "formatQuotes",
    "getQuote",
    "getQuoteUDP",
    "parseQuotes",
    "readQuotes",
    "runQuote",
    "service",
]
