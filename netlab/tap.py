"""
The C{netlab} twistd / twist plugin: its options and the service it makes.

C{twistd -n netlab tsserv} and C{twist netlab tsserv} both come here, through
C{twisted/plugins/netlab_plugin.py}.  L{makeService} only assembles objects;
nothing listens until the service is started.
"""

from __future__ import annotations

import enum
import signal
import sys
from collections.abc import Callable
from typing import Any

import attrs
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred
from twisted.internet.error import ReactorNotRunning
from twisted.logger import Logger
from twisted.python import usage

from netlab._metrics import ServiceCollector, metricsSite, newRegistry
from netlab._options import positiveInt
from netlab._service import DatagramService, EndpointService, ExitOnStartupError
from netlab._udpguard import (
    DEFAULT_GLOBAL_BURST,
    DEFAULT_GLOBAL_RATE,
    DEFAULT_SOURCE_BURST,
    DEFAULT_SOURCE_RATE,
    DatagramGuard,
)
from netlab._udpserver import GuardedDatagramProtocol
from netlab.chat._hub import (
    DEFAULT_HISTORY,
    DEFAULT_NOTICE_LIMIT,
    DEFAULT_ROOM,
    ChatHub,
)
from netlab.chat._server import DEFAULT_PORT as CHAT_PORT
from netlab.chat._server import ChatFactory, ChatLimits
from netlab.chat._wire import Error, formatLine, isValidRoom
from netlab.echo import DEFAULT_PORT as ECHO_PORT
from netlab.echo import EchoDatagramProtocol, EchoFactory
from netlab.errors import StartupError
from netlab.policies import (
    DEFAULT_GRACE,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_SOURCE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ConnectionGuard,
    ConnectionLimits,
    TrafficStats,
)
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
    "AllOptions",
    "ChatOptions",
    "EchoOptions",
    "Options",
    "TimestampServerOptions",
    "TimestampUDPOptions",
    "makeService",
]

_log = Logger()


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


def _nonNegative(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError(f"{value} is not 0 or more")
    return number


_nonNegative.coerceDoc = "0 or more; 0 turns it off."  # type: ignore[attr-defined]


def _count(value: str) -> int:
    number = _nonNegative(value)
    if not number.is_integer():
        # 2.5 would be cut to 2 without a word; inf would raise
        # OverflowError, a traceback rather than a usage error.
        raise ValueError(f"{value} is not a whole number")
    return int(number)


_count.coerceDoc = "A whole number, 0 or more."  # type: ignore[attr-defined]


class _ServiceOptions(usage.Options):
    """
    What every service takes: C{--metrics}.
    """

    optParameters: list[list[Any]] = [
        [
            "metrics",
            None,
            None,
            "Serve counters in the Prometheus text format over HTTP on this "
            "server endpoint (GET /metrics), e.g. tcp:9100:interface=127.0.0.1. "
            "Services run together share one.",
        ],
    ]


_IDLE_TIMEOUT: list[Any] = [
    "idle-timeout",
    None,
    DEFAULT_IDLE_TIMEOUT,
    "Seconds a connection may go without a byte received or sent before it "
    "is closed (0: never).",
    _nonNegative,
]


_GRACE: list[Any] = [
    "grace",
    None,
    DEFAULT_GRACE,
    "On SIGTERM or SIGINT, seconds connections get to finish sending "
    "before they are cut.",
    _nonNegative,
]


class _StreamOptions(_ServiceOptions):
    """
    C{--listen}, the connection limits and C{--grace}, for services that
    accept connections.
    """

    optParameters: list[list[Any]] = [
        [
            "max-connections",
            None,
            DEFAULT_MAX_CONNECTIONS,
            "Connections open at once, in all (0: no limit); one more is told "
            "why and closed.",
            _count,
        ],
        [
            "max-per-source",
            None,
            DEFAULT_MAX_PER_SOURCE,
            "Connections open at once from one address (0: no limit).",
            _count,
        ],
        [
            "tls-handshake-timeout",
            None,
            DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            "Seconds a TLS connection (ssl:, tls:) may take to finish its "
            "handshake before it is cut (0: no limit).",
            _nonNegative,
        ],
        _GRACE,
    ]

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
        _IDLE_TIMEOUT,
    ]


