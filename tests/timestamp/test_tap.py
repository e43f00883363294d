"""
Tests for L{netlab.timestamp._tap}: the options of C{twistd netlab tsserv}
and C{twistd netlab tsuserv}, and the services L{netlab.tap.makeService}
builds from them.

Reactor-free: services are built on a L{MemoryReactorClock}.
"""

from __future__ import annotations

from twisted.application.service import IService
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab import tap
from netlab._lifecycle import DrainService, EnoughFiles
from netlab._service import DatagramService, EndpointService
from netlab.timestamp import (
    DEFAULT_MAX_REPLY_SIZE,
    Framing,
    TimeFormat,
    TimestampDatagramProtocol,
    TimestampFactory,
)
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
    Tests for the options of C{twistd netlab tsserv} and C{twistd netlab
    tsuserv} (L{netlab.timestamp._tap.TimestampServerOptions} and
    L{netlab.timestamp._tap.TimestampUDPOptions}), as L{tap.Options} parses
    them.
    """

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


class MakeServiceTests(_DatagramGuardTestsMixin, SynchronousTestCase):
    """
    Tests for the tsserv and tsuserv services that L{tap.makeService} builds, on
    a L{MemoryReactorClock}.
    """

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


class StreamOptionsTests(SynchronousTestCase):
    """
    Tests that the options every stream service takes are not tsuserv's.
    """

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


class GuardWiringTests(_RefusalTestsMixin, SynchronousTestCase):
    """
    Tests for the L{netlab.policies.ConnectionGuard} that L{tap.makeService}
    puts in front of tsserv's factory.
    """

    def test_tsservRefusal(self) -> None:
        """
        A connection tsserv refuses is told why in an C{error:} line.
        """
        self.assertEqual(
            self._refused("tsserv", "--listen", "tcp:1"),
            b"error: the server has too many connections (1); try again later\n",
        )
