"""
The classic time services of inetd: daytime (RFC 867), the time as one
line of text, and time (RFC 868), the time as 4 bytes counting seconds
since 1900; both over TCP (any stream endpoint) and UDP.

Server side: L{DaytimeFactory} and L{TimeFactory} (one reply to each
connection, then close), L{DaytimeDatagramProtocol} and
L{TimeDatagramProtocol} (one reply to each datagram, behind netlab's
reflection guard).  The wire formats, as pure functions: L{packTime},
L{unpackTime} (the RFC 868 era handled), L{formatDaytime},
L{parseDaytime} (netlab's formats and xinetd's).
"""

# The client side (_client, _cli) and the server side (_server), over the
# wire formats (_wire).  Keep both lists sorted (ruff checks): add names in
# their place.
from netlab.inettime._client import (
    getDaytime,
    getDaytimeUDP,
    getTime,
    getTimeUDP,
)
from netlab.inettime._server import (
    DaytimeDatagramProtocol,
    DaytimeFactory,
    DaytimeProtocol,
    TimeDatagramProtocol,
    TimeFactory,
    TimeProtocol,
)
from netlab.inettime._wire import (
    DAYTIME_PORT,
    RFC868_OFFSET,
    TIME_PORT,
    DaytimeReply,
    formatDaytime,
    packTime,
    parseDaytime,
    unpackTime,
)

__all__ = [
    "DAYTIME_PORT",
    "RFC868_OFFSET",
    "TIME_PORT",
    "DaytimeDatagramProtocol",
    "DaytimeFactory",
    "DaytimeProtocol",
    "DaytimeReply",
    "TimeDatagramProtocol",
    "TimeFactory",
    "TimeProtocol",
    "formatDaytime",
    "getDaytime",
    "getDaytimeUDP",
    "getTime",
    "getTimeUDP",
    "packTime",
    "parseDaytime",
    "unpackTime",
]
