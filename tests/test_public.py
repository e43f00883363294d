"""
Tests that pin netlab's public surface: what each public module exports.
"""

from __future__ import annotations

import importlib

from twisted.trial.unittest import SynchronousTestCase

PUBLIC = {
    "netlab": ["__version__"],
    "netlab.errors": [
        "ChatError",
        "ConnectFailed",
        "ConnectionClosed",
        "MalformedReply",
        "NetlabError",
        "ProtocolError",
        "RequestTimedOut",
        "ServerError",
        "StartupError",
    ],
    "netlab.timestamp": [
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
    ],
    "netlab.echo": [
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
    ],
    "netlab.chat": [
        "DEFAULT_HISTORY",
        "DEFAULT_MAX_LINE_LENGTH",
        "DEFAULT_NOTICE_LIMIT",
        "DEFAULT_PORT",
        "DEFAULT_ROOM",
        "DEFAULT_TIMEOUT",
        "Action",
        "ChatEvent",
        "ChatFactory",
        "ChatHub",
        "ChatLimits",
        "ChatProtocol",
        "ChatSession",
        "Error",
        "EventStream",
        "History",
        "IChatParticipant",
        "Joined",
        "NickChanged",
        "Notice",
        "Parted",
        "PrivateMessage",
        "Quit",
        "Reply",
        "RoomMessage",
        "ServerLine",
        "SessionEvent",
        "connectChat",
        "formatLine",
        "parseServerLine",
    ],
    "netlab.inettime": [
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
    ],
    "netlab.udp": [
        "DEFAULT_GLOBAL_BURST",
        "DEFAULT_GLOBAL_RATE",
        "DEFAULT_SOURCE_BURST",
        "DEFAULT_SOURCE_RATE",
        "DatagramGuard",
        "GuardedDatagramProtocol",
        "Refusal",
    ],
    "netlab.service": [
        "DEFAULT_GOODBYE",
        "GRACE_PARAMETER",
        "INetlabClient",
        "INetlabService",
        "IServiceContext",
        "NetlabClient",
        "NetlabService",
        "ServiceOptions",
        "StreamOptions",
        "datagramParameters",
        "errorLine",
        "idleTimeoutParameter",
    ],
    "netlab.policies": [
        "DEFAULT_GRACE",
        "DEFAULT_IDLE_TIMEOUT",
        "DEFAULT_MAX_CONNECTIONS",
        "DEFAULT_MAX_PER_SOURCE",
        "DEFAULT_TLS_HANDSHAKE_TIMEOUT",
        "ConnectionGuard",
        "ConnectionLimits",
        "GuardedConnection",
        "IDrainable",
        "TrafficStats",
    ],
    "netlab.testing": ["MemoryEndpoint"],
    "netlab.tap": [
        "SEPARATOR",
        "AllOptions",
        "Options",
        "loadServices",
        "makeService",
    ],
}


class PublicSurfaceTests(SynchronousTestCase):
    """
    Each public module exports exactly the names users are promised.
    """

    def test_exports(self) -> None:
        """
        Every public module's C{__all__} is the pinned list, and each name
        in it exists.
        """
        for name, expected in PUBLIC.items():
            module = importlib.import_module(name)
            self.assertEqual(sorted(module.__all__), sorted(expected), name)
            for attribute in expected:
                self.assertTrue(hasattr(module, attribute), f"{name}.{attribute}")
