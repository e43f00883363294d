"""
Tests for L{netlab.tap}: the C{twistd netlab} options and the service that
L{netlab.tap.makeService} assembles, and the plugin that points twistd there.

Reactor-free: services are built on a L{MemoryReactorClock}.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from twisted.application.service import IService, IServiceMaker
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.plugin import IPlugin, getPlugins
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site
from twisted.web.test.requesthelper import DummyRequest
from zope.interface.verify import verifyObject

from netlab import tap
from netlab._lifecycle import DrainService, EnoughFiles
from netlab._service import DatagramService, EndpointService
from netlab._udpguard import DatagramGuard
from netlab.chat import (
    DEFAULT_HISTORY,
    DEFAULT_ROOM,
    ChatFactory,
    ChatHub,
    ChatLimits,
    ChatProtocol,
)
from netlab.chat import DEFAULT_PORT as CHAT_PORT
from netlab.chat._tap import ChatOptions
from netlab.echo import EchoDatagramProtocol, EchoFactory
from netlab.echo._tap import EchoOptions
from netlab.errors import StartupError
from netlab.policies import (
    DEFAULT_GRACE,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_SOURCE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ConnectionGuard,
    ConnectionLimits,
    GuardedConnection,
)
from netlab.timestamp import (
    DEFAULT_MAX_REPLY_SIZE,
    Framing,
    TimeFormat,
    TimestampDatagramProtocol,
    TimestampFactory,
)
from netlab.timestamp._tap import TimestampServerOptions, TimestampUDPOptions
from tests.test_service import _ListeningReactor, cannotListen


def parse(*args: str) -> tap.Options:
    """
    @return: L{tap.Options} that have parsed C{args}.
    """
    options = tap.Options()
    options.parseOptions(list(args))
    return options


class _FakeUDPPort:
    """
    What L{_UDPMemoryReactor.listenUDP} returns.
    """

    def __init__(self, port: int, interface: str) -> None:
        self.port = port
        self.interface = interface
        self.listening = True

    def stopListening(self) -> None:
        self.listening = False


class _UDPMemoryReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} that also records C{listenUDP} calls, which
    L{MemoryReactorClock} does not have.

    @ivar udpServers: C{(port, protocol, interface, maxPacketSize)} for each
        call.
    @ivar udpPorts: the fake ports returned.
    """

    def __init__(self) -> None:
        super().__init__()
        self.udpServers: list[tuple[int, Any, str, int]] = []
        self.udpPorts: list[_FakeUDPPort] = []

    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> _FakeUDPPort:
        self.udpServers.append((port, protocol, interface, maxPacketSize))
        self.udpPorts.append(_FakeUDPPort(port, interface))
        return self.udpPorts[-1]


_STREAM_DEFAULTS: dict[str, Any] = {
    "max-connections": 10000,
    "max-per-source": 100,
    "tls-handshake-timeout": 10.0,
    "grace": 5.0,
    "metrics": None,
}
"""
What every stream service (tsserv, echo, chat) runs with unless told
otherwise, besides its own options.
"""

_CHAT_DEFAULTS: dict[str, Any] = {
    "listen": ["tcp:21569"],
    "default-room": "#lobby",
    "history": 20,
    "max-line-length": 1024,
    "line-rate": 5.0,
    "line-burst": 20.0,
    "backlog-soft": 262144,
    "backlog-soft-seconds": 10.0,
    "backlog-hard": 1048576,
    "registration-timeout": 60.0,
    "idle-timeout": 0.0,
    **_STREAM_DEFAULTS,
}
"""
What C{twistd netlab chat} runs with unless told otherwise.
"""

SHUTDOWN_NOTE = b"NOTE the server is shutting down; goodbye\r\n"
"""
What every chat user is told when the service stops.
"""

PEER = IPv4Address("TCP", "127.0.0.1", 40000)
"""
Where the connections of these tests come from.
"""


def _chatLimits(options: usage.Options) -> ChatLimits:
    """
    @return: the L{ChatLimits} that chat options describe.
    """
    return ChatLimits(
        maxLineLength=options["max-line-length"],
        lineRate=options["line-rate"],
        lineBurst=options["line-burst"],
        backlogSoft=options["backlog-soft"],
        backlogSoftSeconds=options["backlog-soft-seconds"],
        backlogHard=options["backlog-hard"],
        registrationTimeout=options["registration-timeout"],
        idleTimeout=options["idle-timeout"],
    )


class _RecordingPort:
    """
    A listening port, returned by L{_RecordingReactor.listenTCP}, that notes
    in a shared log when it stops listening.
    """

    def __init__(self, log: list[tuple[Any, ...]], port: int) -> None:
        self.log = log
        self.port = port
        self.listening = True

    def startListening(self) -> None:
        pass

    def stopListening(self) -> None:
        self.listening = False
        self.log.append(("stopListening", self.port))

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "0.0.0.0", self.port)


class _RecordingReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} whose listening ports note when they stop
    listening, in C{log}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[Any, ...]] = []

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> _RecordingPort:
        self.tcpServers.append((port, factory, backlog, interface))
        return _RecordingPort(self.log, port)


class _RecordingTransport(StringTransport):
    """
    A L{StringTransport} that notes what is written to it, and when it is
    closed, in a shared log, and whether it was aborted.
    """

    def __init__(self, log: list[tuple[Any, ...]], name: str) -> None:
        super().__init__(peerAddress=PEER)
        self.log = log
        self.name = name
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.log.append(("write", self.name, data))
        super().write(data)

    def loseConnection(self) -> None:
        self.log.append(("loseConnection", self.name))
        super().loseConnection()

    def abortConnection(self) -> None:
        self.aborted = True
        super().abortConnection()


def _guards(service: Any) -> list[ConnectionGuard]:
    """
    @return: the guard of each stream service in C{service}, as its drain
        knows it, in order.
    """
    return [child.target for child in service if isinstance(child, DrainService)]


def _listened(reactor: MemoryReactorClock) -> list[ConnectionGuard]:
    """
    @return: the guard of the factory each started endpoint listens with,
        in order (each listens with one of its guard's listener factories).
    """
    guards = [factory.guard for _, factory, _, _ in reactor.tcpServers]
    for guard in guards:
        assert isinstance(guard, ConnectionGuard), guard
    return guards


def _chatFactory(reactor: MemoryReactorClock) -> ChatFactory:
    """
    @return: the chat factory behind the first endpoint a started chat
        service listens on.
    """
    factory = _listened(reactor)[0].wrappedFactory
    assert isinstance(factory, ChatFactory)
    return factory


def _connect(
    guard: ConnectionGuard,
    log: list[tuple[Any, ...]] | None = None,
    name: str = "peer",
    address: IPv4Address = PEER,
) -> tuple[Any, _RecordingTransport]:
    """
    Connect a protocol of C{guard} to a L{_RecordingTransport}, as the
    listening port would for a connection accepted from C{address}.

    @return: the protocol (a L{GuardedConnection}, or the refusal) and its
        transport.
    """
    protocol = guard.buildProtocol(address)
    assert protocol is not None
    transport = _RecordingTransport([] if log is None else log, name)
    protocol.makeConnection(transport)
    return protocol, transport


def _connectChat(
    reactor: MemoryReactorClock, log: list[tuple[Any, ...]], name: str
) -> tuple[GuardedConnection, ChatProtocol, _RecordingTransport]:
    """
    Connect to the chat service listening on C{reactor}, through its
    guard.

    @return: the connection, the chat protocol it wraps, and its transport.
    """
    connection, transport = _connect(_listened(reactor)[0], log, name)
    assert isinstance(connection, GuardedConnection)
    protocol = connection.wrappedProtocol
    assert isinstance(protocol, ChatProtocol)
    return connection, protocol, transport


def _lost(connection: Any) -> None:
    """
    Tell a connection's protocol that it closed cleanly.
    """
    connection.connectionLost(Failure(ConnectionDone()))


def _types(service: Any) -> list[type]:
    """
    @return: the type of each child of C{service}, in order.
    """
    return [type(child) for child in service]


