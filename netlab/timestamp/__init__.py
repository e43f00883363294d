"""
The timestamp service: a client sends data, the server answers
C{[<time>] <data>}, as the classic C{tsTserv}/C{tsUserv} exercises do.

Server side: L{TimestampFactory} (TCP and any stream endpoint) and
L{TimestampDatagramProtocol} (UDP).  Client side: L{getTimestamp},
L{connectTimestamp} and L{getTimestampUDP}.  The wire format, as pure
functions: L{formatStamp}, L{parseStamp}, L{Stamper}.
"""

from netlab.timestamp._client import (
    DEFAULT_TIMEOUT,
    DEFAULT_UDP_INTERVAL,
    DEFAULT_UDP_TRIES,
    TimestampClient,
    connectTimestamp,
    getTimestamp,
    getTimestampUDP,
)
from netlab.timestamp._format import (
    Stamper,
    TimeFormat,
    TimestampReply,
    clockTime,
    formatStamp,
    formatTime,
    parseStamp,
)
from netlab.timestamp._server import (
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_REPLY_SIZE,
    DEFAULT_PORT,
    Framing,
    LineTimestampProtocol,
    RawTimestampProtocol,
    TimestampDatagramProtocol,
    TimestampFactory,
)

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_REPLY_SIZE",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_UDP_INTERVAL",
    "DEFAULT_UDP_TRIES",
    "Framing",
    "LineTimestampProtocol",
    "RawTimestampProtocol",
    "Stamper",
    "TimeFormat",
    "TimestampClient",
    "TimestampDatagramProtocol",
    "TimestampFactory",
    "TimestampReply",
    "clockTime",
    "connectTimestamp",
    "formatStamp",
    "formatTime",
    "getTimestamp",
    "getTimestampUDP",
    "parseStamp",
]
