"""
Tests for L{netlab.chat._tap}: the options of C{twistd netlab chat}, and the
service L{netlab.tap.makeService} builds from them, up to how it tells its
users goodbye when it stops.

Reactor-free: services are built on a L{MemoryReactorClock}.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.application.service import IService
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import capturedLogs
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage
from zope.interface.verify import verifyObject

from netlab import tap
from netlab._lifecycle import DrainService, EnoughFiles
from netlab._service import EndpointService
from netlab.chat import (
    DEFAULT_HISTORY,
    DEFAULT_ROOM,
    ChatFactory,
    ChatHub,
    ChatLimits,
    ChatProtocol,
)
from netlab.chat import DEFAULT_PORT as CHAT_PORT
from netlab.chat._irc import IRCFactory
from netlab.policies import ConnectionLimits, GuardedConnection
from tests._certificates import selfSigned, temporaryDirectory
from tests._tapsupport import (
    _CHAT_DEFAULTS,
    PEER,
    _connect,
    _guards,
    _listened,
    _lost,
    _RecordingReactor,
    _RecordingTransport,
    _RefusalTestsMixin,
    _types,
    _UDPMemoryReactor,
    parse,
)

SHUTDOWN_NOTE = b"NOTE the server is shutting down; goodbye\r\n"
"""
What every chat user is told when the service stops.
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


def _chatFactory(reactor: MemoryReactorClock) -> ChatFactory:
    """
    @return: the chat factory behind the first endpoint a started chat
        service listens on.
    """
    factory = _listened(reactor)[0].wrappedFactory
    assert isinstance(factory, ChatFactory)
    return factory


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