def _render(site: Site, path: bytes) -> tuple[bytes, DummyRequest]:
    """
    GET C{path} from C{site}, in memory.

    @return: the body, and the request (for its headers and code).
    """
    request = DummyRequest(path.lstrip(b"/").split(b"/"))
    body = site.getResourceFor(request).render(request)
    assert isinstance(body, bytes)
    return body, request


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{tap.Options}, the options of C{twistd netlab}.
    """

    def test_subCommands(self) -> None:
        """
        The tsserv, tsuserv, echo, chat and all sub-commands exist, each with
        a one-line description.
        """
        commands = {command[0]: command for command in tap.Options().subCommands}
        # Other installed distributions may add theirs.
        self.assertLessEqual(
            {"tsserv", "tsuserv", "echo", "chat", "serve", "all"}, set(commands)
        )
        for name, _, optionsClass, description in commands.values():
            self.assertTrue(issubclass(optionsClass, usage.Options), name)
            self.assertIsInstance(description, str)
            self.assertTrue(description.strip(), name)
            self.assertNotIn("\n", description)

    def test_subCommandOptions(self) -> None:
        """
        Each sub-command parses into its own options class.
        """
        self.assertIsInstance(parse("tsserv").subOptions, TimestampServerOptions)
        self.assertIsInstance(parse("tsuserv").subOptions, TimestampUDPOptions)
        self.assertIsInstance(parse("echo").subOptions, EchoOptions)
        self.assertIsInstance(parse("chat").subOptions, ChatOptions)
        self.assertIsInstance(parse("all").subOptions, tap.AllOptions)

    def test_noSubCommand(self) -> None:
        """
        Without a sub-command, parsing fails with a L{usage.UsageError} that
        names the services to choose from.
        """
        error = self.assertRaises(usage.UsageError, parse)
        self.assertIn("tsserv", str(error))
        self.assertIn("tsuserv", str(error))
        self.assertIn("chat", str(error))

    def test_unknownSubCommand(self) -> None:
        """
        An unknown sub-command is a L{usage.UsageError}.
        """
        self.assertRaises(usage.UsageError, parse, "nosuchservice")

    def test_tsservDefaults(self) -> None:
        """
        tsserv listens on tcp:21567 and stamps raw chunks with the local
        ctime, with 8192-byte lines, unless told otherwise.
        """
        options = parse("tsserv").subOptions
        self.assertEqual(options["listen"], ["tcp:21567"])
        self.assertIs(options["format"], TimeFormat.CTIME)
        self.assertFalse(options["utc"])
        self.assertIs(options["framing"], Framing.RAW)
        self.assertEqual(options["max-line-length"], 8192)

    def test_listenRepeatable(self) -> None:
        """
        --listen may be given several times; every endpoint is kept, in
        order, and the default is not added to them.
        """
        options = parse(
            "tsserv", "--listen", "tcp:1234", "--listen", "tcp6:port=1235"
        ).subOptions
        self.assertEqual(options["listen"], ["tcp:1234", "tcp6:port=1235"])

    def test_defaultListenNotShared(self) -> None:
        """
        Changing one parse's listen list does not change the default seen by
        the next parse.
        """
        parse("tsserv").subOptions["listen"].append("tcp:1")
        self.assertEqual(parse("tsserv").subOptions["listen"], ["tcp:21567"])

    def test_format(self) -> None:
        """
        --format iso and --format unix choose those time formats.
        """
        self.assertIs(
            parse("tsserv", "--format", "iso").subOptions["format"], TimeFormat.ISO
        )
        self.assertIs(
            parse("tsserv", "--format", "unix").subOptions["format"], TimeFormat.UNIX
        )

    def test_utc(self) -> None:
        """
        --utc stamps UTC.
        """
        self.assertTrue(parse("tsserv", "--utc").subOptions["utc"])

    def test_framingLine(self) -> None:
        """
        --framing line chooses line framing.
        """
        self.assertIs(
            parse("tsserv", "--framing", "line").subOptions["framing"], Framing.LINE
        )

    def test_maxLineLength(self) -> None:
        """
        --max-line-length takes a positive whole number.
        """
        options = parse("tsserv", "--max-line-length", "100").subOptions
        self.assertEqual(options["max-line-length"], 100)

    def test_badFormat(self) -> None:
        """
        An unknown --format is a L{usage.UsageError} naming the choices.
        """
        error = self.assertRaises(
            usage.UsageError, parse, "tsserv", "--format", "rfc822"
        )
        self.assertIn("ctime", str(error))

    def test_badFraming(self) -> None:
        """
        An unknown --framing is a L{usage.UsageError}.
        """
        self.assertRaises(usage.UsageError, parse, "tsserv", "--framing", "crlf")

    def test_badMaxLineLength(self) -> None:
        """
        --max-line-length 0, a negative number, or a word is a
        L{usage.UsageError}.
        """
        for value in ["0", "-5", "many"]:
            self.assertRaises(
                usage.UsageError, parse, "tsserv", "--max-line-length", value
            )

    def test_tsuservDefaults(self) -> None:
        """
        tsuserv listens on UDP port 21567 on every IPv4 address and stamps
        the local ctime, unless told otherwise.
        """
        options = parse("tsuserv").subOptions
        self.assertEqual(options["udp-port"], 21567)
        self.assertEqual(options["udp-interface"], "")
        self.assertIs(options["format"], TimeFormat.CTIME)
        self.assertFalse(options["utc"])

    def test_tsuservOptions(self) -> None:
        """
        --udp-port, --udp-interface, --format and --utc are taken by tsuserv.
        """
        options = parse(
            "tsuserv",
            "--udp-port",
            "0",
            "--udp-interface",
            "::1",
            "--format",
            "unix",
            "--utc",
        ).subOptions
        self.assertEqual(options["udp-port"], 0)
        self.assertEqual(options["udp-interface"], "::1")
        self.assertIs(options["format"], TimeFormat.UNIX)
        self.assertTrue(options["utc"])

    def test_badUDPPort(self) -> None:
        """
        A --udp-port outside 0 to 65535, or not a number, is a
        L{usage.UsageError}.
        """
        for value in ["70000", "65536", "-1", "http"]:
            self.assertRaises(usage.UsageError, parse, "tsuserv", "--udp-port", value)

    def test_udpPortBounds(self) -> None:
        """
        --udp-port 65535 is accepted.
        """
        self.assertEqual(
            parse("tsuserv", "--udp-port", "65535").subOptions["udp-port"], 65535
        )

    def test_tsuservHasNoListen(self) -> None:
        """
        --listen belongs to the stream services.
        """
        self.assertRaises(usage.UsageError, parse, "tsuserv", "--listen", "tcp:1")

    def test_tsuservRateDefaults(self) -> None:
        """
        tsuserv's guard rates default to 1000 datagrams a second per source
        (bursts of 2000) and 20000 in all (bursts of 40000).
        """
        options = parse("tsuserv").subOptions
        self.assertEqual(
            [
                options[name]
                for name in [
                    "udp-rate",
                    "udp-burst",
                    "udp-global-rate",
                    "udp-global-burst",
                ]
            ],
            [1000, 2000, 20000, 40000],
        )

    def test_echoDefaults(self) -> None:
        """
        echo serves TCP on tcp:21568 and UDP on port 21568 of every IPv4
        address, both, with the default guard rates, unless told otherwise.
        """
        options = parse("echo").subOptions
        self.assertEqual(options["listen"], ["tcp:21568"])
        self.assertEqual(options["udp-port"], 21568)
        self.assertEqual(options["udp-interface"], "")
        self.assertEqual(options["udp-rate"], 1000)
        self.assertEqual(options["udp-burst"], 2000)
        self.assertEqual(options["udp-global-rate"], 20000)
        self.assertEqual(options["udp-global-burst"], 40000)
        self.assertFalse(options["no-tcp"])
        self.assertFalse(options["no-udp"])

    def test_echoOptions(self) -> None:
        """
        echo takes repeated --listen, --udp-port, --udp-interface, the four
        guard rates (fractions allowed) and --no-tcp or --no-udp.
        """
        options = parse(
            "echo",
            "--listen",
            "tcp:1234",
            "--listen",
            "tcp6:port=1235",
            "--udp-port",
            "0",
            "--udp-interface",
            "::1",
            "--udp-rate",
            "2.5",
            "--udp-burst",
            "3",
            "--udp-global-rate",
            "0",
            "--udp-global-burst",
            "7",
            "--no-udp",
        ).subOptions
        self.assertEqual(options["listen"], ["tcp:1234", "tcp6:port=1235"])
        self.assertEqual(options["udp-port"], 0)
        self.assertEqual(options["udp-interface"], "::1")
        self.assertEqual(options["udp-rate"], 2.5)
        self.assertEqual(options["udp-burst"], 3)
        self.assertEqual(options["udp-global-rate"], 0)
        self.assertEqual(options["udp-global-burst"], 7)
        self.assertFalse(options["no-tcp"])
        self.assertTrue(options["no-udp"])
        self.assertTrue(parse("echo", "--no-tcp").subOptions["no-tcp"])

    def test_echoDefaultListenNotShared(self) -> None:
        """
        Changing one parse's echo listen list does not change the default
        seen by the next parse.
        """
        parse("echo").subOptions["listen"].append("tcp:1")
        self.assertEqual(parse("echo").subOptions["listen"], ["tcp:21568"])

    def test_echoNothingToServe(self) -> None:
        """
        --no-tcp with --no-udp is a L{usage.UsageError} that says so.
        """
        error = self.assertRaises(
            usage.UsageError, parse, "echo", "--no-tcp", "--no-udp"
        )
        self.assertIn("nothing to serve", str(error))

    def test_badRates(self) -> None:
        """
        A negative or non-numeric rate, or a burst below 1, is a
        L{usage.UsageError}, for echo and tsuserv alike.
        """
        cases = [
            ("--udp-rate", "-1"),
            ("--udp-rate", "fast"),
            ("--udp-global-rate", "-0.5"),
            ("--udp-burst", "0"),
            ("--udp-burst", "0.5"),
            ("--udp-global-burst", "0"),
            ("--udp-global-burst", "-3"),
        ]
        for service in ["echo", "tsuserv"]:
            for option, value in cases:
                self.assertRaises(usage.UsageError, parse, service, option, value)

    def test_echoBadUDPPort(self) -> None:
        """
        An echo --udp-port outside 0 to 65535 is a L{usage.UsageError}.
        """
        for value in ["65536", "-1", "echo"]:
            self.assertRaises(usage.UsageError, parse, "echo", "--udp-port", value)

    def test_echoHasNoTimestampOptions(self) -> None:
        """
        The timestamp options are not echo's.
        """
        for option in ["--format=iso", "--utc", "--framing=line"]:
            self.assertRaises(usage.UsageError, parse, "echo", option)

    def test_chatDefaults(self) -> None:
        """
        chat listens on tcp:21569, puts everyone in #lobby with 20 lines of
        history, and has the default limits: 1024-byte lines, 5 lines a
        second in bursts of 20, a 256 KiB backlog for 10 seconds or 1 MiB at
        once, 60 seconds to register and no idle timeout.
        """
        options = parse("chat").subOptions
        self.assertEqual(
            {name: options[name] for name in _CHAT_DEFAULTS}, _CHAT_DEFAULTS
        )

    def test_chatDefaultsAreTheLimits(self) -> None:
        """
        chat's default limits are those of L{ChatLimits}, and its default
        room and history those of L{ChatHub}.
        """
        options = parse("chat").subOptions
        self.assertEqual(_chatLimits(options), ChatLimits())
        self.assertEqual(options["default-room"], DEFAULT_ROOM)
        self.assertEqual(options["history"], DEFAULT_HISTORY)
        self.assertEqual(options["listen"], [f"tcp:{CHAT_PORT}"])

    def test_chatOptions(self) -> None:
        """
        Each chat option is taken, as a number of the right kind where it is
        one (fractions allowed for rates, bursts and seconds), and --listen
        may be repeated.
        """
        options = parse(
            "chat",
            "--listen",
            "tcp:1234",
            "--listen",
            "tcp6:port=1235",
            "--default-room",
            "#main",
            "--history",
            "0",
            "--max-line-length",
            "80",
            "--line-rate",
            "0.5",
            "--line-burst",
            "2.5",
            "--backlog-soft",
            "1000",
            "--backlog-soft-seconds",
            "1.5",
            "--backlog-hard",
            "2000",
            "--registration-timeout",
            "0",
            "--idle-timeout",
            "300",
        ).subOptions
        expected = {
            "listen": ["tcp:1234", "tcp6:port=1235"],
            "default-room": "#main",
            "history": 0,
            "max-line-length": 80,
            "line-rate": 0.5,
            "line-burst": 2.5,
            "backlog-soft": 1000,
            "backlog-soft-seconds": 1.5,
            "backlog-hard": 2000,
            "registration-timeout": 0.0,
            "idle-timeout": 300.0,
        }
        self.assertEqual({name: options[name] for name in expected}, expected)
        self.assertIsInstance(options["history"], int)
        self.assertIsInstance(options["max-line-length"], int)

    def test_chatEachOption(self) -> None:
        """
        Each chat option given alone changes only itself.
        """
        cases = [
            ("--default-room", "#x", "#x"),
            ("--history", "5", 5),
            ("--max-line-length", "1", 1),
            ("--line-rate", "0", 0.0),
            ("--line-burst", "1", 1.0),
            ("--backlog-soft", "1", 1),
            ("--backlog-soft-seconds", "0", 0.0),
            ("--backlog-hard", "65536", 65536),
            ("--registration-timeout", "2.5", 2.5),
            ("--idle-timeout", "0.5", 0.5),
        ]
        for option, value, expected in cases:
            options = parse("chat", option, value).subOptions
            name = option[2:]
            self.assertEqual(options[name], expected, option)
            others = {key: options[key] for key in _CHAT_DEFAULTS if key != name}
            self.assertEqual(
                others,
                {key: v for key, v in _CHAT_DEFAULTS.items() if key != name},
                option,
            )

    def test_chatDefaultListenNotShared(self) -> None:
        """
        Changing one parse's chat listen list does not change the default
        seen by the next parse.
        """
        parse("chat").subOptions["listen"].append("tcp:1")
        self.assertEqual(parse("chat").subOptions["listen"], ["tcp:21569"])

    def test_chatBadValues(self) -> None:
        """
        A room name without #, a negative history, a line length below 1, a
        negative rate, a burst below 1, a non-positive backlog, negative
        seconds, or a word where a number goes, is a L{usage.UsageError}.
        """
        cases = [
            ("--default-room", "lobby"),
            ("--default-room", "#"),
            ("--default-room", "#no spaces"),
            ("--default-room", "#" + "x" * 32),
            ("--history", "-1"),
            ("--history", "many"),
            ("--max-line-length", "0"),
            ("--max-line-length", "-1"),
            ("--line-rate", "-1"),
            ("--line-rate", "fast"),
            ("--line-burst", "0"),
            ("--line-burst", "0.5"),
            ("--backlog-soft", "0"),
            ("--backlog-soft-seconds", "-1"),
            ("--backlog-hard", "0"),
            ("--registration-timeout", "-1"),
            ("--idle-timeout", "-0.5"),
        ]
        for option, value in cases:
            self.assertRaises(usage.UsageError, parse, "chat", option, value)

    def test_chatBadRoomSaysWhy(self) -> None:
        """
        The error for a bad --default-room names the value and what a room
        name is.
        """
        error = self.assertRaises(
            usage.UsageError, parse, "chat", "--default-room", "lobby"
        )
        self.assertIn("'lobby'", str(error))
        self.assertIn("#", str(error))

    def test_chatHasNoOtherServicesOptions(self) -> None:
        """
        The timestamp and UDP options are not chat's.
        """
        for option in ["--format=iso", "--utc", "--udp-port=1", "--no-udp"]:
            self.assertRaises(usage.UsageError, parse, "chat", option)


class MakeServiceTests(SynchronousTestCase):
    """
    Tests for L{tap.makeService} on a L{MemoryReactorClock}.
    """

    def test_nothingListensBeforeStart(self) -> None:
        """
        makeService only assembles: nothing listens until the service starts.
        """
        reactor = MemoryReactorClock()
        tap.makeService(parse("tsserv", "--listen", "tcp:1234"), reactor)
        self.assertEqual(reactor.tcpServers, [])

    def test_tsservTwoEndpoints(self) -> None:
        """
        tsserv with two --listen makes two listening services which, once
        started, listen on both ports with a TimestampFactory configured
        from the options.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(
            parse(
                "tsserv",
                "--listen",
                "tcp:1234:interface=127.0.0.1",
                "--listen",
                r"tcp6:port=1235:interface=\:\:1",
                "--framing",
                "line",
                "--format",
                "iso",
                "--utc",
                "--max-line-length",
                "100",
            ),
            reactor,
        )
        verifyObject(IService, service)
        self.assertEqual(
            _types(service),
            [EnoughFiles, DrainService, EndpointService, EndpointService],
        )
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(
            [(port, interface) for port, _, _, interface in reactor.tcpServers],
            [(1234, "127.0.0.1"), (1235, "::1")],
        )
        guards = _listened(reactor)
        self.assertIs(guards[0], guards[1])
        self.assertEqual(_guards(service), [guards[0]])
        for guard in guards:
            factory = guard.wrappedFactory
            self.assertIsInstance(factory, TimestampFactory)
            self.assertIs(factory.framing, Framing.LINE)
            self.assertEqual(factory.maxLineLength, 100)
            self.assertIs(factory.stamper.format, TimeFormat.ISO)
            self.assertTrue(factory.stamper.utc)
            self.assertIs(factory.stamper.clock, reactor)

    def test_tsservDefaults(self) -> None:
        """
        tsserv with no options listens on TCP port 21567 on every address,
        with the classic raw ctime factory.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse("tsserv"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [(port, listener, _, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (21567, ""))
        factory = listener.guard.wrappedFactory
        self.assertIs(factory.framing, Framing.RAW)
        self.assertIs(factory.stamper.format, TimeFormat.CTIME)
        self.assertFalse(factory.stamper.utc)
        self.assertEqual(factory.maxLineLength, 8192)

    def test_tsservStartsOnce(self) -> None:
        """
        Started the way twistd does (privilegedStartService, then
        startService), each endpoint listens once, not twice.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(
            parse("tsserv", "--listen", "tcp:1234", "--listen", "tcp:1235"), reactor
        )
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual([entry[0] for entry in reactor.tcpServers], [1234, 1235])

    def test_tsservStops(self) -> None:
        """
        The started tsserv service stops, and is no longer running.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse("tsserv", "--listen", "tcp:1234"), reactor)
        service.startService()
        self.successResultOf(service.stopService())
        self.assertFalse(service.running)
        self.assertFalse(any(child.running for child in service))

    def test_tsuserv(self) -> None:
        """
        tsuserv makes one UDP service which, once started, listens on the
        chosen port and address with a TimestampDatagramProtocol configured
        from the options, reading datagrams as large as its largest reply.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse(
                "tsuserv",
                "--udp-port",
                "4321",
                "--udp-interface",
                "127.0.0.1",
                "--format",
                "unix",
                "--utc",
            ),
            reactor,
        )
        self.assertEqual(_types(service), [EnoughFiles, DatagramService])
        self.assertEqual(reactor.udpServers, [])
        service.privilegedStartService()
        service.startService()
        [(port, protocol, interface, maxPacketSize)] = reactor.udpServers
        self.assertEqual((port, interface), (4321, "127.0.0.1"))
        self.assertIsInstance(protocol, TimestampDatagramProtocol)
        self.assertIs(protocol.stamper.format, TimeFormat.UNIX)
        self.assertTrue(protocol.stamper.utc)
        self.assertIs(protocol.stamper.clock, reactor)
        self.assertEqual(protocol.maxReplySize, DEFAULT_MAX_REPLY_SIZE)
        self.assertGreaterEqual(maxPacketSize, protocol.maxReplySize)
        service.stopService()
        self.assertFalse(reactor.udpPorts[0].listening)

    def test_tsuservDefaults(self) -> None:
        """
        tsuserv with no options listens on UDP port 21567 on every IPv4
        address, stamping the local ctime.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(parse("tsuserv"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [(port, protocol, interface, _)] = reactor.udpServers
        self.assertEqual((port, interface), (21567, ""))
        self.assertIs(protocol.stamper.format, TimeFormat.CTIME)
        self.assertFalse(protocol.stamper.utc)

    def test_tsuservGuard(self) -> None:
        """
        tsuserv's protocol answers through a L{DatagramGuard} with the rates
        of its --udp-rate, --udp-burst, --udp-global-rate and
        --udp-global-burst, on the reactor's clock.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse(
                "tsuserv",
                "--udp-port",
                "4321",
                "--udp-rate",
                "5",
                "--udp-burst",
                "6",
                "--udp-global-rate",
                "70",
                "--udp-global-burst",
                "80",
            ),
            reactor,
        )
        service.startService()
        self.addCleanup(service.stopService)
        [(_, protocol, _, _)] = reactor.udpServers
        self.assertGuard(protocol.guard, reactor, 5, 6, 70, 80)

    def test_tsuservGuardDefaults(self) -> None:
        """
        Without rate options, tsuserv's guard has the default rates.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(parse("tsuserv"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [(_, protocol, _, _)] = reactor.udpServers
        self.assertGuard(protocol.guard, reactor, 1000, 2000, 20000, 40000)

    def assertGuard(
        self,
        guard: object,
        reactor: Any,
        sourceRate: float,
        sourceBurst: float,
        globalRate: float,
        globalBurst: float,
    ) -> None:
        """
        Assert that C{guard} is a L{DatagramGuard} with these rates, clocked
        by C{reactor}.
        """
        self.assertIsInstance(guard, DatagramGuard)
        assert isinstance(guard, DatagramGuard)
        self.assertEqual(
            (guard.sourceRate, guard.sourceBurst, guard.globalRate, guard.globalBurst),
            (sourceRate, sourceBurst, globalRate, globalBurst),
        )
        self.assertIs(guard._clock, reactor)

    def test_echo(self) -> None:
        """
        echo makes one listening service per --listen, serving an
        L{EchoFactory}, and one UDP service whose L{EchoDatagramProtocol}
        answers through a guard with the rates from the options, reading
        datagrams of up to 65536 bytes; once started, they listen where
        the options say.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse(
                "echo",
                "--listen",
                "tcp:1234:interface=127.0.0.1",
                "--listen",
                r"tcp6:port=1235:interface=\:\:1",
                "--udp-port",
                "4321",
                "--udp-interface",
                "127.0.0.1",
                "--udp-rate",
                "5",
                "--udp-burst",
                "6",
                "--udp-global-rate",
                "70",
                "--udp-global-burst",
                "80",
            ),
            reactor,
        )
        verifyObject(IService, service)
        children = list(service)
        self.assertEqual(
            [type(child) for child in children],
            [
                EnoughFiles,
                DrainService,
                EndpointService,
                EndpointService,
                DatagramService,
            ],
        )
        self.assertEqual(reactor.tcpServers, [])
        self.assertEqual(reactor.udpServers, [])
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(
            [(port, interface) for port, _, _, interface in reactor.tcpServers],
            [(1234, "127.0.0.1"), (1235, "::1")],
        )
        for guard in _listened(reactor):
            self.assertIsInstance(guard.wrappedFactory, EchoFactory)
        [(port, protocol, interface, maxPacketSize)] = reactor.udpServers
        self.assertEqual((port, interface), (4321, "127.0.0.1"))
        self.assertIsInstance(protocol, EchoDatagramProtocol)
        self.assertEqual(maxPacketSize, 65536)
        self.assertGuard(protocol.guard, reactor, 5, 6, 70, 80)

    def test_echoDefaults(self) -> None:
        """
        echo with no options listens on TCP port 21568 and UDP port 21568,
        on every IPv4 address, with the default guard rates.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(parse("echo"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [(tcpPort, listener, _, tcpInterface)] = reactor.tcpServers
        self.assertEqual((tcpPort, tcpInterface), (21568, ""))
        self.assertIsInstance(listener.guard.wrappedFactory, EchoFactory)
        [(udpPort, protocol, udpInterface, _)] = reactor.udpServers
        self.assertEqual((udpPort, udpInterface), (21568, ""))
        self.assertGuard(protocol.guard, reactor, 1000, 2000, 20000, 40000)

    def test_echoNoUDP(self) -> None:
        """
        With --no-udp, echo makes only the listening services, and nothing
        listens on UDP once started.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse("echo", "--listen", "tcp:1234", "--no-udp"), reactor
        )
        self.assertEqual(_types(service), [EnoughFiles, DrainService, EndpointService])
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual([entry[0] for entry in reactor.tcpServers], [1234])
        self.assertEqual(reactor.udpServers, [])

    def test_echoNoTCP(self) -> None:
        """
        With --no-tcp, echo makes only the UDP service, ignoring --listen,
        and nothing listens on TCP once started.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse("echo", "--listen", "tcp:1234", "--udp-port", "4321", "--no-tcp"),
            reactor,
        )
        self.assertEqual(_types(service), [EnoughFiles, DatagramService])
        self.assertEqual(_guards(service), [])
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(reactor.tcpServers, [])
        [(port, protocol, _, _)] = reactor.udpServers
        self.assertEqual(port, 4321)
        self.assertIsInstance(protocol, EchoDatagramProtocol)

    def test_echoStops(self) -> None:
        """
        The started echo service stops: every child stops, and the UDP port
        is no longer listening.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse("echo", "--listen", "tcp:1234", "--udp-port", "4321"), reactor
        )
        service.startService()
        self.successResultOf(service.stopService())
        self.assertFalse(any(child.running for child in service))
        self.assertFalse(reactor.udpPorts[0].listening)

    def test_echoBadEndpoint(self) -> None:
        """
        A malformed echo --listen ends the process with one line naming it,
        before anything listens.
        """
        reactor = _UDPMemoryReactor()
        error = self.assertRaises(
            SystemExit, tap.makeService, parse("echo", "--listen", "tcp:x"), reactor
        )
        message = str(error.code)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("netlab echo: error: "), message)
        self.assertIn("tcp:x", message)
        self.assertEqual(reactor.udpServers, [])

    def test_chat(self) -> None:
        """
        chat makes a drain, then one listening service per --listen, all
        serving one guard that wraps a L{ChatFactory} whose hub has the
        default room and history size of the options, whose limits are those
        of the options, and whose clock is the reactor; once started, they
        listen where the options say.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(
            parse(
                "chat",
                "--listen",
                "tcp:1234:interface=127.0.0.1",
                "--listen",
                r"tcp6:port=1235:interface=\:\:1",
                "--default-room",
                "#main",
                "--history",
                "7",
                "--max-line-length",
                "80",
                "--line-rate",
                "2",
                "--line-burst",
                "3",
                "--backlog-soft",
                "1000",
                "--backlog-soft-seconds",
                "4",
                "--backlog-hard",
                "5000",
                "--registration-timeout",
                "6",
                "--idle-timeout",
                "9",
            ),
            reactor,
        )
        verifyObject(IService, service)
        children = list(service)
        self.assertEqual(
            [type(child) for child in children],
            [EnoughFiles, DrainService, EndpointService, EndpointService],
        )
        self.assertEqual(reactor.tcpServers, [])
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(
            [(port, interface) for port, _, _, interface in reactor.tcpServers],
            [(1234, "127.0.0.1"), (1235, "::1")],
        )
        [guard] = _guards(service)
        self.assertEqual(_listened(reactor), [guard, guard])
        for child in children[2:]:
            self.assertIs(child.factory.guard, guard)
        factory = _chatFactory(reactor)
        self.assertIs(guard.wrappedFactory, factory)
        self.assertIsInstance(factory.hub, ChatHub)
        self.assertEqual(factory.hub.defaultRoom, "#main")
        self.assertEqual(factory.hub.historySize, 7)
        self.assertEqual(
            factory.limits,
            ChatLimits(
                maxLineLength=80,
                lineRate=2.0,
                lineBurst=3.0,
                backlogSoft=1000,
                backlogSoftSeconds=4.0,
                backlogHard=5000,
                registrationTimeout=6.0,
                idleTimeout=9.0,
            ),
        )
        self.assertIs(factory.clock, reactor)

    def test_chatDefaults(self) -> None:
        """
        chat with no options listens on TCP port 21569 on every address,
        with a hub whose default room is #lobby with 20 lines of history,
        and the default limits.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse("chat"), reactor)
        self.assertEqual(_types(service), [EnoughFiles, DrainService, EndpointService])
        service.startService()
        self.addCleanup(service.stopService)
        [(port, _, _, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (21569, ""))
        factory = _chatFactory(reactor)
        self.assertEqual(
            (factory.hub.defaultRoom, factory.hub.historySize), ("#lobby", 20)
        )
        self.assertEqual(factory.limits, ChatLimits())

    def test_chatServes(self) -> None:
        """
        A connection to the started chat service, through its guard, is
        greeted, and registers with a plain line.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse("chat", "--listen", "tcp:1234"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        _, protocol, transport = _connectChat(reactor, [], "alice")
        protocol.dataReceived(b"alice\r\n")
        reactor.advance(0)
        lines = transport.value().split(b"\r\n")
        self.assertTrue(lines[0].startswith(b"NOTE Welcome"), lines)
        self.assertEqual(lines[1:], [b"OK nick alice", b"JOIN #lobby alice", b""])
        self.assertEqual(_chatFactory(reactor).hub.who(protocol), ["alice"])

    def test_chatStopsListeningFirst(self) -> None:
        """
        When the chat service stops, every endpoint stops listening before
        any user is told the server is shutting down.
        """
        reactor = _RecordingReactor()
        service = tap.makeService(
            parse("chat", "--listen", "tcp:1234", "--listen", "tcp:1235"), reactor
        )
        service.startService()
        connection, protocol, _ = _connectChat(reactor, reactor.log, "alice")
        protocol.dataReceived(b"alice\r\n")
        reactor.advance(0)
        del reactor.log[:]
        stopping = service.stopService()
        self.assertEqual(
            reactor.log,
            [
                ("stopListening", 1235),
                ("stopListening", 1234),
                ("write", "alice", SHUTDOWN_NOTE),
                ("loseConnection", "alice"),
            ],
        )
        _lost(connection)
        self.successResultOf(stopping)

    def test_chatShutdownNotice(self) -> None:
        """
        Stopping the chat service tells every connected user, registered or
        not, that the server is shutting down (one NOTE line each), and
        closes their connections; it has stopped once they are closed.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse("chat", "--listen", "tcp:1234"), reactor)
        service.startService()
        log: list[tuple[Any, ...]] = []
        alice, aliceProtocol, aliceTransport = _connectChat(reactor, log, "alice")
        aliceProtocol.dataReceived(b"alice\r\n")
        bob, bobProtocol, bobTransport = _connectChat(reactor, log, "bob")
        bobProtocol.dataReceived(b"/nick bob\r\n")
        stranger, _, strangerTransport = _connectChat(reactor, log, "stranger")
        reactor.advance(0)
        transports = [aliceTransport, bobTransport, strangerTransport]
        for transport in transports:
            transport.clear()

        stopping = service.stopService()

        for transport in transports:
            self.assertEqual(transport.value(), SHUTDOWN_NOTE, transport.name)
            self.assertTrue(transport.disconnecting, transport.name)
            self.assertFalse(transport.aborted, transport.name)
        self.assertNoResult(stopping)
        _lost(alice)
        _lost(bob)
        self.assertNoResult(stopping)
        _lost(stranger)
        self.successResultOf(stopping)
        self.assertFalse(service.running)
        self.assertEqual(_chatFactory(reactor).hub.participants(), [])
        # Nothing is left to abort the connections later.
        reactor.advance(0)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_chatShutdownGrace(self) -> None:
        """
        A connection that has not closed 5 seconds after the shutdown notice
        (its user does not read) is aborted; the service has stopped once it
        is closed.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse("chat", "--listen", "tcp:1234"), reactor)
        service.startService()
        connection, protocol, transport = _connectChat(reactor, [], "alice")
        protocol.dataReceived(b"alice\r\n")
        reactor.advance(0)
        stopping = service.stopService()
        self.assertTrue(transport.value().endswith(SHUTDOWN_NOTE))
        reactor.advance(4.9)
        self.assertFalse(transport.aborted)
        self.assertNoResult(stopping)
        reactor.advance(0.1)
        self.assertTrue(transport.aborted)
        _lost(connection)
        self.successResultOf(stopping)

    def test_chatStopsWithNobodyConnected(self) -> None:
        """
        With nobody connected, the chat service stops at once.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse("chat", "--listen", "tcp:1234"), reactor)
        service.startService()
        self.successResultOf(service.stopService())
        self.assertFalse(any(child.running for child in service))
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_chatBadEndpoint(self) -> None:
        """
        A malformed chat --listen ends the process with one line naming it,
        before anything listens.
        """
        reactor = MemoryReactorClock()
        error = self.assertRaises(
            SystemExit, tap.makeService, parse("chat", "--listen", "tcp:x"), reactor
        )
        message = str(error.code)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("netlab chat: error: "), message)
        self.assertIn("tcp:x", message)
        self.assertEqual(reactor.tcpServers, [])

    def assertOneLineExit(self, error: SystemExit, *fragments: str) -> str:
        """
        Assert that C{error} carries one line, C{netlab tsserv: error: ...},
        containing every fragment, and no traceback or bare exception name.

        @return: the line.
        """
        self.assertIsInstance(error.code, str)
        message = str(error.code)
        self.assertNotIn("\n", message)
        self.assertTrue(
            message.startswith("netlab tsserv: error: "), f"message is {message!r}"
        )
        self.assertNotIn("Traceback", message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message

    def test_malformedPort(self) -> None:
        """
        An endpoint string with a port that is not a number ends the process
        with one line naming it.
        """
        error = self.assertRaises(
            SystemExit,
            tap.makeService,
            parse("tsserv", "--listen", "tcp:abc"),
            MemoryReactorClock(),
        )
        self.assertOneLineExit(error, "tcp:abc")

    def test_unknownEndpointType(self) -> None:
        """
        An endpoint string of an unknown type ends the process with one line
        naming it.
        """
        error = self.assertRaises(
            SystemExit,
            tap.makeService,
            parse("tsserv", "--listen", "nonsense:1"),
            MemoryReactorClock(),
        )
        self.assertOneLineExit(error, "nonsense:1")

    def test_oneBadEndpointAmongGood(self) -> None:
        """
        One bad --listen among good ones ends the process before anything
        listens.
        """
        reactor = MemoryReactorClock()
        error = self.assertRaises(
            SystemExit,
            tap.makeService,
            parse("tsserv", "--listen", "tcp:1234", "--listen", "tcp:x"),
            reactor,
        )
        self.assertOneLineExit(error, "tcp:x")
        self.assertEqual(reactor.tcpServers, [])

    def test_systemdWithoutSocket(self) -> None:
        """
        A systemd: endpoint when systemd passed in no socket ends the process
        with one line that says so, not an IndexError.
        """
        environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("LISTEN_")
        }
        self.patch(os, "environ", environ)
        error = self.assertRaises(
            SystemExit,
            tap.makeService,
            parse("tsserv", "--listen", "systemd:domain=INET:index=0"),
            MemoryReactorClock(),
        )
        message = self.assertOneLineExit(error, "systemd:domain=INET:index=0")
        self.assertNotIn("IndexError", message)
        self.assertIn("no socket", message)

    def test_globalReactor(self) -> None:
        """
        Without a reactor argument, makeService assembles the service on the
        global reactor.
        """
        from twisted.internet import reactor

        service = tap.makeService(parse("tsserv", "--listen", "tcp:0"))
        [guard] = _guards(service)
        self.assertIs(guard.clock, reactor)
        self.assertIs(guard.wrappedFactory.stamper.clock, reactor)


