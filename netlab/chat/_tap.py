"""
C{twistd netlab chat}: the chat service's options and how it is built,
registered as the entry point C{chat} of the group C{netlab.services}.
"""

from __future__ import annotations

import os
import socket
from importlib.util import find_spec
from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from netlab._lifecycle import DrainService
from netlab._options import (
    burst,
    nonNegative,
    positiveFloat,
    positiveInt,
    rate,
    wholeNumber,
)
from netlab.chat._hub import (
    DEFAULT_HISTORY,
    DEFAULT_NOTICE_LIMIT,
    DEFAULT_ROOM,
    DEFAULT_ROOM_LIMIT,
    ChatHub,
)
from netlab.chat._irc import DEFAULT_PING_INTERVAL, IRCFactory, ircRefusalLine
from netlab.chat._metrics import busGauges, chatGauges
from netlab.chat._origin import normalizeOrigin
from netlab.chat._redis import DEFAULT_NODE_TIMEOUT, BusAddress, parseBusAddress
from netlab.chat._server import DEFAULT_PORT, ChatFactory, ChatLimits
from netlab.chat._wire import Error, formatLine, isValidNodeName, isValidRoom
from netlab.errors import StartupError
from netlab.policies import TrafficStats
from netlab.service import IServiceContext, NetlabService, StreamOptions

__all__ = ["ChatOptions", "chat"]


def _busAddress(value: str) -> BusAddress:
    return parseBusAddress(value)


def _node(value: str) -> str:
    if not isValidNodeName(value):
        raise ValueError(
            f"{value!r} is not a node name (letters, digits, -, _ and . only)"
        )
    return value


def _room(value: str) -> str:
    if not isValidRoom(value):
        raise ValueError(
            f"{value!r} is not a room name (# and up to 31 letters, digits, _ or -)"
        )
    return value


_DEFAULT_LIMITS = ChatLimits()