class OptionsTests(SynchronousTestCase):
    """
    Tests for the options of C{twistd netlab chat}
    (L{netlab.chat._tap.ChatOptions}), as L{tap.Options} parses them.
    """

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
    Tests for the chat service that L{tap.makeService} builds, on a
    L{MemoryReactorClock}.
    """

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


class GuardWiringTests(_RefusalTestsMixin, SynchronousTestCase):
    """
    Tests for the L{netlab.policies.ConnectionGuard} that L{tap.makeService}
    puts in front of chat's factory.
    """

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


class IRCWiringTests(SynchronousTestCase):
    """
    C{--irc ENDPOINT}: IRC listeners beside the line protocol's, behind the
    same guard, on the same hub.
    """

    def test_noIRCByDefault(self) -> None:
        """
        Without C{--irc} (and in C{all}) the chat service listens only for
        its line protocol.
        """
        for words in (["chat"], ["all"]):
            reactor = _UDPMemoryReactor()
            service = tap.makeService(parse(*words), reactor)
            service.startService()
            self.addCleanup(service.stopService)
            chat = [
                factory
                for _, factory, _, _ in reactor.tcpServers
                if factory.guard.service == "chat"
            ]
            self.assertEqual(len(chat), 1, words)
            self.assertEqual(chat[0].stats.protocol, "")

    def test_ircListeners(self) -> None:
        """
        Each C{--irc} endpoint is listened on with an IRC factory of the
        line protocol's hub, through the line protocol's guard, counted
        under the C{irc} protocol label; the ping interval is the
        option's.
        """
        reactor = MemoryReactorClock()
        options = parse(
            "chat",
            "--listen",
            "tcp:1",
            "--irc",
            "tcp:6667",
            "--irc",
            "tcp:6668",
            "--irc-ping-interval",
            "30",
        )
        service = tap.makeService(options, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [guard] = _guards(service)
        ports = {port: factory for port, factory, _, _ in reactor.tcpServers}
        self.assertEqual(sorted(ports), [1, 6667, 6668])
        for port in (6667, 6668):
            listener = ports[port]
            self.assertIs(listener.guard, guard)
            self.assertIsInstance(listener.factory, IRCFactory)
            self.assertIs(listener.factory.hub, guard.wrappedFactory.hub)
            self.assertEqual(listener.factory.pingInterval, 30)
            self.assertEqual(listener.stats.protocol, "irc")
        self.assertIs(ports[6667].factory, ports[6668].factory)

    def test_limitsShared(self) -> None:
        """
        C{--max-connections} counts line-protocol and IRC connections
        together; a refused IRC connection is told why in an C{ERROR}
        line.
        """
        reactor = MemoryReactorClock()
        options = parse("chat", "--irc", "tcp:6667", "--max-connections", "1")
        service = tap.makeService(options, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        ports = {port: factory for port, factory, _, _ in reactor.tcpServers}
        line = ports[CHAT_PORT].buildProtocol(PEER)
        line.makeConnection(StringTransport())
        with capturedLogs():
            refused = ports[6667].buildProtocol(PEER)
            transport = StringTransport()
            refused.makeConnection(transport)
        self.assertEqual(
            transport.value(),
            b"ERROR :Closing link: the server has too many connections (1); "
            b"try again later (max-connections)\r\n",
        )

    def test_badIRCEndpoint(self) -> None:
        """
        A malformed C{--irc} ends the process with one line naming it and
        the option, before anything listens.
        """
        reactor = MemoryReactorClock()
        error = self.assertRaises(
            SystemExit, tap.makeService, parse("chat", "--irc", "tcp:x"), reactor
        )
        message = str(error.code)
        self.assertNotIn("\n", message)
        self.assertIn("tcp:x", message)
        self.assertIn("--irc", message)
        self.assertEqual(reactor.tcpServers, [])

    def test_tlsEndpoint(self) -> None:
        """
        C{--irc ssl:...} gives IRC over TLS, counted under the C{tls}
        transport.
        """
        files = selfSigned(temporaryDirectory(self))
        reactor = MemoryReactorClock()
        options = parse(
            "chat",
            "--irc",
            f"ssl:6697:privateKey={files.key}:certKey={files.certificate}",
        )
        service = tap.makeService(options, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        ports = {server[0]: server[1] for server in reactor.sslServers}
        self.assertEqual(ports[6697].transport, "tls")
        self.assertEqual(ports[6697].stats.protocol, "irc")


def _webListener(reactor: MemoryReactorClock) -> Any:
    """
    @return: the listener factory of the first C{--web} endpoint a started
        chat service listens on.
    """
    [listener] = [
        factory
        for _, factory, _, _ in reactor.tcpServers
        if getattr(getattr(factory, "stats", None), "protocol", "") == "web"
    ][:1]
    return listener


class WebTests(SynchronousTestCase):
    """
    C{--web} and C{--web-origin}: the chat's web site, behind the line
    protocol's guard.
    """

    def test_noWebByDefault(self) -> None:
        """
        Without C{--web}, chat serves no web site, nor does C{all}.
        """
        for args in [("chat",), ("all",)]:
            children = list(tap.makeService(parse(*args), MemoryReactorClock()))
            for child in children:
                factory = getattr(child, "factory", None)
                self.assertNotEqual(
                    getattr(getattr(factory, "stats", None), "protocol", ""),
                    "web",
                    args,
                )

    def test_options(self) -> None:
        """
        C{--web} and C{--web-origin} may be given several times.
        """
        options = parse(
            "chat",
            "--web",
            "tcp:8080",
            "--web",
            "tcp6:8081",
            "--web-origin",
            "https://chat.example",
            "--web-origin",
            "http://localhost:8080",
        ).subOptions
        self.assertEqual(options["web"], ["tcp:8080", "tcp6:8081"])
        self.assertEqual(
            options["web-origin"], ["https://chat.example", "http://localhost:8080"]
        )
        self.assertEqual(parse("chat").subOptions["web"], [])

    def test_badOrigin(self) -> None:
        """
        A C{--web-origin} that is not an origin is refused, saying what one
        looks like.
        """
        with self.assertRaises(usage.UsageError) as raised:
            parse("chat", "--web-origin", "chat.example")
        self.assertIn("scheme://host[:port]", str(raised.exception))

    def test_listeners(self) -> None:
        """
        Each C{--web} endpoint is a listener of the line protocol's guard,
        counted under the C{protocol} label C{web} and its transport, its
        factory the chat's web site on the same hub.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(
            parse(
                "chat",
                "--listen",
                "tcp:1234",
                "--web",
                "tcp:8080",
                "--web",
                "unix:/nowhere/chat.sock",
            ),
            reactor,
        )
        children = list(service)
        self.assertEqual(
            _types(service), [EnoughFiles, DrainService, *[EndpointService] * 3]
        )
        guard = children[1].target
        factories = [child.factory for child in children[2:]]
        self.assertEqual(
            [(f.guard, f.transport, f.stats.protocol) for f in factories],
            [(guard, "tcp", ""), (guard, "tcp", "web"), (guard, "unix", "web")],
        )
        self.assertIsInstance(factories[1].factory, Site)
        self.assertIs(factories[1].factory, factories[2].factory)
        self.assertEqual(factories[1].stats.service, "chat")

    def test_webServes(self) -> None:
        """
        A web connection to the started service gets the page, and its
        WebSocket users are told goodbye (a note, then 1001) when the
        service stops.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(
            parse("chat", "--listen", "tcp:1234", "--web", "tcp:8080"), reactor
        )
        service.startService()
        listener = _webListener(reactor)
        connection = listener.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5))
        self.assertIsInstance(connection, GuardedConnection)
        transport = StringTransport()
        connection.makeConnection(transport)
        ws = WSConnection(ConnectionType.CLIENT)
        connection.dataReceived(ws.send(Request(host="localhost:8080", target="/ws")))
        ws.receive_data(transport.value())
        transport.clear()
        self.assertIsInstance(next(ws.events()), AcceptConnection)
        connection.dataReceived(
            ws.send(TextMessage(json.dumps({"type": "nick", "nick": "alice"})))
        )
        reactor.advance(0)
        self.assertEqual(
            [p for p in _chatFactory(reactor).hub.participants()],
            [connection.wrappedProtocol.webSocket],
        )
        stopping = service.stopService()
        ws.receive_data(transport.value())
        events = list(ws.events())
        texts = [json.loads(e.data) for e in events if isinstance(e, TextMessage)]
        self.assertEqual(
            texts[-1], {"type": "note", "text": "the server is shutting down; goodbye"}
        )
        [close] = [e for e in events if isinstance(e, CloseConnection)]
        self.assertEqual(close.code, 1001)
        self.assertTrue(transport.disconnecting)
        _lost(connection)
        self.successResultOf(stopping)

    def test_webRefusal(self) -> None:
        """
        A web connection over the shared limits gets an HTTP 503 response.
        """
        reactor = MemoryReactorClock()
        service = tap.makeService(
            parse(
                "chat",
                "--listen",
                "tcp:1234",
                "--web",
                "tcp:8080",
                "--max-connections",
                "1",
            ),
            reactor,
        )
        service.startService()
        self.addCleanup(service.stopService)
        _connectChat(reactor, [], "alice")
        refused = _webListener(reactor).buildProtocol(IPv4Address("TCP", "10.0.0.2", 1))
        transport = StringTransport()
        refused.makeConnection(transport)
        self.assertTrue(
            transport.value().startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        )
        self.assertIn(b"too many connections (1)", transport.value())


class BusWiringTests(SynchronousTestCase):
    """
    C{--bus}, C{--node} and C{--node-timeout}, on a L{MemoryReactorClock}.
    """

    def test_noBusByDefault(self) -> None:
        """
        Without C{--bus} the hub has no bus and nothing talks to Redis.
        """
        from netlab.chat._bus import BusService

        service = tap.makeService(parse("chat"), MemoryReactorClock())
        [guard] = _guards(service)
        self.assertIsNone(guard.wrappedFactory.hub.bus)
        self.assertEqual(
            [s for s in _types(service) if s is BusService], [], list(service)
        )

    def test_bus(self) -> None:
        """
        C{--bus} makes the hub one node: a L{BusService} of the address,
        started before the listeners (so it stops after their users have
        quit), with the node's name and timeout, and the bus's gauges.
        """
        from netlab.chat._bus import BusService

        options = parse(
            "chat",
            "--bus",
            "redis://:pw@redis.example:6380/2",
            "--node",
            "east-1",
            "--node-timeout",
            "4.5",
        )
        service = tap.makeService(options, MemoryReactorClock())
        children = list(service)
        [bus] = [c for c in children if isinstance(c, BusService)]
        listeners = [c for c in children if isinstance(c, EndpointService)]
        self.assertLess(children.index(bus), children.index(listeners[0]))
        self.assertEqual(bus.address.host, "redis.example")
        self.assertEqual(bus.address.db, 2)
        self.assertEqual(bus.bus.node, "east-1")
        self.assertEqual(bus.bus.nodeTimeout, 4.5)
        [guard] = _guards(service)
        self.assertIs(guard.wrappedFactory.hub.bus, bus.bus)
        self.assertEqual(
            bus.drains, [c for c in children if isinstance(c, DrainService)]
        )
        self.assertTrue(bus.drains)

    def test_defaultNode(self) -> None:
        """
        A node is named after its host and process by default.
        """
        import os
        import socket

        from netlab.chat._bus import BusService

        options = parse("chat", "--bus", "redis://h")
        service = tap.makeService(options, MemoryReactorClock())
        [bus] = [c for c in service if isinstance(c, BusService)]
        self.assertEqual(bus.bus.node, f"{socket.gethostname()}-{os.getpid()}")

    def test_badValues(self) -> None:
        """
        A C{--bus} that is not a Redis address, a node name with spaces, or
        a node timeout that is not positive, is a L{usage.UsageError}.
        """
        for option, value in [
            ("--bus", "http://h"),
            ("--bus", "redis://h/db"),
            ("--node", "two words"),
            ("--node-timeout", "0"),
        ]:
            self.assertRaises(usage.UsageError, parse, "chat", option, value)


class BusInWorkersTests(SynchronousTestCase):
    """
    C{chat --workers N --bus ...}: every worker a node of one chat.
    """

    def workerBus(self, *arguments: str, index: int = 2) -> Any:
        from netlab._worker import WorkerRole
        from netlab.chat._bus import BusService

        options = parse("chat", "--workers", "3", "--bus", "redis://h", *arguments)
        reactor = MemoryReactorClock()
        service = tap.makeService(options, reactor, WorkerRole(reactor, index, 3))
        [bus] = [c for c in service if isinstance(c, BusService)]
        return bus

    def test_workerNodes(self) -> None:
        """
        A worker's node is named after C{--node} and its number, so that a
        worker restarted after it died has its name again; it does not
        check that no live node has the name (its killed predecessor may
        still look alive).
        """
        bus = self.workerBus("--node", "east")
        self.assertEqual(bus.bus.node, "east-w2")
        self.assertFalse(bus.checkPresence)
        self.assertEqual(self.workerBus("--node", "east", index=1).bus.node, "east-w1")

    def test_workerDefaultNode(self) -> None:
        """
        Without C{--node}, a worker's node is named after its host, its
        parent's process id and its number.
        """
        import os
        import socket

        bus = self.workerBus()
        self.assertEqual(bus.bus.node, f"{socket.gethostname()}-{os.getppid()}-w2")

    def test_singleProcessChecksPresence(self) -> None:
        """
        A single process checks at startup that no live node has its name.
        """
        from netlab.chat._bus import BusService

        service = tap.makeService(
            parse("chat", "--bus", "redis://h"), MemoryReactorClock()
        )
        [bus] = [c for c in service if isinstance(c, BusService)]
        self.assertTrue(bus.checkPresence)

    def test_parentChecksOnce(self) -> None:
        """
        The parent checks Redis, and that no live node has a worker's name,
        once, while it is assembled, before any worker starts.
        """
        from netlab.chat import _redis

        probed: list[Any] = []
        self.patch(_redis, "probe", lambda address, presence: probed.append(presence))
        options = parse(
            "chat", "--workers", "2", "--bus", "redis://h", "--node", "east"
        )
        tap.makeService(options, MemoryReactorClock())
        self.assertEqual(
            probed,
            [
                ("east-w1", "netlab:chat:node:east-w1"),
                ("east-w2", "netlab:chat:node:east-w2"),
            ],
        )

    def test_parentNameInUse(self) -> None:
        """
        A worker's name in use ends the parent with that one line.
        """
        from netlab.chat import _redis
        from netlab.errors import StartupError

        def probe(address: Any, presence: Any) -> None:
            raise StartupError(f"--node {presence[0]}: a node of that name is running")

        self.patch(_redis, "probe", probe)
        options = parse(
            "chat", "--workers", "2", "--bus", "redis://h", "--node", "east"
        )
        error = self.assertRaises(
            SystemExit, tap.makeService, options, MemoryReactorClock()
        )
        self.assertEqual(
            str(error),
            "netlab chat: error: --node east-w1: a node of that name is running",
        )

    def test_parentRedisUnreachable(self) -> None:
        """
        Redis unreachable ends the parent with one line naming it.
        """
        options = parse("chat", "--workers", "2", "--bus", "redis://127.0.0.1:1/0")
        error = self.assertRaises(
            SystemExit, tap.makeService, options, MemoryReactorClock()
        )
        self.assertIn("--bus redis://127.0.0.1:1/0: cannot reach Redis", str(error))
        self.assertNotIn("\n", str(error))


class BusWithoutClientTests(SynchronousTestCase):
    """
    C{--bus} without the Redis client installed.
    """

    def test_oneLine(self) -> None:
        """
        Without C{txredisapi}, C{--bus} ends the process with one line
        saying what to install, before anything listens.
        """
        from netlab.chat import _tap as chatTap

        self.patch(chatTap, "find_spec", lambda name: None)
        reactor = MemoryReactorClock()
        error = self.assertRaises(
            SystemExit,
            tap.makeService,
            parse("chat", "--bus", "redis://127.0.0.1:6379/0"),
            reactor,
        )
        message = str(error.code)
        self.assertNotIn("\n", message)
        self.assertIn("pip install 'netlab[cluster]'", message)
        self.assertEqual(reactor.tcpServers, [])