class DaemonTests(SynchronousTestCase):
    """
    Tests for how L{tap.makeService} tells, from twistd's own options
    (C{options.parent}), whether twistd will daemonize.
    """

    def _top(self, parent: Any) -> Any:
        """
        @return: the service made for tsserv with C{parent} as the options'
            parent.
        """
        options = parse("tsserv", "--listen", "tcp:1234")
        options.parent = parent
        return tap.makeService(options, MemoryReactorClock())

    def test_daemonizing(self) -> None:
        """
        Under twistd without C{-n} (C{nodaemon} false), startup errors are
        left as they are for twistd to report.
        """
        self.assertTrue(self._top({"nodaemon": False}).daemon)

    def test_notDaemonizing(self) -> None:
        """
        Under C{twistd -n}, startup errors end the process with one line.
        """
        self.assertFalse(self._top({"nodaemon": True}).daemon)

    def test_noParent(self) -> None:
        """
        With no parent options (twist, or a program calling makeService),
        startup errors end the process with one line.
        """
        self.assertFalse(self._top(None).daemon)

    def test_parentWithoutNodaemon(self) -> None:
        """
        Parent options that have no C{nodaemon} (twist's) do not daemonize.
        """
        self.assertFalse(self._top({}).daemon)

    def test_daemonizingPortInUse(self) -> None:
        """
        Under a daemonizing twistd, a port in use raises the L{StartupError}
        itself, not L{SystemExit}.
        """
        options = parse("tsserv", "--listen", "tcp:1234")
        parent: Any = {"nodaemon": False}
        options.parent = parent
        service = tap.makeService(
            options, _ListeningReactor(cannotListen(errno.EADDRINUSE, port=1234))
        )
        error = self.assertRaises(StartupError, service.privilegedStartService)
        self.assertIn("cannot listen on tcp:1234: another program", str(error))


