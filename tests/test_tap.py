"""
Tests for L{netlab.tap}: the C{twistd netlab} options built from the
registered services (one service, several joined by C{+}, or C{all}), the
service that L{netlab.tap.makeService} assembles around them (connection
limits, C{--metrics}, draining, startup errors as one line), and the plugin
that points twistd there.  L{RegistryOptionsTests} and
L{RegistryMakeServiceTests} run the assembly on a registry of fake services.

Each service's own options and build are tested beside it:
C{tests/timestamp/test_tap.py}, C{tests/echo/test_tap.py} and
C{tests/chat/test_tap.py}; the helpers they share are in
C{tests/_tapsupport.py}.

Reactor-free: services are built on a L{MemoryReactorClock}.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from twisted.application.service import IService, IServiceMaker
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import IPlugin, getPlugins
from twisted.protocols.wire import Echo
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site
from twisted.web.test.requesthelper import DummyRequest
from zope.interface.verify import verifyObject

from netlab import tap
from netlab._lifecycle import DrainService, EnoughFiles
from netlab._service import DatagramService, EndpointService
from netlab._udpserver import GuardedDatagramProtocol
from netlab.chat import ChatFactory
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
from netlab.service import (
    IServiceContext,
    NetlabService,
    ServiceOptions,
    StreamOptions,
    datagramParameters,
)
from netlab.timestamp import Framing, TimestampDatagramProtocol, TimestampFactory
from netlab.timestamp._tap import TimestampServerOptions, TimestampUDPOptions
from tests._tapsupport import (
    _CHAT_DEFAULTS,
    _STREAM_DEFAULTS,
    _connect,
    _guards,
    _listened,
    _lost,
    _RecordingReactor,
    _types,
    _UDPMemoryReactor,
    parse,
)
from tests.test_registry import point
from tests.test_service import _ListeningReactor, cannotListen


def _render(site: Site, path: bytes) -> tuple[bytes, DummyRequest]:
    """
    GET C{path} from C{site}, in memory.

    @return: the body, and the request (for its headers and code).
    """
    request = DummyRequest(path.lstrip(b"/").split(b"/"))
    body = site.getResourceFor(request).render(request)
    assert isinstance(body, bytes)
    return body, request


# A registry of fake services, for RegistryOptionsTests and
# RegistryMakeServiceTests (see _loaded).


class _WidgetOptions(StreamOptions):
    defaultListen = ["tcp:0"]


class _GadgetOptions(ServiceOptions):
    optParameters = datagramParameters(30001)


built: list[tuple[str, IServiceContext]] = []


def _buildWidget(options: usage.Options, context: IServiceContext) -> list[IService]:
    built.append(("widget", context))
    context.addGauge("widget_spins", "Spins.", lambda: 3.0, colour="blue")
    return context.listen(Factory.forProtocol(Echo), options)


def _buildGadget(options: usage.Options, context: IServiceContext) -> list[IService]:
    built.append(("gadget", context))
    protocol = GuardedDatagramProtocol(
        context.reactor, guard=context.datagramGuard(options)
    )
    return [context.bindDatagram(protocol, options)]


widget = NetlabService(
    "Spins widgets.", _WidgetOptions, _buildWidget, inAll=True, defaultPorts=(30000,)
)

gadget = NetlabService(
    "Gadgets over UDP.", _GadgetOptions, _buildGadget, defaultPorts=(30001,)
)


def _loaded(*points: Any) -> tap._Loaded:
    return tap.loadServices(
        points
        or [
            point("widget", widget),
            point("gadget", gadget, "gadgets"),
            point("broken", ImportError("No module named 'wonky'"), "wonky-dist"),
            point("notaservice", "a string", "strings"),
        ]
    )


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

    def test_loneBackslash(self) -> None:
        """
        An endpoint string that does not even split into arguments ends the
        process with one line naming it, before its metrics label is read.
        """
        error = self.assertRaises(
            SystemExit,
            tap.makeService,
            parse("tsserv", "--listen", "unix:/tmp/x\\"),
            MemoryReactorClock(),
        )
        self.assertOneLineExit(error, "unix:/tmp/x\\", "not a usable endpoint")

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

    def test_metricsServedWhileDraining(self) -> None:
        """
        The metrics endpoint stops listening only once the connections have
        drained, so that they can be watched draining.
        """
        reactor = _RecordingReactor()
        service = tap.makeService(
            parse("tsserv", "--listen", "tcp:1234", "--metrics", "tcp:9100"), reactor
        )
        service.startService()
        [guard] = _guards(service)
        connection, _ = _connect(guard, reactor.log, "peer")
        stopping = service.stopService()
        self.assertEqual(
            reactor.log, [("stopListening", 1234), ("loseConnection", "peer")]
        )
        _lost(connection)
        self.assertEqual(reactor.log[-1], ("stopListening", 9100))
        self.successResultOf(stopping)

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


class RegistryOptionsTests(SynchronousTestCase):
    """
    L{tap.Options} offers the registered services, and only them.
    """

    def setUp(self) -> None:
        self.lines: list[str] = []
        del built[:]

    def parse(self, *words: str, loaded: tap._Loaded | None = None) -> tap.Options:
        options = tap.Options(loaded or _loaded(), warn=self.lines.append)
        options.parseOptions(list(words))
        return options

    def test_subCommands(self) -> None:
        """
        Each usable service is a sub-command with its description, then
        C{all} naming those that are part of it.
        """
        options = tap.Options(_loaded(), warn=self.lines.append)
        self.assertEqual(
            [(c[0], c[3]) for c in options.subCommands],
            [
                ("widget", "Spins widgets."),
                ("gadget", "Gadgets over UDP."),
                ("all", "widget together, on their defaults."),
            ],
        )
        self.assertIn("gadget", str(options))

    def test_brokenReported(self) -> None:
        """
        Running any service reports each broken entry point in one line
        naming its distribution, and runs.
        """
        options = self.parse("widget")
        self.assertEqual(options.subCommand, "widget")
        self.assertEqual(
            self.lines,
            [
                "netlab: warning: skipping the service 'broken' of wonky-dist, "
                "which is broken: ImportError: No module named 'wonky'",
                "netlab: warning: skipping the service 'notaservice' of strings, "
                "which is broken: TypeError: str does not provide "
                "netlab.service.INetlabService",
            ],
        )

    def test_brokenAskedFor(self) -> None:
        """
        Asked for by name, a broken service ends twistd with one line giving
        its import error, not 'unknown command'.
        """
        for words in (["broken"], ["widget", "+", "broken", "--x"]):
            with self.assertRaises(SystemExit) as raised:
                self.parse(*words)
            self.assertEqual(
                str(raised.exception.code),
                "netlab: error: the service 'broken' of wonky-dist is broken: "
                "ImportError: No module named 'wonky'",
            )

    def test_unknown(self) -> None:
        """
        A name nobody registered is a usage error.
        """
        self.assertRaises(usage.UsageError, self.parse, "nonesuch")

    def test_reservedName(self) -> None:
        """
        A plugin cannot take the name C{all}.
        """
        options = tap.Options(
            _loaded(point("all", widget, "greedy"), point("widget", widget)),
            warn=self.lines.append,
        )
        self.assertEqual([c[0] for c in options.subCommands], ["widget", "all"])
        options.parseOptions(["all"])
        self.assertEqual([name for name, _ in options.services()], ["widget"])
        self.assertIn("ValueError: 'all' is reserved by netlab", self.lines[0])

    def test_all(self) -> None:
        """
        C{all} runs every service that declares itself part of it.
        """
        options = self.parse("all", "--grace", "3")
        self.assertEqual([name for name, _ in options.services()], ["widget"])
        self.assertEqual(options.services()[0][1]["grace"], 3)

    def test_joined(self) -> None:
        """
        Registered services join with C{+}, each with its own options.
        """
        options = self.parse(
            "widget", "--listen", "tcp:1", "+", "gadget", "--udp-port", "5"
        )
        services = options.services()
        self.assertEqual([name for name, _ in services], ["widget", "gadget"])
        self.assertEqual(services[0][1]["listen"], ["tcp:1"])
        self.assertEqual(services[1][1]["udp-port"], 5)
        # Said once, not once per service.
        self.assertEqual(len(self.lines), 2)

    def test_builtIn(self) -> None:
        """
        The installed registry has netlab's own services, by name, and
        C{all} runs the four that are part of it (not daytime and time).
        """
        options = tap.Options(warn=self.lines.append)
        names = [c[0] for c in options.subCommands]
        self.assertEqual(
            names[:7],
            ["chat", "daytime", "echo", "serve", "time", "tsserv", "tsuserv"],
        )
        self.assertEqual(names[-1], "all")
        self.assertEqual(options.inAll(), ["chat", "echo", "tsserv", "tsuserv"])


class RegistryMakeServiceTests(SynchronousTestCase):
    """
    L{tap.makeService} builds each registered service through its context.
    """

    def setUp(self) -> None:
        del built[:]
        self.reactor = MemoryReactorClock()

    def make(self, *words: str) -> Any:
        options = tap.Options(_loaded(), warn=lambda line: None)
        options.parseOptions(list(words))
        return tap.makeService(options, self.reactor)

    def test_stream(self) -> None:
        """
        A stream service's factory is guarded, drained and listened on each
        endpoint, under the service's name.
        """
        service = self.make("widget", "--listen", "tcp:1", "--listen", "tcp:2")
        children = list(service)
        self.assertEqual(
            [type(child) for child in children],
            [EnoughFiles, DrainService, EndpointService, EndpointService],
        )
        self.assertEqual(built[0][1].name, "widget")
        guard = children[1].target
        self.assertEqual(guard.service, "widget")

    def test_datagramPorts(self) -> None:
        """
        A datagram service's guard refuses the default ports of every
        registered service.
        """
        service = self.make("gadget")
        (datagram,) = [c for c in service if isinstance(c, DatagramService)]
        guard = datagram.args[1].guard
        self.assertEqual(guard.servicePorts, frozenset({30000, 30001}))


def _buildTwoProtocols(options: usage.Options, context: IServiceContext) -> Any:
    services = context.listen(Factory.forProtocol(Echo), options)
    return services + context.addListeners(
        Factory.forProtocol(Echo),
        ["tcp:3", "unix:/nowhere/socket"],
        "other",
        refusalLine=None,
    )


class AddListenersTests(SynchronousTestCase):
    """
    L{IServiceContext.addListeners} serves another protocol of a service
    behind the guard of its L{IServiceContext.listen}.
    """

    def test_sharesTheGuard(self) -> None:
        """
        The other protocol's listeners build through the service's one
        guard (one drain, one set of limits), counted under its protocol
        label and each endpoint's transport.
        """
        service = NetlabService("Two.", _WidgetOptions, _buildTwoProtocols)
        options = tap.Options(
            tap.loadServices([point("two", service, "two")]), warn=lambda line: None
        )
        options.parseOptions(["two", "--listen", "tcp:1"])
        children = list(tap.makeService(options, MemoryReactorClock()))
        self.assertEqual(
            [type(child) for child in children],
            [EnoughFiles, DrainService, *[EndpointService] * 3],
        )
        guard = children[1].target
        factories = [child.factory for child in children[2:]]
        self.assertEqual(
            [(f.guard, f.transport, f.stats.protocol) for f in factories],
            [(guard, "tcp", ""), (guard, "tcp", "other"), (guard, "unix", "other")],
        )


def _failingBuild(options: usage.Options, context: IServiceContext) -> Any:
    raise RuntimeError("the plugin has a bug")


def _buildNothing(options: usage.Options, context: IServiceContext) -> Any:
    return [None]


def _buildOnServiceOptions(options: usage.Options, context: IServiceContext) -> Any:
    return context.listen(Factory.forProtocol(Echo), options)


def _buildPlainDatagram(options: usage.Options, context: IServiceContext) -> Any:
    return [context.bindDatagram(Echo(), options)]


def _buildBadGauge(options: usage.Options, context: IServiceContext) -> Any:
    context.addGauge("bad name", "Spaces.", lambda: 1.0)
    return []


class _PlainOptions(usage.Options):
    pass


class PluginMistakesTests(SynchronousTestCase):
    """
    A plugin's mistakes are reported in one line naming the problem; a plugin
    that is not even well-formed is skipped at load time, so it cannot take
    the other services down.
    """

    def make(self, build: Any, options: type[usage.Options] = ServiceOptions) -> str:
        service = NetlabService("Buggy.", options, build)
        loaded = tap.loadServices([point("buggy", service, "bugs")])
        parsed = tap.Options(loaded, warn=lambda line: None)
        parsed.parseOptions(["buggy"])
        with self.assertRaises(SystemExit) as raised:
            tap.makeService(parsed, MemoryReactorClock())
        message = str(raised.exception.code)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("netlab buggy: error: "), message)
        return message

    def test_buildRaises(self) -> None:
        """
        A build that raises is one line with its error; its traceback is
        logged.
        """
        self.assertEqual(
            self.make(_failingBuild),
            "netlab buggy: error: the service 'buggy' could not be built: "
            "RuntimeError: the plugin has a bug",
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_buildReturnsNotServices(self) -> None:
        """
        A build must return Twisted services.
        """
        self.assertIn("built None, which is not an IService", self.make(_buildNothing))

    def test_listenWithoutStreamOptions(self) -> None:
        """
        Listening needs the options of L{StreamOptions}, and a plain
        C{usage.Options} is enough to be told so.
        """
        for options in (ServiceOptions, _PlainOptions):
            self.assertIn(
                "its options have no --listen, --max-connections",
                self.make(_buildOnServiceOptions, options),
            )

    def test_nothingToListenOn(self) -> None:
        """
        A stream service with no endpoint is told so rather than running
        deaf.
        """

        class Deaf(StreamOptions):
            pass

        self.assertIn(
            "nothing to listen on: give --listen ENDPOINT",
            self.make(_buildOnServiceOptions, Deaf),
        )

    def test_addListenersFirst(self) -> None:
        """
        L{IServiceContext.addListeners} shares the guard of a
        L{IServiceContext.listen}, and says so when there is none.
        """

        def build(options: usage.Options, context: IServiceContext) -> Any:
            return context.addListeners(Factory.forProtocol(Echo), ["tcp:1"], "x")

        self.assertIn(
            "addListeners needs a listen first, to share its guard",
            self.make(build, _WidgetOptions),
        )

    def test_addListenersOfNotAFactory(self) -> None:
        """
        L{IServiceContext.addListeners} wants a protocol factory.
        """

        def build(options: usage.Options, context: IServiceContext) -> Any:
            context.listen(Factory.forProtocol(Echo), options)
            return context.addListeners(Echo, ["tcp:1"], "x")

        self.assertIn("is not a protocol factory", self.make(build, _WidgetOptions))

    def test_datagramNotGuarded(self) -> None:
        """
        Only a L{GuardedDatagramProtocol} can be bound: any other could not
        be counted, and would spoil every scrape of the metrics.
        """

        class Datagrams(ServiceOptions):
            optParameters = datagramParameters(30002)

        self.assertIn(
            "is not a netlab.udp.GuardedDatagramProtocol",
            self.make(_buildPlainDatagram, Datagrams),
        )

    def test_badGaugeName(self) -> None:
        """
        A gauge's name must be a Prometheus metric name.
        """
        self.assertIn(
            "'bad name' is not a Prometheus metric name", self.make(_buildBadGauge)
        )

    def test_malformedDefinition(self) -> None:
        """
        A service whose description, C{inAll} or C{defaultPorts} are of the
        wrong kind is skipped as broken at load time.
        """
        lines: list[str] = []

        def bad(name: str, **fields: Any) -> Any:
            definition: dict[str, Any] = {
                "description": "Bad.",
                "options": ServiceOptions,
                "build": _failingBuild,
            }
            definition.update(fields)
            return point(name, NetlabService(**definition), name)

        loaded = tap.loadServices(
            [
                bad("ports", defaultPorts=21517),
                bad("text", defaultPorts="7"),
                bad("range", defaultPorts=(70000,)),
                bad("flag", inAll=1),
                bad("desc", description=None),
                point("widget", widget),
            ]
        )
        tap.Options(loaded, warn=lines.append).parseOptions(["widget"])
        self.assertEqual(list(loaded.registry.plugins), ["widget"])
        ports = "TypeError: its defaultPorts are not port numbers (1 to 65535)"
        self.assertEqual(
            {name: broken.reason for name, broken in loaded.registry.broken.items()},
            {
                "ports": ports,
                "text": ports,
                "range": ports,
                "flag": "TypeError: its inAll is not a bool",
                "desc": "TypeError: its description is not a str",
            },
        )
        self.assertEqual(len(lines), 5)


class NameTests(SynchronousTestCase):
    """
    A name chosen with C{--name} must be unlike every other service's.
    """

    def parse(self, *words: str) -> tap.Options:
        options = tap.Options(warn=lambda line: None)
        options.parseOptions(list(words))
        return options

    def test_chosenTwice(self) -> None:
        """
        Two C{serve} services need different names.
        """
        serve = ["serve", "--factory", "a:b", "--listen", "tcp:1"]
        with self.assertRaises(usage.UsageError) as raised:
            self.parse(*serve, "+", *serve)
        self.assertEqual(
            str(raised.exception),
            "two services are named 'serve': services joined with '+' need "
            "different names (--name)",
        )
        self.parse(*serve, "+", *serve, "--name", "other")

    def test_chosenLikeAnother(self) -> None:
        """
        A name chosen may not be another service's sub-command.
        """
        serve = ["serve", "--factory", "a:b", "--listen", "tcp:1", "--name", "echo"]
        for words in ([*serve, "+", "echo"], ["echo", "+", *serve]):
            self.assertRaises(usage.UsageError, self.parse, *words)

    def test_twoOfAKind(self) -> None:
        """
        Two services of one kind share its name, as before: their counts
        add up.
        """
        options = self.parse("chat", "+", "chat", "--listen", "tcp:2")
        self.assertEqual([name for name, _ in options.services()], ["chat", "chat"])


class RefuseEachOtherTests(SynchronousTestCase):
    """
    UDP services of one process refuse each other's ports.
    """

    def test_boundPorts(self) -> None:
        """
        Each UDP guard refuses the ports the others are bound to, besides
        the default ports of every registered service.
        """
        options = parse(
            "tsuserv", "--udp-port", "9000", "+", "echo", "--udp-port", "9001"
        )
        service = tap.makeService(options, _UDPMemoryReactor())
        guards = [
            child.args[1].guard
            for child in service
            if isinstance(child, DatagramService)
        ]
        for guard in guards:
            self.assertLessEqual({9000, 9001, 21567, 21568, 21569}, guard.servicePorts)
            self.assertFalse(
                guard.admit("127.0.0.1", 9001 if guard is guards[0] else 9000)
            )
