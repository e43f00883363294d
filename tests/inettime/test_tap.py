"""
Tests for L{netlab.inettime._tap}: the options of C{twistd netlab daytime}
and C{twistd netlab time}, and the services L{netlab.tap.makeService}
builds from them.

Reactor-free: services are built on a L{MemoryReactorClock}.  The services
are given to L{tap.Options} with the installed ones, so that these tests do
not depend on the package's entry points being installed yet.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab import tap
from netlab._lifecycle import DrainService, EnoughFiles
from netlab._service import DatagramService, EndpointService
from netlab.inettime import (
    DAYTIME_PORT,
    TIME_PORT,
    DaytimeDatagramProtocol,
    DaytimeFactory,
    TimeDatagramProtocol,
    TimeFactory,
)
from netlab.inettime._tap import DaytimeOptions, TimeOptions, daytime, time
from netlab.policies import GuardedConnection
from netlab.service import INetlabService
from netlab.timestamp import TimeFormat
from netlab.udp import Refusal
from tests._tapsupport import (
    _connect,
    _DatagramGuardTestsMixin,
    _listened,
    _types,
    _UDPMemoryReactor,
)
from tests.test_registry import point

OURS = {"daytime": daytime, "time": time}


def loaded() -> Any:
    """
    @return: the installed services, with daytime and time as this
        checkout has them.
    """
    points: list[Any] = [
        entry
        for entry in entry_points(group="netlab.services")
        if entry.name not in OURS
    ]
    points += [point(name, service) for name, service in OURS.items()]
    return tap.loadServices(points)


def parse(*args: str) -> tap.Options:
    """
    @return: L{tap.Options}, with daytime and time, that have parsed
        C{args}.
    """
    options = tap.Options(loaded())
    options.parseOptions(list(args))
    return options


class ServiceTests(SynchronousTestCase):
    """
    The two L{INetlabService}s.
    """

    def test_services(self) -> None:
        """
        Both provide L{INetlabService}, are not part of C{all}, and declare
        their ports.
        """
        for service, port in [(daytime, DAYTIME_PORT), (time, TIME_PORT)]:
            verifyObject(INetlabService, service)
            self.assertFalse(service.inAll)
            self.assertEqual(service.defaultPorts, (port,))
            self.assertNotIn("\n", service.description)

    def test_notInAll(self) -> None:
        """
        C{all} runs neither.
        """
        options = parse("all")
        names = [name for name, _ in options.services()]
        self.assertNotIn("daytime", names)
        self.assertNotIn("time", names)
        self.assertIn("echo", names)

    def test_subCommands(self) -> None:
        """
        Both are sub-commands, parsed into their own options.
        """
        self.assertIsInstance(parse("daytime").subOptions, DaytimeOptions)
        self.assertIsInstance(parse("time").subOptions, TimeOptions)


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{DaytimeOptions} and L{TimeOptions}, as L{tap.Options} parses
    them.
    """

    def test_daytimeDefaults(self) -> None:
        """
        daytime serves TCP on tcp:21513 and UDP on port 21513, in ISO
        format, local time, with the default limits and guard rates.
        """
        options = parse("daytime").subOptions
        self.assertEqual(options["listen"], ["tcp:21513"])
        self.assertEqual(options["udp-port"], 21513)
        self.assertEqual(options["udp-interface"], "")
        self.assertIs(options["format"], TimeFormat.ISO)
        self.assertFalse(options["utc"])
        self.assertFalse(options["no-tcp"])
        self.assertFalse(options["no-udp"])
        self.assertEqual(options["max-connections"], 10000)
        self.assertEqual(options["max-per-source"], 100)
        self.assertEqual(options["grace"], 5.0)
        self.assertEqual(options["udp-rate"], 1000)

    def test_timeDefaults(self) -> None:
        """
        time serves TCP on tcp:21537 and UDP on port 21537.
        """
        options = parse("time").subOptions
        self.assertEqual(options["listen"], ["tcp:21537"])
        self.assertEqual(options["udp-port"], 21537)
        self.assertFalse(options["no-tcp"])
        self.assertFalse(options["no-udp"])

    def test_daytimeFormat(self) -> None:
        """
        daytime takes --format ctime, iso or unix, and --utc; anything else
        is a L{usage.UsageError}.
        """
        for name in ("ctime", "iso", "unix"):
            options = parse("daytime", "--format", name, "--utc").subOptions
            self.assertIs(options["format"], TimeFormat(name))
            self.assertTrue(options["utc"])
        self.assertRaises(usage.UsageError, parse, "daytime", "--format", "rfc822")

    def test_noIdleTimeout(self) -> None:
        """
        Neither takes --idle-timeout (the server closes at once), nor time
        --format or --utc.
        """
        for args in [
            ("daytime", "--idle-timeout", "5"),
            ("time", "--idle-timeout", "5"),
            ("time", "--format", "iso"),
            ("time", "--utc"),
        ]:
            self.assertRaises(usage.UsageError, parse, *args)

    def test_nothingToServe(self) -> None:
        """
        --no-tcp with --no-udp is a L{usage.UsageError} that says so.
        """
        for name in ("daytime", "time"):
            error = self.assertRaises(
                usage.UsageError, parse, name, "--no-tcp", "--no-udp"
            )
            self.assertIn("nothing to serve", str(error))

    def test_defaultListenNotShared(self) -> None:
        """
        Changing one parse's listen list does not change the next one's.
        """
        parse("daytime").subOptions["listen"].append("tcp:1")
        self.assertEqual(parse("daytime").subOptions["listen"], ["tcp:21513"])


