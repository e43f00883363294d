"""
Tests for L{netlab.echo._tap}: the options of C{twistd netlab echo}, and the
services L{netlab.tap.makeService} builds from them.

Reactor-free: services are built on a L{MemoryReactorClock}.
"""

from __future__ import annotations

from twisted.application.service import IService
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab import tap
from netlab._lifecycle import DrainService, EnoughFiles
from netlab._service import DatagramService, EndpointService
from netlab.echo import EchoDatagramProtocol, EchoFactory
from tests._tapsupport import (
    _DatagramGuardTestsMixin,
    _guards,
    _listened,
    _RefusalTestsMixin,
    _types,
    _UDPMemoryReactor,
    parse,
)


class OptionsTests(SynchronousTestCase):
    """
    Tests for the options of C{twistd netlab echo}
    (L{netlab.echo._tap.EchoOptions}), as L{tap.Options} parses them.
    """

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


class MakeServiceTests(_DatagramGuardTestsMixin, SynchronousTestCase):
    """
    Tests for the echo services that L{tap.makeService} builds, on a
    L{MemoryReactorClock}.
    """

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


class GuardWiringTests(_RefusalTestsMixin, SynchronousTestCase):
    """
    Tests for the L{netlab.policies.ConnectionGuard} that L{tap.makeService}
    puts in front of echo's factory.
    """

    def test_echoRefusal(self) -> None:
        """
        A connection echo refuses is closed without a word: anything sent
        would read as an echo.
        """
        self.assertEqual(self._refused("echo", "--listen", "tcp:1", "--no-udp"), b"")