class PluginTests(SynchronousTestCase):
    """
    Tests for the plugin in C{twisted/plugins/netlab_plugin.py}.
    """

    def test_plugin(self) -> None:
        """
        The plugin is an IPlugin and IServiceMaker named netlab whose options
        are L{tap.Options}.
        """
        from twisted.plugins.netlab_plugin import netlab

        verifyObject(IPlugin, netlab)
        verifyObject(IServiceMaker, netlab)
        self.assertEqual(netlab.tapname, "netlab")
        self.assertTrue(netlab.description)
        self.assertIs(netlab.options, tap.Options)

    def test_pluginMakesService(self) -> None:
        """
        The plugin's makeService builds the same services as
        L{tap.makeService}.
        """
        from twisted.plugins.netlab_plugin import netlab

        service = netlab.makeService(parse("tsserv", "--listen", "tcp:0"))
        [listening] = [child for child in service if type(child) is EndpointService]
        self.assertIsInstance(listening.factory.guard, ConnectionGuard)
        self.assertIsInstance(listening.factory.guard.wrappedFactory, TimestampFactory)

    def test_discovered(self) -> None:
        """
        Twisted's plugin system finds an IServiceMaker named netlab.
        """
        names = [maker.tapname for maker in getPlugins(IServiceMaker)]
        self.assertIn("netlab", names)

    def test_pluginMakesChat(self) -> None:
        """
        The plugin's makeService builds the chat service.
        """
        from twisted.plugins.netlab_plugin import netlab

        service = netlab.makeService(parse("chat", "--listen", "tcp:0"))
        self.assertIsInstance(
            list(service)[-1].factory.guard.wrappedFactory, ChatFactory
        )