class TimestampUDPOptions(_ServiceOptions, _TimestampOptions):
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
    optParameters = [*_datagramParameters(ECHO_PORT), _IDLE_TIMEOUT]

    def postOptions(self) -> None:
        super().postOptions()
        if self["no-tcp"] and self["no-udp"]:
            raise usage.UsageError("--no-tcp and --no-udp leave nothing to serve")


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


class AllOptions(_ServiceOptions):
    """
    C{twistd netlab all}: every service on its defaults.
    """

    synopsis = "[--metrics ENDPOINT] [--grace SECONDS]"
    longdesc = (
        "Run tsserv, tsuserv, echo and chat in one process, each on its "
        "default ports. To choose their options, join services with '+' "
        "instead: twistd netlab tsserv --framing line + echo --no-udp + chat"
    )
    optParameters: list[list[Any]] = [_GRACE]


SEPARATOR = "+"
"""
What joins several services on one command line.
"""


class Options(usage.Options):
    """
    C{twistd netlab}: choose a service with a sub-command, or several, joined
    with C{+}::

        twistd -n netlab tsserv --framing line + echo --no-udp + chat

    @ivar also: the options of the services after the first, each an
        L{Options} with its own sub-command.
    """

    longdesc = (
        "netlab's services. Run 'twistd netlab SERVICE --help' for the options "
        "of one. Join services with '+' to run several in one process, each "
        "with its own options: 'twistd netlab tsserv + echo --no-udp + chat'; "
        "'twistd netlab all' runs every one on its defaults."
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
        [
            "all",
            None,
            AllOptions,
            "tsserv, tsuserv, echo and chat together, on their defaults.",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.also: list[Options] = []

    @property
    def synopsis(self) -> str:
        """
        The usage line: a sub-command's own help names its sub-command.
        """
        return "" if self.subCommand else "SERVICE [options] [+ SERVICE [options]]..."

    def getSynopsis(self) -> str:
        return super().getSynopsis().rstrip()

    def parseOptions(self, options: list[str] | None = None) -> None:
        """
        Parse one service's options, or several services' joined by C{+}.
        """
        if options is None:
            options = sys.argv[1:]
        groups: list[list[str]] = [[]]
        for word in options:
            if word == SEPARATOR:
                groups.append([])
            else:
                groups[-1].append(word)
        for group in groups[1:]:
            if not group:
                raise usage.UsageError(
                    f"name a service after each '{SEPARATOR}', e.g. "
                    f"tsserv {SEPARATOR} echo"
                )
            more = Options()
            more.parseOptions(group)
            if more.subCommand == "all":
                raise usage.UsageError(
                    "'all' already runs every service; it cannot be joined "
                    f"with '{SEPARATOR}'"
                )
            self.also.append(more)
        super().parseOptions(groups[0])
        if self.also and self.subCommand == "all":
            raise usage.UsageError(
                f"'all' already runs every service; it cannot be joined with "
                f"'{SEPARATOR}'"
            )

    def postOptions(self) -> None:
        if self.subCommand is None:
            names = ", ".join(str(command[0]) for command in self.subCommands)
            raise usage.UsageError(f"choose a service: {names}")

    def services(self) -> list[tuple[str, usage.Options]]:
        """
        @return: each service to run, as its sub-command's name and options,
            in the order given (C{all} stands for every one on its
            defaults, with its C{--metrics} and C{--grace}).
        """
        assert self.subCommand is not None
        if self.subCommand == "all":
            everyone = []
            for name in ("tsserv", "tsuserv", "echo", "chat"):
                one = Options()
                one.parseOptions([name])
                assert one.subOptions is not None
                one.subOptions["metrics"] = self.subOptions["metrics"]
                if "grace" in one.subOptions:
                    one.subOptions["grace"] = self.subOptions["grace"]
                everyone.append((name, one.subOptions))
            return everyone
        return [(self.subCommand, self.subOptions)] + [
            service for more in self.also for service in more.services()
        ]


def _globalReactor() -> Any:
    from twisted.internet import reactor

    return reactor


@attrs.define
class _Assembly:
    """
    What L{makeService} gathers while it builds each service: what the
    metrics report, and the guards to drain and to cut on a second signal.
    """

    reactor: Any
    collector: ServiceCollector = attrs.Factory(ServiceCollector)
    guards: list[ConnectionGuard] = attrs.Factory(list)


class _Drain(Service):
    """
    Stops last (it is added before the service's listeners, and services
    stop in reverse): drains the connections of a guard whose listeners
    have stopped.
    """

    def __init__(self, guard: ConnectionGuard, grace: float, reason: str) -> None:
        self.guard = guard
        self.grace = grace
        self.reason = reason

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.guard.drain(self.grace, self.reason)


def _limits(options: usage.Options, idleTimeout: float) -> ConnectionLimits:
    return ConnectionLimits(
        maxConnections=options["max-connections"],
        maxPerSource=options["max-per-source"],
        idleTimeout=idleTimeout,
        tlsHandshakeTimeout=options["tls-handshake-timeout"],
    )


def _stream(
    name: str,
    options: usage.Options,
    assembly: _Assembly,
    factory: Any,
    limits: ConnectionLimits,
    refusalLine: Callable[[str, str], bytes | None],
    goodbye: str = "the server is shutting down",
) -> list[IService]:
    """
    A stream service: C{factory} behind a L{ConnectionGuard}, listening on
    every C{--listen} endpoint, drained on the way out.
    """
    reactor = assembly.reactor
    guard = ConnectionGuard(factory, reactor, limits, name, refusalLine)
    assembly.guards.append(guard)
    assembly.collector.addStream(guard)
    return [
        _Drain(guard, options["grace"], goodbye),
        *(
            EndpointService(reactor, description, guard)
            for description in options["listen"]
        ),
    ]


def _errorLine(code: str, text: str) -> bytes:
    return b"error: %s\n" % text.encode("utf-8")


def _tsserv(options: usage.Options, assembly: _Assembly) -> list[IService]:
    factory = TimestampFactory(
        assembly.reactor,
        format=options["format"],
        utc=options["utc"],
        framing=options["framing"],
        maxLineLength=options["max-line-length"],
        stats=TrafficStats("tsserv"),
    )
    limits = _limits(options, options["idle-timeout"])
    return _stream("tsserv", options, assembly, factory, limits, _errorLine)


def _datagram(
    options: usage.Options, assembly: _Assembly, protocol: GuardedDatagramProtocol
) -> IService:
    assembly.collector.addDatagram(protocol)
    return DatagramService(
        assembly.reactor,
        options["udp-port"],
        protocol,
        interface=options["udp-interface"],
    )


def _tsuserv(options: usage.Options, assembly: _Assembly) -> list[IService]:
    protocol = TimestampDatagramProtocol(
        assembly.reactor,
        format=options["format"],
        utc=options["utc"],
        maxReplySize=DEFAULT_MAX_REPLY_SIZE,
        guard=_guard(options, assembly.reactor),
        stats=TrafficStats("tsuserv", "udp"),
    )
    return [_datagram(options, assembly, protocol)]


def _guard(options: usage.Options, reactor: Any) -> DatagramGuard:
    return DatagramGuard(
        reactor,
        sourceRate=options["udp-rate"],
        sourceBurst=options["udp-burst"],
        globalRate=options["udp-global-rate"],
        globalBurst=options["udp-global-burst"],
    )


def _silent(code: str, text: str) -> None:
    # Echo has no lines to say why in: whatever it sent would read as echo.
    return None


def _echo(options: usage.Options, assembly: _Assembly) -> list[IService]:
    services: list[IService] = []
    if not options["no-tcp"]:
        limits = _limits(options, options["idle-timeout"])
        factory = EchoFactory(TrafficStats("echo"))
        services.extend(_stream("echo", options, assembly, factory, limits, _silent))
    if not options["no-udp"]:
        protocol = EchoDatagramProtocol(
            assembly.reactor,
            _guard(options, assembly.reactor),
            TrafficStats("echo", "udp"),
        )
        services.append(_datagram(options, assembly, protocol))
    return services


def _chatLine(code: str, text: str) -> bytes:
    return formatLine(Error("*", code, text))


def _chat(options: usage.Options, assembly: _Assembly) -> list[IService]:
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
    factory = ChatFactory(hub, assembly.reactor, limits, TrafficStats("chat"))
    assembly.collector.addChat("chat", hub)
    # The chat protocol times out idle users itself (a line, not a byte,
    # is what counts there), so the guard does not.
    return _stream(
        "chat",
        options,
        assembly,
        factory,
        _limits(options, 0),
        _chatLine,
        "the server is shutting down; goodbye",
    )


_SERVICES: dict[str, Callable[[usage.Options, _Assembly], list[IService]]] = {
    "tsserv": _tsserv,
    "tsuserv": _tsuserv,
    "echo": _echo,
    "chat": _chat,
}


class _EnoughFiles(Service):
    """
    Before listening: make sure the process may open as many files as its
    connection limits allow, raising its soft limit (up to the hard one) if
    need be, and warning if even that is too low, rather than failing
    accepts with EMFILE later.
    """

    def __init__(
        self,
        guards: list[ConnectionGuard],
        getLimit: Callable[[int], tuple[int, int]] | None = None,
        setLimit: Callable[[int, tuple[int, int]], None] | None = None,
    ) -> None:
        self._guards = guards
        self._getLimit = getLimit
        self._setLimit = setLimit

    def needed(self) -> int | None:
        """
        @return: the files the connection limits could use, with room for
            listeners, logs and the like; C{None} if a limit is off.
        """
        total = 0
        for guard in self._guards:
            if not guard.limits.maxConnections:
                return None
            total += guard.limits.maxConnections
        return total + 64

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        if not self._guards:
            return
        needed = self.needed()
        self._warnIfSelect(needed)
        if needed is None:
            return
        try:
            import resource
        except ImportError:  # pragma: no cover - not on POSIX
            return
        getLimit = self._getLimit or resource.getrlimit
        setLimit = self._setLimit or resource.setrlimit
        soft, hard = getLimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY or soft >= needed:
            return
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if target > soft:
            try:
                setLimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (OSError, ValueError):
                pass
        if soft < needed:
            _log.warn(
                "--max-connections allows {needed} open files but this process "
                "may open only {soft}: raise it (ulimit -n, or LimitNOFILE= "
                "under systemd), or lower --max-connections",
                needed=needed,
                soft=soft,
            )

    def _warnIfSelect(self, needed: int | None) -> None:
        from twisted.internet.selectreactor import SelectReactor

        if isinstance(self._guards[0].clock, SelectReactor) and (
            needed is None or needed > _FD_SETSIZE
        ):
            _log.warn(
                "--reactor select cannot watch more than {limit} connections "
                "at once, and the connection limits allow more: use the "
                "default reactor (epoll), or lower --max-connections",
                limit=_FD_SETSIZE,
            )


_FD_SETSIZE = 1024
"""
The most file descriptors C{select()} can watch on Linux.
"""


class _StopGracefullyOnSignals(Service):
    """
    Under twistd or twist: SIGTERM or SIGINT stop the reactor, which stops
    the services gracefully (see L{_Drain}), and the process then exits
    with status 0, which is what a service manager expects of a clean stop.
    (Twisted's own handlers make the process end by the signal instead.)
    A second signal cuts every connection at once.
    """

    def __init__(
        self,
        reactor: Any,
        guards: list[ConnectionGuard],
        install: Callable[[int, Any], object] = signal.signal,
    ) -> None:
        self._reactor = reactor
        self._guards = guards
        self._install = install
        self._stopping = False

    def startService(self) -> None:
        super().startService()
        # After the reactor installed its own handlers, which it does as it
        # starts running.
        self._reactor.callWhenRunning(self._installHandlers)

    def _installHandlers(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            self._install(number, self.received)

    def received(self, number: int, frame: object = None) -> None:
        """
        Handle SIGTERM or SIGINT.
        """
        name = signal.Signals(number).name
        if not self._stopping:
            self._stopping = True
            _log.info("Received {signal}: stopping gracefully", signal=name)
            self._reactor.callFromThread(self._stop)
        else:
            _log.warn(
                "Received {signal} again: closing every connection now", signal=name
            )
            self._reactor.callFromThread(self._abortAll)

    def _stop(self) -> None:
        if not self._reactor.running:
            return
        try:
            self._reactor.stop()
        except ReactorNotRunning:
            # Something else is stopping it already.
            pass

    def _abortAll(self) -> None:
        for guard in self._guards:
            guard.abortAll()


def makeService(options: Options, reactor: Any = None) -> MultiService:
    """
    Assemble the service that C{twistd netlab SERVICE ...} runs: one or more
    netlab services (joined by C{+}, or C{all}), their listeners, and the
    metrics endpoint if one was asked for.

    Nothing listens until the returned service is started.  If the options
    name an endpoint that cannot be parsed, or a port that cannot be bound
    when the service starts, the process exits with status 1 and one line
    on standard error saying why (C{SystemExit}), not a traceback.

    Run by twistd or twist (that is, when the options have a parent), the
    service also makes SIGTERM and SIGINT stop gracefully with exit status
    0: listeners stop, chat users are told, connections get C{--grace}
    seconds to finish sending, then are closed.

    @param options: parsed L{Options}.
    @param reactor: the reactor the service will run on; the global reactor
        if C{None}.
    @return: the service, whose children listen on each endpoint or port.
    @raise SystemExit: if an endpoint string is not usable.
    """
    if reactor is None:
        reactor = _globalReactor()
    services = options.services()
    names = " + ".join(name for name, _ in services)
    # twistd's own options say whether it will daemonize; twist never does.
    parent = options.parent
    daemon = bool(
        parent is not None and "nodaemon" in parent and not parent["nodaemon"]
    )
    top = ExitOnStartupError(f"netlab {names}", daemon)
    assembly = _Assembly(reactor)
    try:
        # First, so that the file limit is raised before anything listens;
        # it reads the guards when it starts.
        children: list[IService] = [_EnoughFiles(assembly.guards)]
        for name, serviceOptions in services:
            children.extend(_SERVICES[name](serviceOptions, assembly))
        metrics: list[str] = []
        for _, serviceOptions in services:
            if serviceOptions["metrics"] and serviceOptions["metrics"] not in metrics:
                metrics.append(serviceOptions["metrics"])
        if metrics:
            site = metricsSite(newRegistry(assembly.collector), reactor)
            # Right after the file limit: services stop in reverse, so the
            # metrics are served until every connection has drained.
            children[1:1] = [
                _MetricsService(reactor, description, site, "--metrics")
                for description in metrics
            ]
    except StartupError as e:
        raise SystemExit(f"netlab {names}: error: {e}") from None
    for child in children:
        child.setServiceParent(top)
    if parent is not None:
        _StopGracefullyOnSignals(reactor, assembly.guards).setServiceParent(top)
    return top


class _MetricsService(EndpointService):
    """
    The HTTP endpoint of C{--metrics}.
    """
