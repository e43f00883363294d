"""
The echo service (RFC 862): every byte a client sends comes back, in order.

Server side: L{EchoFactory} (TCP and any stream endpoint) and
L{EchoDatagramProtocol} (UDP, behind a reflection guard).  Client side:
L{echo}, L{connectEcho}, L{echoStream} (any length, with flow control) and
L{echoUDP}.
"""

from netlab.echo._client import (
    DEFAULT_TIMEOUT,
    DEFAULT_UDP_INTERVAL,
    DEFAULT_UDP_TRIES,
    EchoClient,
    connectEcho,
    echo,
    echoStream,
    echoUDP,
)
from netlab.echo._server import (
    DEFAULT_PORT,
    EchoDatagramProtocol,
    EchoFactory,
    EchoProtocol,
)

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_UDP_INTERVAL",
    "DEFAULT_UDP_TRIES",
    "EchoClient",
    "EchoDatagramProtocol",
    "EchoFactory",
    "EchoProtocol",
    "connectEcho",
    "echo",
    "echoStream",
    "echoUDP",
]