class StreamOptionsTests(SynchronousTestCase):
    """
    Tests for the options every stream service (tsserv, echo, chat) takes:
    its connection limits, C{--grace} and C{--metrics}.
    """

    def test_defaults(self) -> None:
        """
        Unless told otherwise, a stream service holds up to 10000
        connections, 100 from one address, gives them 5 seconds to finish
        when it stops, and serves no metrics; tsserv and echo close a
        connection after 300 seconds without a byte, chat (whose own
        --idle-timeout counts lines) never does.
        """
        self.assertEqual(
            _STREAM_DEFAULTS,
            {
                "max-connections": DEFAULT_MAX_CONNECTIONS,
                "max-per-source": DEFAULT_MAX_PER_SOURCE,
                "tls-handshake-timeout": DEFAULT_TLS_HANDSHAKE_TIMEOUT,
                "grace": DEFAULT_GRACE,
                "metrics": None,
            },
        )
        for name, idle in [("tsserv", 300.0), ("echo", 300.0), ("chat", 0.0)]:
            options = parse(name).subOptions
            self.assertEqual(
                {key: options[key] for key in _STREAM_DEFAULTS}, _STREAM_DEFAULTS
            )
            self.assertEqual(options["idle-timeout"], idle, name)
        self.assertEqual(DEFAULT_IDLE_TIMEOUT, 300.0)

    def test_options(self) -> None:
        """
        --max-connections and --max-per-source take whole numbers, 0 to turn
        the limit off; --grace and --idle-timeout take seconds, fractions
        allowed; --metrics takes an endpoint string.
        """
        for name in ["tsserv", "echo", "chat"]:
            options = parse(
                name,
                "--max-connections",
                "5",
                "--max-per-source",
                "0",
                "--grace",
                "0.5",
                "--idle-timeout",
                "2.5",
                "--metrics",
                "tcp:9100:interface=127.0.0.1",
            ).subOptions
            self.assertEqual(
                {
                    key: options[key]
                    for key in [
                        "max-connections",
                        "max-per-source",
                        "grace",
                        "idle-timeout",
                        "metrics",
                    ]
                },
                {
                    "max-connections": 5,
                    "max-per-source": 0,
                    "grace": 0.5,
                    "idle-timeout": 2.5,
                    "metrics": "tcp:9100:interface=127.0.0.1",
                },
                name,
            )
            self.assertIsInstance(options["max-connections"], int)
            self.assertIsInstance(options["max-per-source"], int)

    def test_wholeNumberInAnyNotation(self) -> None:
        """
        A limit written as 1e3 or 100.0 is the whole number it means.
        """
        options = parse(
            "tsserv", "--max-connections", "1e3", "--max-per-source", "100.0"
        ).subOptions
        self.assertEqual(
            (options["max-connections"], options["max-per-source"]), (1000, 100)
        )
        self.assertIsInstance(options["max-connections"], int)

    def test_badLimits(self) -> None:
        """
        A negative limit, a fraction, infinity, or a word, is a
        L{usage.UsageError} (not a traceback) that names the value.
        """
        for name in ["tsserv", "echo", "chat"]:
            for option in ["--max-connections", "--max-per-source"]:
                for value in ["-1", "-0.5", "2.5", "inf", "nan", "many", ""]:
                    error = self.assertRaises(
                        usage.UsageError, parse, name, option, value
                    )
                    self.assertIn(value, str(error), (name, option, value))

    def test_badSeconds(self) -> None:
        """
        A negative --grace or --idle-timeout, or one that is not a number,
        is a L{usage.UsageError}.
        """
        for name in ["tsserv", "echo", "chat"]:
            for option in ["--grace", "--idle-timeout"]:
                for value in ["-1", "-0.5", "nan", "soon", ""]:
                    self.assertRaises(usage.UsageError, parse, name, option, value)

    def test_metricsEverywhere(self) -> None:
        """
        Every service, tsuserv and all included, takes --metrics, and serves
        none unless told.
        """
        for name in ["tsserv", "tsuserv", "echo", "chat", "all"]:
            self.assertIsNone(parse(name).subOptions["metrics"], name)
            self.assertEqual(
                parse(name, "--metrics", "tcp:9100").subOptions["metrics"],
                "tcp:9100",
                name,
            )

    def test_tsuservHasNoConnections(self) -> None:
        """
        The options about connections are not tsuserv's: it takes
        datagrams.
        """
        for option in [
            "--max-connections=1",
            "--max-per-source=1",
            "--grace=1",
            "--idle-timeout=1",
        ]:
            self.assertRaises(usage.UsageError, parse, "tsuserv", option)