class ChatOptions(StreamOptions):
    """
    C{twistd netlab chat}: the line chat service.
    """

    synopsis = "[--listen ENDPOINT]... [options]"
    longdesc = (
        "A line chat with nicknames, rooms, history and private messages, "
        "usable with nc or telnet; the protocol is in the reference "
        "documentation. Listens on "
        f"tcp:{DEFAULT_PORT} unless told otherwise."
    )
    defaultListen = [f"tcp:{DEFAULT_PORT}"]
    optParameters: list[list[Any]] = [
        ["default-room", None, DEFAULT_ROOM, "The room everyone joins first.", _room],
        [
            "history",
            None,
            DEFAULT_HISTORY,
            "Messages of a room replayed to whoever joins it.",
            wholeNumber,
        ],
        [
            "notice-limit",
            None,
            DEFAULT_NOTICE_LIMIT,
            "In rooms with more people than this, join, part, nick and quit "
            "notices go only to the person concerned (0: no limit).",
            wholeNumber,
        ],
        [
            "max-rooms",
            None,
            DEFAULT_ROOM_LIMIT,
            "Rooms one user may be in at once: IRC users join several, "
            "line-protocol users are in one (0: no limit).",
            wholeNumber,
        ],
        [
            "max-line-length",
            None,
            _DEFAULT_LIMITS.maxLineLength,
            "The longest line accepted, in bytes; longer ones are refused.",
            positiveInt,
        ],
        [
            "line-rate",
            None,
            _DEFAULT_LIMITS.lineRate,
            "Lines per second a client may send, on average (0: no limit); "
            "a faster client is read more slowly.",
            rate,
        ],
        [
            "line-burst",
            None,
            _DEFAULT_LIMITS.lineBurst,
            "Lines a client may send at once.",
            burst,
        ],
        [
            "backlog-soft",
            None,
            _DEFAULT_LIMITS.backlogSoft,
            "Bytes waiting for a client that, for --backlog-soft-seconds, "
            "disconnect it.",
            positiveInt,
        ],
        [
            "backlog-soft-seconds",
            None,
            _DEFAULT_LIMITS.backlogSoftSeconds,
            "See --backlog-soft.",
            nonNegative,
        ],
        [
            "backlog-hard",
            None,
            _DEFAULT_LIMITS.backlogHard,
            "Bytes waiting for a client that disconnect it at once.",
            positiveInt,
        ],
        [
            "registration-timeout",
            None,
            _DEFAULT_LIMITS.registrationTimeout,
            "Seconds a connection has to choose a nickname (0: no limit).",
            nonNegative,
        ],
        [
            "idle-timeout",
            None,
            _DEFAULT_LIMITS.idleTimeout,
            "Seconds without a line before a client is disconnected (0: never).",
            nonNegative,
        ],
        [
            "bus",
            None,
            None,
            "Make this server one node of several sharing one chat through "
            "Redis: redis://[:password@]host[:port][/db], rediss://... for "
            "TLS, or unix:/path (none: one process holds the chat).",
            _busAddress,
        ],
        [
            "node",
            None,
            None,
            "This node's name in logs, metrics and presence, with --bus "
            "(default: host name and process id).",
            _node,
        ],
        [
            "node-timeout",
            None,
            DEFAULT_NODE_TIMEOUT,
            "Seconds without a heartbeat after which a node is lost, with "
            "--bus: its users quit everywhere and their nicknames are free.",
            positiveFloat,
        ],
        [
            "irc-ping-interval",
            None,
            DEFAULT_PING_INTERVAL,
            "Seconds of silence after which an IRC client is sent a PING; "
            "one silent for twice this is disconnected (0: never).",
            nonNegative,
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["irc"] = []
        self["web"] = []
        self["web-origin"] = []

    def opt_irc(self, description: str) -> None:
        """Also speak IRC on this Twisted server endpoint string, e.g. tcp:6667 or ssl:6697:privateKey=key.pem:certKey=cert.pem; repeat it for several (none by default)."""  # noqa: E501
        self["irc"].append(description)

    def opt_web(self, description: str) -> None:
        """Also serve the chat to browsers on this server endpoint: a web page at / and its WebSocket at /ws, over HTTP (HTTPS with ssl: or tls:), e.g. tcp:8080; repeat it to listen on several."""  # noqa: E501
        self["web"].append(description)

    def opt_web_origin(self, origin: str) -> None:
        """Let pages of this origin (scheme://host[:port]) open the web chat's WebSocket, instead of only the page whose host and port the request names; repeat it for several."""  # noqa: E501
        if normalizeOrigin(origin) is None:
            raise usage.UsageError(
                f"--web-origin: {origin!r} is not an origin; give "
                "scheme://host[:port], e.g. https://chat.example.org"
            )
        self["web-origin"].append(origin)


def _refusalLine(code: str, text: str) -> bytes:
    return formatLine(Error("*", code, text))


def _build(options: usage.Options, context: IServiceContext) -> list[IService]:
    hub = ChatHub(
        options["default-room"],
        options["history"],
        options["notice-limit"],
        options["max-rooms"],
    )
    limits = ChatLimits(
        maxLineLength=options["max-line-length"],
        lineRate=options["line-rate"],
        lineBurst=options["line-burst"],
        backlogSoft=options["backlog-soft"],
        backlogSoftSeconds=options["backlog-soft-seconds"],
        backlogHard=options["backlog-hard"],
        registrationTimeout=options["registration-timeout"],
        idleTimeout=options["idle-timeout"],
    )
    factory = ChatFactory(hub, context.reactor, limits, TrafficStats(context.name))
    for name, documentation, read in chatGauges(hub):
        context.addGauge(name, documentation, read)
    bus = _buildBus(options, context, hub)
    # The chat protocol times out idle users itself (a line, not a byte,
    # is what counts there), so the guard does not.
    services = context.listen(
        factory,
        options,
        limits=context.streamLimits(options, idleTimeout=0),
        refusalLine=_refusalLine,
        goodbye="the server is shutting down; goodbye",
    )
    services += _buildIRC(options, context, hub, limits)
    services += _buildWeb(options, context, hub, limits)
    for service in bus:
        # It stops once they have: the users' quits go out before it does.
        service.drains = [s for s in services if isinstance(s, DrainService)]
    return bus + services


def _buildBus(
    options: usage.Options, context: IServiceContext, hub: ChatHub
) -> list[Any]:
    """
    C{--bus}: the hub as one node of several, through Redis.  Nothing of
    it (nor C{txredisapi}) is imported without C{--bus}.
    """
    address = options["bus"]
    if address is None:
        return []
    if find_spec("txredisapi") is None:
        raise StartupError(
            "--bus needs the Redis client txredisapi: pip install 'netlab[cluster]'"
        )
    from netlab.chat._bus import BusService, ChatBus
    from netlab.chat._redis import probe

    worker = context.worker
    if worker is None:
        node = options["node"] or f"{socket.gethostname()}-{os.getpid()}"
    else:
        # With --workers, each worker is a node, named after the parent (by
        # default its host name and process id) and the worker's number: a
        # worker restarted after it died has its name again, so its users
        # are seen to quit at once, not after --node-timeout.
        parentPid = os.getpid() if worker == 0 else os.getppid()
        base = options["node"] or f"{socket.gethostname()}-{parentPid}"
        node = f"{base}-w{worker}"
    bus = ChatBus(hub, context.reactor, node, options["node-timeout"])
    if worker == 0:
        # The parent: Redis, and that no live node has a worker's name, are
        # checked once, here, before any worker starts (and what the
        # parent builds does not run).
        for index in range(1, context.workers + 1):
            name = f"{base}-w{index}"
            probe(address, presence=(name, bus.presencePrefix + name))
        return []
    for name, documentation, read in busGauges(bus):
        context.addGauge(name, documentation, read)
    # A worker restarted after it died would find its own predecessor's
    # presence: the parent checked the names before the workers started.
    return [BusService(context.reactor, address, bus, checkPresence=worker is None)]


def _buildIRC(
    options: usage.Options, context: IServiceContext, hub: ChatHub, limits: ChatLimits
) -> list[IService]:
    """
    The IRC listeners of C{--irc}, behind the line protocol's guard: one
    set of limits, one drain, one hub.
    """
    if not options["irc"]:
        return []
    irc = IRCFactory(
        hub,
        context.reactor,
        limits,
        TrafficStats(context.name),
        options["irc-ping-interval"],
    )
    return context.addListeners(irc, options["irc"], "irc", ircRefusalLine)


def _buildWeb(
    options: usage.Options, context: IServiceContext, hub: ChatHub, limits: ChatLimits
) -> list[IService]:
    """
    C{--web}: the chat's web site on each endpoint, its browsers in the
    same hub, behind the line protocol's guard (its limits, its drain) and
    counted under the C{protocol} label C{web}.
    """
    endpoints = options["web"]
    if not endpoints:
        return []
    try:
        from netlab.chat._web import chatWebSite, httpRefusal
    except ImportError as e:
        raise StartupError(
            f"--web needs Twisted's websocket extra ({e}): "
            "pip install 'twisted[websocket]'"
        ) from None
    site = chatWebSite(
        hub,
        context.reactor,
        limits,
        options["web-origin"],
        TrafficStats(context.name, protocol="web"),
    )
    return context.addListeners(site, endpoints, "web", httpRefusal)


def _whyNotInWorkers(options: usage.Options) -> str | None:
    if not options["bus"]:
        return (
            "its rooms live in one process, and workers are nodes of one chat "
            "only over --bus (chat across processes); give --bus "
            "redis://HOST:PORT/DB, or run chat with --workers 1"
        )
    return None


chat = NetlabService(
    "Line chat with nicknames, rooms and history, for nc or telnet.",
    ChatOptions,
    _build,
    inAll=True,
    defaultPorts=(DEFAULT_PORT,),
    whyNotInWorkers=_whyNotInWorkers,
)
"""
C{twistd netlab chat}.
"""
