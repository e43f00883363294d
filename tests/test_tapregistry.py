"""
Tests for L{netlab.tap} built from a registry of fake services: what
C{twistd netlab} offers comes from the entry points, and the assembly gives
every service the same operations.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock
from twisted.protocols.wire import Echo
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from netlab import tap
from netlab._lifecycle import DrainService, EnoughFiles
from netlab._service import DatagramService, EndpointService
from netlab._udpserver import GuardedDatagramProtocol
from netlab.service import (
    IServiceContext,
    NetlabService,
    ServiceOptions,
    StreamOptions,
    datagramParameters,
)
from tests.test_registry import point


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
        C{all} runs the four that are part of it.
        """
        options = tap.Options(warn=self.lines.append)
        names = [c[0] for c in options.subCommands]
        self.assertEqual(names[:5], ["chat", "echo", "serve", "tsserv", "tsuserv"])
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