class JoinedOptionsTests(SynchronousTestCase):
    """
    Tests for several services on one command line, joined by C{+}.
    """

    def test_oneService(self) -> None:
        """
        One service is one service to run, with its options.
        """
        options = parse("tsserv", "--utc")
        self.assertEqual(options.services(), [("tsserv", options.subOptions)])
        self.assertEqual(options.also, [])

    def test_joinedInOrder(self) -> None:
        """
        Services joined by + are run in the order given, each with the
        options given after its name.
        """
        options = parse(
            "tsserv", "--framing", "line", "+", "echo", "--no-udp", "+", "chat"
        )
        services = options.services()
        self.assertEqual([name for name, _ in services], ["tsserv", "echo", "chat"])
        tsserv, echo, chat = (each for _, each in services)
        self.assertIsInstance(tsserv, TimestampServerOptions)
        self.assertIs(tsserv["framing"], Framing.LINE)
        self.assertIsInstance(echo, EchoOptions)
        self.assertTrue(echo["no-udp"])
        self.assertIsInstance(chat, ChatOptions)
        self.assertEqual({key: chat[key] for key in _CHAT_DEFAULTS}, _CHAT_DEFAULTS)
        self.assertEqual([more.subCommand for more in options.also], ["echo", "chat"])

    def test_sameServiceTwice(self) -> None:
        """
        One service may be joined with itself; each keeps its own options.
        """
        services = parse(
            "tsserv", "--listen", "tcp:1", "+", "tsserv", "--listen", "tcp:2", "--utc"
        ).services()
        self.assertEqual(
            [(name, each["listen"], each["utc"]) for name, each in services],
            [("tsserv", ["tcp:1"], False), ("tsserv", ["tcp:2"], True)],
        )

    def test_optionsStayWithTheirService(self) -> None:
        """
        An option given after a service's name is that service's: one it
        does not take is a L{usage.UsageError}, wherever it stands.
        """
        for args in [
            ("tsserv", "+", "echo", "--framing", "line"),
            ("tsserv", "--no-udp", "+", "echo"),
            ("tsserv", "+", "echo", "+", "chat", "--udp-port", "1"),
        ]:
            self.assertRaises(usage.UsageError, parse, *args)

    def test_emptyGroup(self) -> None:
        """
        A + with no service after it, in the middle or at the end, is a
        L{usage.UsageError} that says a service must follow each +.
        """
        for args in [("tsserv", "+", "+", "echo"), ("tsserv", "+")]:
            error = self.assertRaises(usage.UsageError, parse, *args)
            self.assertIn("after each '+'", str(error))

    def test_nothingBeforePlus(self) -> None:
        """
        A + with no service before it is a L{usage.UsageError} asking for a
        service.
        """
        error = self.assertRaises(usage.UsageError, parse, "+", "echo")
        self.assertIn("choose a service", str(error))

    def test_unknownServiceAfterPlus(self) -> None:
        """
        An unknown service after a + is a L{usage.UsageError}.
        """
        self.assertRaises(usage.UsageError, parse, "tsserv", "+", "nosuchservice")

    def test_allIsNotJoined(self) -> None:
        """
        all runs every service already: joining it with +, before or after
        another service, is a L{usage.UsageError} that says so.
        """
        for args in [("all", "+", "echo"), ("echo", "+", "all"), ("all", "+", "all")]:
            error = self.assertRaises(usage.UsageError, parse, *args)
            self.assertIn("'all' already runs every service", str(error), args)

    def test_makeService(self) -> None:
        """
        makeService runs every joined service, each listening where its own
        options say, with one guard each, named after it.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse(
                "tsserv",
                "--listen",
                "tcp:1",
                "+",
                "echo",
                "--listen",
                "tcp:2",
                "--udp-port",
                "4321",
                "+",
                "chat",
                "--listen",
                "tcp:3",
            ),
            reactor,
        )
        self.assertEqual(service.program, "netlab tsserv + echo + chat")
        self.assertEqual(
            _types(service),
            [
                EnoughFiles,
                DrainService,
                EndpointService,
                DrainService,
                EndpointService,
                DatagramService,
                DrainService,
                EndpointService,
            ],
        )
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual([entry[0] for entry in reactor.tcpServers], [1, 2, 3])
        self.assertEqual([entry[0] for entry in reactor.udpServers], [4321])
        guards = _listened(reactor)
        self.assertEqual(_guards(service), guards)
        self.assertEqual(
            [(guard.service, type(guard.wrappedFactory)) for guard in guards],
            [
                ("tsserv", TimestampFactory),
                ("echo", EchoFactory),
                ("chat", ChatFactory),
            ],
        )

    def test_badEndpointInJoinedService(self) -> None:
        """
        A malformed --listen of any joined service ends the process with one
        line naming every service and the endpoint, before anything listens.
        """
        reactor = MemoryReactorClock()
        error = self.assertRaises(
            SystemExit,
            tap.makeService,
            parse("tsserv", "--listen", "tcp:1", "+", "echo", "--listen", "tcp:x"),
            reactor,
        )
        message = str(error.code)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("netlab tsserv + echo: error: "), message)
        self.assertIn("tcp:x", message)
        self.assertEqual(reactor.tcpServers, [])


class AllTests(SynchronousTestCase):
    """
    Tests for C{twistd netlab all}: every service on its defaults.
    """

    def test_services(self) -> None:
        """
        all runs chat, echo, tsserv and tsuserv, in that order, each with
        the options it has when run alone with none.
        """
        services = parse("all").services()
        self.assertEqual(
            [name for name, _ in services], ["chat", "echo", "tsserv", "tsuserv"]
        )
        for name, options in services:
            self.assertEqual(dict(options), dict(parse(name).subOptions), name)

    def test_defaults(self) -> None:
        """
        all serves no metrics, and gives connections 5 seconds when it
        stops, unless told otherwise.
        """
        options = parse("all").subOptions
        self.assertEqual((options["metrics"], options["grace"]), (None, 5.0))

    def test_metricsAndGrace(self) -> None:
        """
        all's --metrics is every service's, and its --grace every stream
        service's.
        """
        services = parse("all", "--metrics", "tcp:9100", "--grace", "2").services()
        self.assertEqual(
            [(name, options["metrics"]) for name, options in services],
            [(name, "tcp:9100") for name in ["chat", "echo", "tsserv", "tsuserv"]],
        )
        self.assertEqual(
            [(name, options.get("grace")) for name, options in services],
            [("chat", 2.0), ("echo", 2.0), ("tsserv", 2.0), ("tsuserv", None)],
        )

    def test_badGrace(self) -> None:
        """
        A negative or non-numeric --grace is a L{usage.UsageError}.
        """
        for value in ["-1", "soon"]:
            self.assertRaises(usage.UsageError, parse, "all", "--grace", value)

    def test_noOtherOptions(self) -> None:
        """
        all takes only --metrics and --grace: the services' own options are
        for joining them with + instead.
        """
        for option in ["--listen=tcp:1", "--max-connections=5", "--udp-port=1"]:
            self.assertRaises(usage.UsageError, parse, "all", option)

    def test_makeService(self) -> None:
        """
        all listens on every service's default ports: TCP 21567, 21568 and
        21569, and UDP 21567 and 21568.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(parse("all"), reactor)
        self.assertEqual(service.program, "netlab chat + echo + tsserv + tsuserv")
        self.assertEqual(
            _types(service),
            [
                EnoughFiles,
                DrainService,
                EndpointService,
                DrainService,
                EndpointService,
                DatagramService,
                DrainService,
                EndpointService,
                DatagramService,
            ],
        )
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(
            [(port, interface) for port, _, _, interface in reactor.tcpServers],
            [(21569, ""), (21568, ""), (21567, "")],
        )
        self.assertEqual(
            [(port, interface) for port, _, interface, _ in reactor.udpServers],
            [(21568, ""), (21567, "")],
        )
        self.assertEqual(
            [guard.service for guard in _listened(reactor)], ["chat", "echo", "tsserv"]
        )
        self.assertEqual(
            [type(protocol) for _, protocol, _, _ in reactor.udpServers],
            [EchoDatagramProtocol, TimestampDatagramProtocol],
        )

    def test_makeServiceMetricsAndGrace(self) -> None:
        """
        all with --metrics serves them once, on that endpoint, and its
        --grace is how long every stream service's connections get.
        """
        service = tap.makeService(
            parse("all", "--metrics", "tcp:9100", "--grace", "2"), _UDPMemoryReactor()
        )
        [metrics] = [
            child for child in service if isinstance(child, tap._MetricsService)
        ]
        self.assertEqual(metrics.description, "tcp:9100")
        self.assertEqual(
            [drain.grace for drain in service if isinstance(drain, DrainService)],
            [2.0, 2.0, 2.0],
        )


