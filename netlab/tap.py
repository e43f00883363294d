"""
The C{netlab} twistd / twist plugin: its options and the service it makes.

C{twistd -n netlab tsserv} and C{twist netlab tsserv} both come here, through
C{twisted/plugins/netlab_plugin.py}.  L{makeService} only assembles objects;
nothing listens until the service is started.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred
from twisted.python import usage

from netlab._options import positiveInt
from netlab._service import DatagramService, EndpointService, ExitOnStartupError
from netlab._udpguard import (
    DEFAULT_GLOBAL_BURST,
    DEFAULT_GLOBAL_RATE,
    DEFAULT_SOURCE_BURST,
    DEFAULT_SOURCE_RATE,
    DatagramGuard,
)
from netlab.chat._hub import (
    DEFAULT_HISTORY,
    DEFAULT_NOTICE_LIMIT,
    DEFAULT_ROOM,
    ChatHub,
)
from netlab.chat._server import DEFAULT_PORT as CHAT_PORT
from netlab.chat._server import ChatFactory, ChatLimits
from netlab.chat._wire import isValidRoom
from netlab.echo import DEFAULT_PORT as ECHO_PORT
from netlab.echo import EchoDatagramProtocol, EchoFactory
from netlab.errors import StartupError
from netlab.timestamp import (
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_MAX_REPLY_SIZE,
    DEFAULT_PORT,
    Framing,
    TimeFormat,
    TimestampDatagramProtocol,
    TimestampFactory,
)

__all__ = [
    "ChatOptions",
    "EchoOptions",
    "Options",
    "TimestampServerOptions",
    "TimestampUDPOptions",
    "makeService",
]


def _choice(kind: type[enum.Enum]) -> Callable[[str], enum.Enum]:
    names = ", ".join(member.value for member in kind)

    def coerce(value: str) -> enum.Enum:
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{value!r} is not one of {names}") from None

    coerce.coerceDoc = f"One of: {names}."  # type: ignore[attr-defined]
    return coerce


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"{value} is not a port number (0 to 65535)")
    return number


_port.coerceDoc = "0 to 65535; 0 picks a free port."  # type: ignore[attr-defined]


class _StreamOptions(usage.Options):
    """
    C{--listen}, for services that accept connections.
    """

    defaultListen: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def opt_listen(self, description: str) -> None:
        """Listen on this Twisted server endpoint string, e.g. tcp:21567 or tcp6:port=21567:interface=\\:\\:1; repeat it to listen on several."""  # noqa: E501
        self["listen"].append(description)

    def postOptions(self) -> None:
        super().postOptions()
        if not self["listen"]:
            self["listen"] = list(self.defaultListen)


def _rate(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError(f"{value} is not a rate (0 or more per second)")
    return number


_rate.coerceDoc = "Per second; 0 for no limit."  # type: ignore[attr-defined]


def _burst(value: str) -> float:
    number = float(value)
    if not number >= 1:
        raise ValueError(f"{value} is not a burst size (1 or more)")
    return number


_burst.coerceDoc = "At least 1."  # type: ignore[attr-defined]


def _datagramParameters(port: int) -> list[list[Any]]:
    """
    The options of a service that takes datagrams: where it listens, and
    its L{DatagramGuard}'s rates.
    """
    return [
        ["udp-port", None, port, "The UDP port to listen on.", _port],
        [
            "udp-interface",
            None,
            "",
            "The local address to bind for UDP: empty for every IPv4 address, "
            ":: for IPv6.",
        ],
        [
            "udp-rate",
            None,
            DEFAULT_SOURCE_RATE,
            "Datagrams answered per second for one source address, on average.",
            _rate,
        ],
        [
            "udp-burst",
            None,
            DEFAULT_SOURCE_BURST,
            "Datagrams answered for one source address in a burst.",
            _burst,
        ],
        [
            "udp-global-rate",
            None,
            DEFAULT_GLOBAL_RATE,
            "Datagrams answered per second in all, on average.",
            _rate,
        ],
        [
            "udp-global-burst",
            None,
            DEFAULT_GLOBAL_BURST,
            "Datagrams answered in all in a burst.",
            _burst,
        ],
    ]


class _TimestampOptions(usage.Options):
    """
    The options of both timestamp services.
    """

    optFlags: list[list[Any]] = [["utc", None, "Stamp UTC instead of the local time."]]
    optParameters: list[list[Any]] = [
        [
            "format",
            None,
            TimeFormat.CTIME.value,
            "How to write the time: ctime (Sat Nov 21 23:46:13 2026), iso "
            "(2026-11-21T23:46:13+01:00) or unix (seconds since 1970).",
            _choice(TimeFormat),
        ],
    ]

    def postOptions(self) -> None:
        super().postOptions()
        self["format"] = TimeFormat(self["format"])


class TimestampServerOptions(_StreamOptions, _TimestampOptions):
    """
    C{twistd netlab tsserv}: the timestamp service over TCP.
    """

    synopsis = "[--listen ENDPOINT]... [--framing raw|line] [--format FORMAT] [--utc]"
    longdesc = (
        "Answer what a client sends with '[<time>] <data>', as the classic "
        "tsTserv does. Listens on tcp:21567 unless told otherwise."
    )
    defaultListen = [f"tcp:{DEFAULT_PORT}"]

    def postOptions(self) -> None:
        super().postOptions()
        self["framing"] = Framing(self["framing"])

    optParameters: list[list[Any]] = [
        [
            "framing",
            None,
            Framing.RAW.value,
            "raw: stamp each chunk as it arrives (the classic, for one short "
            "message at a time); line: one stamped line per line received.",
            _choice(Framing),
        ],
        [
            "max-line-length",
            None,
            DEFAULT_MAX_LINE_LENGTH,
            "With --framing line, the longest line answered, in bytes; "
            "longer ones get an error line and are discarded.",
            positiveInt,
        ],
    ]


class TimestampUDPOptions(_TimestampOptions):
    """
    C{twistd netlab tsuserv}: the timestamp service over UDP.
    """

    optParameters = _datagramParameters(DEFAULT_PORT)

    synopsis = "[--udp-port N] [--udp-interface ADDR] [--format FORMAT] [--utc]"
    longdesc = (
        "Answer each datagram with one datagram, '[<time>] <data>', as the "
        "classic tsUserv does. Listens on UDP port 21567 unless told otherwise."
    )


class EchoOptions(_StreamOptions):
    """
    C{twistd netlab echo}: the echo service over TCP and UDP.
    """

    synopsis = "[--listen ENDPOINT]... [--udp-port N] [--no-tcp | --no-udp]"
    longdesc = (
        "Send back every byte received, in order (RFC 862), over TCP and UDP. "
        f"Listens on TCP and UDP port {ECHO_PORT} unless told otherwise."
    )
    defaultListen = [f"tcp:{ECHO_PORT}"]
    optFlags: list[list[Any]] = [
        ["no-tcp", None, "Do not serve TCP (ignore --listen)."],
        ["no-udp", None, "Do not serve UDP."],
    ]
    optParameters = _datagramParameters(ECHO_PORT)

    def postOptions(self) -> None:
        super().postOptions()
        if self["no-tcp"] and self["no-udp"]:
            raise usage.UsageError("--no-tcp and --no-udp leave nothing to serve")


def _nonNegative(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError(f"{value} is not 0 or more")
    return number


_nonNegative.coerceDoc = "0 or more; 0 turns it off."  # type: ignore[attr-defined]


def _count(value: str) -> int:
    return int(_nonNegative(value))


_count.coerceDoc = "A whole number, 0 or more."  # type: ignore[attr-defined]


def _room(value: str) -> str:
    if not isValidRoom(value):
        raise ValueError(
            f"{value!r} is not a room name (# and up to 31 letters, digits, _ or -)"
        )
    return value


_DEFAULT_LIMITS = ChatLimits()


class ChatOptions(_StreamOptions):
    """
    C{twistd netlab chat}: the line chat service.
    """

    synopsis = "[--listen ENDPOINT]... [options]"
    longdesc = (
        "A line chat with nicknames, rooms, history and private messages, "
        "usable with nc or telnet; the protocol is in README.rst. Listens on "
        f"tcp:{CHAT_PORT} unless told otherwise."
    )
    defaultListen = [f"tcp:{CHAT_PORT}"]
    optParameters: list[list[Any]] = [
        ["default-room", None, DEFAULT_ROOM, "The room everyone joins first.", _room],
        [
            "history",
            None,
            DEFAULT_HISTORY,
            "Messages of a room replayed to whoever joins it.",
            _count,
        ],
        [
            "notice-limit",
            None,
            DEFAULT_NOTICE_LIMIT,
            "In rooms with more people than this, join, part, nick and quit "
            "notices go only to the person concerned (0: no limit).",
            _count,
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
            _rate,
        ],
        [
            "line-burst",
            None,
            _DEFAULT_LIMITS.lineBurst,
            "Lines a client may send at once.",
            _burst,
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
            _nonNegative,
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
            _nonNegative,
        ],
        [
            "idle-timeout",
            None,
            _DEFAULT_LIMITS.idleTimeout,
            "Seconds without a line before a client is disconnected (0: never).",
            _nonNegative,
        ],
    ]


class Options(usage.Options):
    """
    C{twistd netlab}: choose a service with a sub-command.
    """

    longdesc = (
        "netlab's services. Run 'twistd netlab SERVICE --help' for the options of one."
    )
    subCommands: list[list[Any]] = [
        [
            "tsserv",
            None,
            TimestampServerOptions,
            "Timestamp server over TCP: answers data with '[time] data'.",
        ],
        [
            "tsuserv",
            None,
            TimestampUDPOptions,
            "Timestamp server over UDP: answers each datagram with '[time] data'.",
        ],
        [
            "echo",
            None,
            EchoOptions,
            "Echo server (RFC 862) over TCP and UDP: sends back what it gets.",
        ],
        [
            "chat",
            None,
            ChatOptions,
            "Line chat with nicknames, rooms and history, for nc or telnet.",
        ],
    ]

    @property
    def synopsis(self) -> str:
        """
        The usage line: a sub-command's own help names its sub-command.
        """
        return "" if self.subCommand else "SERVICE [options]"

    def getSynopsis(self) -> str:
        return super().getSynopsis().rstrip()

    def postOptions(self) -> None:
        if self.subCommand is None:
            names = ", ".join(str(command[0]) for command in self.subCommands)
            raise usage.UsageError(f"choose a service: {names}")


def _globalReactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _tsserv(options: usage.Options, reactor: Any) -> list[IService]:
    factory = TimestampFactory(
        reactor,
        format=options["format"],
        utc=options["utc"],
        framing=options["framing"],
        maxLineLength=options["max-line-length"],
    )
    return [
        EndpointService(reactor, description, factory)
        for description in options["listen"]
    ]


def _tsuserv(options: usage.Options, reactor: Any) -> list[IService]:
    protocol = TimestampDatagramProtocol(
        reactor,
        format=options["format"],
        utc=options["utc"],
        maxReplySize=DEFAULT_MAX_REPLY_SIZE,
        guard=_guard(options, reactor),
    )
    return [
        DatagramService(
            reactor,
            options["udp-port"],
            protocol,
            interface=options["udp-interface"],
        )
    ]


def _guard(options: usage.Options, reactor: Any) -> DatagramGuard:
    return DatagramGuard(
        reactor,
        sourceRate=options["udp-rate"],
        sourceBurst=options["udp-burst"],
        globalRate=options["udp-global-rate"],
        globalBurst=options["udp-global-burst"],
    )


def _echo(options: usage.Options, reactor: Any) -> list[IService]:
    services: list[IService] = []
    if not options["no-tcp"]:
        factory = EchoFactory()
        services.extend(
            EndpointService(reactor, description, factory)
            for description in options["listen"]
        )
    if not options["no-udp"]:
        protocol = EchoDatagramProtocol(reactor, _guard(options, reactor))
        services.append(
            DatagramService(
                reactor,
                options["udp-port"],
                protocol,
                interface=options["udp-interface"],
            )
        )
    return services


class _ChatShutdown(Service):
    """
    On shutdown, after the chat stopped listening: tell every user, and
    close their connections.
    """

    def __init__(self, factory: ChatFactory) -> None:
        self.factory = factory

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.factory.shutdown("the server is shutting down; goodbye")


def _chat(options: usage.Options, reactor: Any) -> list[IService]:
    hub = ChatHub(options["default-room"], options["history"], options["notice-limit"])
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
    factory = ChatFactory(hub, reactor, limits)
    # Services stop in the reverse of this order: the endpoints stop
    # listening first, then the users are told and disconnected.
    return [
        _ChatShutdown(factory),
        *(
            EndpointService(reactor, description, factory)
            for description in options["listen"]
        ),
    ]


_SERVICES: dict[str, Callable[[usage.Options, Any], list[IService]]] = {
    "tsserv": _tsserv,
    "tsuserv": _tsuserv,
    "echo": _echo,
    "chat": _chat,
}


def makeService(options: Options, reactor: Any = None) -> MultiService:
    """
    Assemble the service that C{twistd netlab SERVICE ...} runs.

    Nothing listens until the returned service is started.  If the options
    name an endpoint that cannot be parsed, or a port that cannot be bound
    when the service starts, the process exits with status 1 and one line
    on standard error saying why (C{SystemExit}), not a traceback.

    @param options: parsed L{Options}.
    @param reactor: the reactor the service will run on; the global reactor
        if C{None}.
    @return: the service, whose children are one listening service per
        endpoint or port.
    @raise SystemExit: if an endpoint string is not usable.
    """
    if reactor is None:
        reactor = _globalReactor()
    name = options.subCommand
    assert name is not None
    # twistd's own options say whether it will daemonize; twist never does.
    parent = options.parent
    daemon = bool(
        parent is not None and "nodaemon" in parent and not parent["nodaemon"]
    )
    top = ExitOnStartupError(f"netlab {name}", daemon)
    try:
        children = _SERVICES[name](options.subOptions, reactor)
    except StartupError as e:
        raise SystemExit(f"netlab {name}: error: {e}") from None
    for child in children:
        child.setServiceParent(top)
    return top