class MakeServiceTests(_DatagramGuardTestsMixin, SynchronousTestCase):
    """
    Tests for the services that L{tap.makeService} builds, on a
    L{MemoryReactorClock}.
    """

    def test_daytime(self) -> None:
        """
        daytime listens on every --listen with a L{DaytimeFactory} of the
        format and zone asked for, and on its UDP port with a
        L{DaytimeDatagramProtocol} behind a guard of the rates asked for.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(
            parse(
                "daytime",
                "--listen",
                "tcp:1234:interface=127.0.0.1",
                "--udp-port",
                "4321",
                "--format",
                "unix",
                "--utc",
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
        self.assertEqual(
            _types(service),
            [EnoughFiles, DrainService, EndpointService, DatagramService],
        )
        service.startService()
        self.addCleanup(service.stopService)
        [(port, _, _, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (1234, "127.0.0.1"))
        [guard] = _listened(reactor)
        self.assertIsInstance(guard.wrappedFactory, DaytimeFactory)
        reactor.advance(1796218640)
        _, transport = _connect(guard)
        self.assertEqual(transport.value(), b"1796218640\r\n")
        [(udpPort, protocol, _, _)] = reactor.udpServers
        self.assertEqual(udpPort, 4321)
        self.assertIsInstance(protocol, DaytimeDatagramProtocol)
        self.assertGuard(protocol.guard, reactor, 5, 6, 70, 80)
        self.assertEqual(protocol.stats.service, "daytime")

    def test_defaults(self) -> None:
        """
        daytime and time, joined, listen on their default ports, TCP and
        UDP, and each refuses datagrams from both ports.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(parse("daytime", "+", "time"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(
            [(port, interface) for port, _, _, interface in reactor.tcpServers],
            [(DAYTIME_PORT, ""), (TIME_PORT, "")],
        )
        daytimeGuard, timeGuard = _listened(reactor)
        self.assertIsInstance(daytimeGuard.wrappedFactory, DaytimeFactory)
        self.assertIsInstance(timeGuard.wrappedFactory, TimeFactory)
        (dPort, dProtocol, _, _), (tPort, tProtocol, _, _) = reactor.udpServers
        self.assertEqual((dPort, tPort), (DAYTIME_PORT, TIME_PORT))
        self.assertIsInstance(dProtocol, DaytimeDatagramProtocol)
        self.assertIsInstance(tProtocol, TimeDatagramProtocol)
        for protocol in (dProtocol, tProtocol):
            self.assertLessEqual({DAYTIME_PORT, TIME_PORT}, protocol.guard.servicePorts)
            self.assertFalse(protocol.guard.admit("192.0.2.1", DAYTIME_PORT))
            self.assertFalse(protocol.guard.admit("192.0.2.1", TIME_PORT))
            self.assertFalse(protocol.guard.admit("192.0.2.1", 1023))
            self.assertTrue(protocol.guard.admit("192.0.2.1", 40000))
            self.assertEqual(protocol.guard.refused[Refusal.SERVICE_PORT], 2)

    def test_timeAnswers(self) -> None:
        """
        time's listener sends the 4 bytes of the reactor's time and closes.
        """
        reactor = _UDPMemoryReactor()
        service = tap.makeService(parse("time", "--no-udp"), reactor)
        self.assertEqual(_types(service), [EnoughFiles, DrainService, EndpointService])
        service.startService()
        self.addCleanup(service.stopService)
        [guard] = _listened(reactor)
        _, transport = _connect(guard)
        self.assertEqual(transport.value(), b"\x83\xaa\x7e\x80")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(reactor.udpServers, [])

    def test_noTCP(self) -> None:
        """
        With --no-tcp, only UDP is served.
        """
        for name in ("daytime", "time"):
            reactor = _UDPMemoryReactor()
            service = tap.makeService(parse(name, "--no-tcp"), reactor)
            self.assertEqual(_types(service), [EnoughFiles, DatagramService])
            service.startService()
            self.addCleanup(service.stopService)
            self.assertEqual(reactor.tcpServers, [])

    def test_refusedWithoutAWord(self) -> None:
        """
        A connection refused for --max-connections is closed without a
        word: anything sent would be read as the time.
        """
        for name in ("daytime", "time"):
            reactor = MemoryReactorClock()
            service = tap.makeService(
                parse(name, "--no-udp", "--max-connections", "1"), reactor
            )
            service.startService()
            self.addCleanup(service.stopService)
            [guard] = _listened(reactor)
            # The first connection has not finished closing (its transport
            # has not reported it lost), so it still counts.
            first, _ = _connect(guard)
            self.assertIsInstance(first, GuardedConnection)
            second, transport = _connect(
                guard, address=IPv4Address("TCP", "10.0.0.2", 1)
            )
            self.assertNotIsInstance(second, GuardedConnection)
            self.assertEqual(transport.value(), b"")
            self.assertTrue(transport.disconnecting)
            self.assertEqual(guard.stats.refusals, {"max-connections": 1})