class GuardWiringTests(SynchronousTestCase):
    """
    Tests for the L{ConnectionGuard} that L{tap.makeService} puts in front
    of each stream service's factory.
    """

    def test_limitsFromOptions(self) -> None:
        """
        tsserv's and echo's guards have the limits of their
        --max-connections, --max-per-source and --idle-timeout, are named
        after their service, count into their factory's counters, and run on
        the reactor.
        """
        for name in ["tsserv", "echo"]:
            reactor = _UDPMemoryReactor()
            service = tap.makeService(
                parse(
                    name,
                    "--max-connections",
                    "7",
                    "--max-per-source",
                    "3",
                    "--idle-timeout",
                    "9",
                ),
                reactor,
            )
            [guard] = _guards(service)
            self.assertEqual(guard.limits, ConnectionLimits(7, 3, 9.0), name)
            self.assertEqual(guard.service, name)
            self.assertIs(guard.stats, guard.wrappedFactory.stats)
            self.assertEqual(
                (guard.stats.service, guard.stats.transport), (name, "tcp")
            )
            self.assertIs(guard.clock, reactor)

    def test_defaultLimits(self) -> None:
        """
        Without options, tsserv's and echo's guards have the default
        limits, and chat's the same but no idle timeout.
        """
        for name, limits in [
            ("tsserv", ConnectionLimits()),
            ("echo", ConnectionLimits()),
            ("chat", ConnectionLimits(idleTimeout=0)),
        ]:
            [guard] = _guards(tap.makeService(parse(name), _UDPMemoryReactor()))
            self.assertEqual(guard.limits, limits, name)

    def test_chatIdleTimeoutIsChats(self) -> None:
        """
        chat's --idle-timeout (a time without a line) goes to the chat
        protocol's limits; its guard, which would count bytes, has none,
        and its other limits are chat's options.
        """
        service = tap.makeService(
            parse(
                "chat",
                "--idle-timeout",
                "9",
                "--max-connections",
                "7",
                "--max-per-source",
                "3",
            ),
            MemoryReactorClock(),
        )
        [guard] = _guards(service)
        self.assertEqual(guard.limits, ConnectionLimits(7, 3, 0))
        self.assertEqual(guard.wrappedFactory.limits.idleTimeout, 9.0)
        self.assertEqual(guard.service, "chat")
        self.assertIs(guard.stats, guard.wrappedFactory.stats)

    def test_chatNotClosedByGuardWhenQuiet(self) -> None:
        """
        A registered chat user who says nothing for a long time is not
        disconnected (chat's --idle-timeout is 0 unless given).
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse("chat", "--listen", "tcp:1"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        _, protocol, transport = _connectChat(reactor, [], "alice")
        protocol.dataReceived(b"alice\r\n")
        reactor.pump([60.0] * 20)
        self.assertFalse(transport.disconnecting)

    def test_tlsHandshakeTimeout(self) -> None:
        """
        --tls-handshake-timeout goes to every stream service's guard; 0
        turns it off, and it cannot be negative.
        """
        for name in ("tsserv", "echo", "chat"):
            for given, expected in [("2.5", 2.5), ("0", 0.0)]:
                service = tap.makeService(
                    parse(name, "--no-udp", "--tls-handshake-timeout", given)
                    if name == "echo"
                    else parse(name, "--tls-handshake-timeout", given),
                    _UDPMemoryReactor(),
                )
                [guard] = _guards(service)
                self.assertEqual(guard.limits.tlsHandshakeTimeout, expected, name)
            self.assertRaises(
                usage.UsageError, parse, name, "--tls-handshake-timeout", "-1"
            )

    def test_joinedServicesOwnLimits(self) -> None:
        """
        Joined services each have the limits of their own options.
        """
        service = tap.makeService(
            parse(
                "tsserv",
                "--listen",
                "tcp:1",
                "--max-connections",
                "1",
                "+",
                "echo",
                "--listen",
                "tcp:2",
                "--max-per-source",
                "2",
            ),
            _UDPMemoryReactor(),
        )
        self.assertEqual(
            [guard.limits for guard in _guards(service)],
            [ConnectionLimits(maxConnections=1), ConnectionLimits(maxPerSource=2)],
        )

    def test_datagramCounters(self) -> None:
        """
        tsuserv's and echo's UDP protocols count into counters of their
        service, over udp.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse("tsuserv", "+", "echo", "--no-tcp", "--udp-port", "4321"), reactor
        )
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(
            [
                (protocol.stats.service, protocol.stats.transport)
                for _, protocol, _, _ in reactor.udpServers
            ],
            [("tsuserv", "udp"), ("echo", "udp")],
        )

    def _refused(self, *args: str) -> bytes:
        """
        Start the service that C{args} describe (one stream service with
        --max-connections 1), connect twice, and leave the first
        connection open.

        @return: what the second connection was sent before it was closed.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(parse(*args, "--max-connections", "1"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [guard] = _listened(reactor)
        first, _ = _connect(guard)
        self.assertIsInstance(first, GuardedConnection)
        second, transport = _connect(guard, address=IPv4Address("TCP", "10.0.0.2", 1))
        self.assertNotIsInstance(second, GuardedConnection)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(guard.stats.refusals, {"max-connections": 1})
        return transport.value()

    def test_tsservRefusal(self) -> None:
        """
        A connection tsserv refuses is told why in an C{error:} line.
        """
        self.assertEqual(
            self._refused("tsserv", "--listen", "tcp:1"),
            b"error: the server has too many connections (1); try again later\n",
        )

    def test_chatRefusal(self) -> None:
        """
        A connection chat refuses is told why in an C{ERR *} line that names
        the limit.
        """
        self.assertEqual(
            self._refused("chat", "--listen", "tcp:1"),
            b"ERR * max-connections the server has too many connections (1); "
            b"try again later\r\n",
        )

    def test_echoRefusal(self) -> None:
        """
        A connection echo refuses is closed without a word: anything sent
        would read as an echo.
        """
        self.assertEqual(self._refused("echo", "--listen", "tcp:1", "--no-udp"), b"")

    def test_perSourceRefusal(self) -> None:
        """
        A connection over --max-per-source is told why, and one from another
        address is still served.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(
            parse("tsserv", "--listen", "tcp:1", "--max-per-source", "1"), reactor
        )
        service.startService()
        self.addCleanup(service.stopService)
        [guard] = _listened(reactor)
        _connect(guard)
        _, transport = _connect(guard)
        self.assertEqual(
            transport.value(),
            b"error: too many connections from your address (1); close one and "
            b"try again\n",
        )
        other, _ = _connect(guard, address=IPv4Address("TCP", "10.0.0.2", 1))
        self.assertIsInstance(other, GuardedConnection)

    def test_idleTimeout(self) -> None:
        """
        A tsserv connection that sends and receives nothing for
        --idle-timeout seconds is told so in an C{error:} line and closed;
        an echo connection is closed without a word.
        """
        for name, line in [
            ("tsserv", b"error: nothing sent or received for 10s; goodbye\n"),
            ("echo", b""),
        ]:
            reactor = _UDPMemoryReactor()
            service = tap.makeService(
                parse(name, "--listen", "tcp:1", "--idle-timeout", "10"), reactor
            )
            service.startService()
            [guard] = _listened(reactor)
            _, transport = _connect(guard)
            reactor.pump([1.0] * 9)
            self.assertFalse(transport.disconnecting, name)
            reactor.advance(1.0)
            self.assertTrue(transport.disconnecting, name)
            self.assertEqual(transport.value(), line, name)
            self.assertEqual(guard.stats.refusals, {"idle-timeout": 1})
            service.stopService()


class MetricsWiringTests(SynchronousTestCase):
    """
    Tests for C{--metrics}: the services that serve the counters of every
    service in the process.
    """

    def _metrics(self, service: Any) -> list[tap._MetricsService]:
        return [child for child in service if isinstance(child, tap._MetricsService)]

    def test_badEndpointNamesOption(self) -> None:
        """
        A --metrics string that is not an endpoint ends the process with one
        line that names --metrics, not --listen.
        """
        error = self.assertRaises(
            SystemExit,
            tap.makeService,
            parse("echo", "--no-udp", "--metrics", "tcp:x"),
            MemoryReactorClock(),
        )
        message = str(error.code)
        self.assertNotIn("\n", message)
        self.assertIn("--metrics tcp:x", message)
        self.assertNotIn("--listen", message)

    def test_noneByDefault(self) -> None:
        """
        Without --metrics, nothing serves metrics.
        """
        service = tap.makeService(parse("all"), _UDPMemoryReactor())
        self.assertEqual(self._metrics(service), [])

    def test_endpoint(self) -> None:
        """
        --metrics adds one that listens on its endpoint with an HTTP site on
        the service's reactor, before the services, so that it stops after
        them: the metrics show connections draining on the way out.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(
            parse(
                "tsserv",
                "--listen",
                "tcp:1",
                "--metrics",
                "tcp:9100:interface=127.0.0.1",
            ),
            reactor,
        )
        children = list(service)
        self.assertIsInstance(children[1], tap._MetricsService)
        self.assertEqual(children[1].description, "tcp:9100:interface=127.0.0.1")
        service.startService()
        self.addCleanup(service.stopService)
        [(port, site, _, interface), _] = reactor.tcpServers
        self.assertEqual((port, interface), (9100, "127.0.0.1"))
        self.assertIsInstance(site, Site)
        self.assertIs(site.reactor, reactor)

    def test_deduplicated(self) -> None:
        """
        Services that name the same --metrics endpoint share one; each other
        endpoint gets its own, in the order first named, all serving the
        same site.
        """
        service = tap.makeService(
            parse(
                "tsserv",
                "--listen",
                "tcp:1",
                "--metrics",
                "tcp:9100",
                "+",
                "tsuserv",
                "--metrics",
                "tcp:9101",
                "+",
                "chat",
                "--listen",
                "tcp:2",
                "--metrics",
                "tcp:9100",
                "+",
                "echo",
                "--listen",
                "tcp:3",
            ),
            _UDPMemoryReactor(),
        )
        metrics = self._metrics(service)
        self.assertEqual(
            [child.description for child in metrics], ["tcp:9100", "tcp:9101"]
        )
        self.assertIs(metrics[0].factory, metrics[1].factory)
        children = list(service)
        self.assertEqual(children[1:3], metrics)

    def test_everyServiceReported(self) -> None:
        """
        The metrics report every service in the process, over TCP and UDP,
        and the chat's users and rooms.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse(
                "tsserv",
                "--listen",
                "tcp:1",
                "--metrics",
                "tcp:9100",
                "+",
                "tsuserv",
                "--udp-port",
                "4321",
                "+",
                "echo",
                "--listen",
                "tcp:2",
                "--udp-port",
                "4322",
                "+",
                "chat",
                "--listen",
                "tcp:3",
            ),
            reactor,
        )
        [metrics] = self._metrics(service)
        body, _ = _render(metrics.factory, b"/metrics")
        for series in [
            b'netlab_connections_open{service="tsserv",transport="tcp"} 0.0',
            b'netlab_connections_open{service="echo",transport="tcp"} 0.0',
            b'netlab_connections_open{service="chat",transport="tcp"} 0.0',
            b'netlab_messages_total{service="tsuserv",transport="udp"} 0.0',
            b'netlab_messages_total{service="echo",transport="udp"} 0.0',
            b'netlab_chat_users{service="chat"} 0.0',
        ]:
            self.assertIn(series, body.splitlines())

    def test_badEndpoint(self) -> None:
        """
        A malformed --metrics ends the process with one line naming it,
        before anything listens.
        """
        reactor = MemoryReactorClock()
        error = self.assertRaises(
            SystemExit,
            tap.makeService,
            parse("tsserv", "--listen", "tcp:1", "--metrics", "tcp:x"),
            reactor,
        )
        message = str(error.code)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("netlab tsserv: error: "), message)
        self.assertIn("tcp:x", message)
        self.assertEqual(reactor.tcpServers, [])


class StoppingTests(SynchronousTestCase):
    """
    Tests for how a service made by L{tap.makeService} stops: listeners
    first, then each stream service's connections, which get C{--grace}
    seconds to finish.
    """

    def test_listenersStopFirst(self) -> None:
        """
        When the service stops, every endpoint stops listening before any
        connection is closed; it has stopped once the connections are
        closed.
        """
        reactor = _RecordingReactor()
        service = tap.makeService(
            parse("tsserv", "--listen", "tcp:1234", "--listen", "tcp:1235"), reactor
        )
        service.startService()
        connection, _ = _connect(_listened(reactor)[0], reactor.log, "peer")
        stopping = service.stopService()
        self.assertEqual(
            reactor.log,
            [
                ("stopListening", 1235),
                ("stopListening", 1234),
                ("loseConnection", "peer"),
            ],
        )
        self.assertNoResult(stopping)
        _lost(connection)
        self.successResultOf(stopping)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_drains(self) -> None:
        """
        Each stream service drains with its own --grace, and tells its
        peers that the server is shutting down (chat users hear goodbye).
        """
        service = tap.makeService(
            parse(
                "tsserv",
                "--listen",
                "tcp:1",
                "--grace",
                "1",
                "+",
                "echo",
                "--listen",
                "tcp:2",
                "+",
                "chat",
                "--listen",
                "tcp:3",
                "--grace",
                "0",
            ),
            _UDPMemoryReactor(),
        )
        self.assertEqual(
            [
                (drain.target.service, drain.grace, drain.reason)
                for drain in service
                if isinstance(drain, DrainService)
            ],
            [
                ("tsserv", 1.0, "the server is shutting down"),
                ("echo", 5.0, "the server is shutting down"),
                ("chat", 0.0, "the server is shutting down; goodbye"),
            ],
        )

    def test_waitsForEveryService(self) -> None:
        """
        Joined services stop once the connections of every one are closed.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse("tsserv", "--listen", "tcp:1", "+", "echo", "--listen", "tcp:2"),
            reactor,
        )
        service.startService()
        tsserv, echo = _listened(reactor)
        first, firstTransport = _connect(tsserv)
        second, secondTransport = _connect(echo)
        stopping = service.stopService()
        self.assertTrue(firstTransport.disconnecting)
        self.assertTrue(secondTransport.disconnecting)
        _lost(second)
        self.assertNoResult(stopping)
        _lost(first)
        self.successResultOf(stopping)

    def test_grace(self) -> None:
        """
        Connections still open --grace seconds after the service began to
        stop are aborted, each service's after its own grace.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse(
                "tsserv",
                "--listen",
                "tcp:1",
                "--grace",
                "1",
                "+",
                "echo",
                "--listen",
                "tcp:2",
                "--grace",
                "3",
            ),
            reactor,
        )
        service.startService()
        tsserv, echo = _listened(reactor)
        first, firstTransport = _connect(tsserv)
        second, secondTransport = _connect(echo)
        stopping = service.stopService()
        reactor.advance(0.9)
        self.assertFalse(firstTransport.aborted)
        reactor.advance(0.1)
        self.assertTrue(firstTransport.aborted)
        self.assertFalse(secondTransport.aborted)
        _lost(first)
        reactor.advance(2)
        self.assertTrue(secondTransport.aborted)
        self.assertNoResult(stopping)
        _lost(second)
        self.successResultOf(stopping)

    def test_graceZero(self) -> None:
        """
        With --grace 0, connections are aborted as soon as the reactor
        turns.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(
            parse("tsserv", "--listen", "tcp:1", "--grace", "0"), reactor
        )
        service.startService()
        connection, transport = _connect(_listened(reactor)[0])
        service.stopService()
        reactor.advance(0)
        self.assertTrue(transport.aborted)
        _lost(connection)
