"""
Tests for L{netlab.inettime._cli}: the options of C{netlab daytime} and
C{netlab time}, what they print, and how they end, run by L{_cli._run}
against the real servers in memory and over a fake UDP reactor.
"""

from __future__ import annotations

import io
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab import _cli
from netlab.inettime import (
    DaytimeDatagramProtocol,
    DaytimeFactory,
    TimeDatagramProtocol,
    TimeFactory,
)
from netlab.inettime import _cli as inettimeCLI
from netlab.inettime._cli import (
    ZONE_TAKEN_AS_UTC,
    DaytimeClientOptions,
    TimeClientOptions,
    daytimeClient,
    describeTime,
    timeClient,
)
from netlab.service import INetlabClient
from netlab.testing import MemoryEndpoint
from netlab.timestamp import TimeFormat
from tests.inettime.test_client import CLIENT, NOW, NOW_UTC, WRAP, _Says
from tests.test_cli import declaredClients, parse
from tests.timestamp.test_client import _FakeUDPReactor

ONE_HOUR_EAST = timezone(timedelta(hours=1))


class ClientTests(SynchronousTestCase):
    """
    Tests for L{daytimeClient} and L{timeClient} in the registry.
    """

    def test_clients(self) -> None:
        """
        They are L{INetlabClient}s, registered as C{daytime} and C{time}.
        """
        for name, client, options in [
            ("daytime", daytimeClient, DaytimeClientOptions),
            ("time", timeClient, TimeClientOptions),
        ]:
            self.assertTrue(verifyObject(INetlabClient, client))
            self.assertIs(client.options, options)
            self.assertIs(parse(name).client, client)


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{DaytimeClientOptions} and L{TimeClientOptions}.
    """

    def _parse(self, command: str, *argv: str) -> usage.Options:
        options = parse(command, *argv)
        self.assertEqual(options.subCommand, command)
        return options.subOptions

    def test_defaults(self) -> None:
        """
        Without options, each talks to localhost over TCP, on netlab's port
        of its service, with the default timeout and retransmission.
        """
        for command, port in [("daytime", 21513), ("time", 21537)]:
            options = self._parse(command)
            self.assertEqual(options["host"], "localhost")
            self.assertEqual(options["port"], port)
            self.assertEqual(options["timeout"], 10.0)
            self.assertEqual(options["tries"], 3)
            self.assertEqual(options["interval"], 1.0)
            self.assertFalse(options["udp"])
            self.assertFalse(options["tls"])
            self.assertIsNone(options["connect"])

    def test_options(self) -> None:
        """
        C{-H}, C{-p}, C{--udp}, C{--tries}, C{--interval}, C{--timeout}
        and C{--connect} are taken.
        """
        for command in ["daytime", "time"]:
            options = self._parse(
                command,
                *("-H", "::1", "-p", "13", "-u", "--tries", "5"),
                *("--interval", "0.5", "-t", "2"),
            )
            self.assertEqual(options["host"], "::1")
            self.assertEqual(options["port"], 13)
            self.assertTrue(options["udp"])
            self.assertEqual(options["tries"], 5)
            self.assertEqual(options["interval"], 0.5)
            self.assertEqual(options["timeout"], 2.0)
            self.assertEqual(
                self._parse(command, "--connect", "tcp:h:37")["connect"], "tcp:h:37"
            )
            self.assertTrue(self._parse(command, "--tls")["tls"])

    def test_usageErrors(self) -> None:
        """
        Words after the options, C{--udp} with C{--connect}, C{--tls} with
        C{--udp}, and bad numbers are usage errors.
        """
        for command in ["daytime", "time"]:
            for argv in [
                ["now"],
                ["--udp", "--connect", "tcp:h:1"],
                ["--tls", "--udp"],
                ["--port", "x"],
                ["--timeout", "0"],
                ["--tries", "0"],
            ]:
                self.assertRaises(usage.UsageError, self._parse, command, *argv)


class DescribeTimeTests(SynchronousTestCase):
    """
    Tests for L{describeTime}.
    """

    def test_behind(self) -> None:
        """
        A server behind this machine's clock is said to be, in UTC and in
        this machine's zone.
        """
        self.assertEqual(
            describeTime(NOW_UTC, NOW + 0.4, ONE_HOUR_EAST),
            "2026-12-02T13:37:20+00:00 (server; 2026-12-02T14:37:20+01:00 "
            "local), 0.4 s behind this machine's clock",
        )

    def test_ahead(self) -> None:
        """
        A server ahead of this machine's clock is said to be.
        """
        self.assertTrue(
            describeTime(NOW_UTC, NOW - 90.25, timezone.utc).endswith(
                ", 90.2 s ahead of this machine's clock"
            )
        )

    def test_inStep(self) -> None:
        """
        Within a twentieth of a second, the clocks are said to be in step.
        """
        for local in [NOW, NOW + 0.04, NOW - 0.04]:
            self.assertTrue(
                describeTime(NOW_UTC, local, timezone.utc).endswith(
                    ", in step with this machine's clock"
                )
            )

    def test_serverZone(self) -> None:
        """
        A time given in another zone is shown in UTC and in this machine's.
        """
        server = NOW_UTC.astimezone(timezone(timedelta(hours=-5)))
        self.assertTrue(
            describeTime(server, NOW, ONE_HOUR_EAST).startswith(
                "2026-12-02T13:37:20+00:00 (server; 2026-12-02T14:37:20+01:00 local)"
            )
        )


class _Output:
    """
    Stands in for C{sys.stdout}.
    """

    def __init__(self) -> None:
        self.text = io.StringIO()

    def write(self, text: str) -> int:
        return self.text.write(text)

    def flush(self) -> None:
        pass


def _line(server: datetime, local: float) -> str:
    """
    What the commands print first, in this process's zone.
    """
    return describeTime(server, local) + "\n"


class _CommandTests(SynchronousTestCase):
    """
    What the command tests share: captured output, and the command's
    endpoint replaced by one to a server in memory.
    """

    def setUp(self) -> None:
        self.out = _Output()
        self.err = io.StringIO()
        self.patch(sys, "stdout", self.out)
        self.patch(sys, "stderr", self.err)
        self.asked: list[Any] = []

    def _serve(self, factory: Any) -> MemoryEndpoint:
        """
        Make the commands connect to C{factory}'s server in memory.
        """
        endpoint = MemoryEndpoint(factory)

        def clientEndpoint(reactor: Any, options: Any) -> MemoryEndpoint:
            self.asked.append((options["host"], options["port"], options["connect"]))
            return endpoint

        self.patch(inettimeCLI, "clientEndpoint", clientEndpoint)
        return endpoint

    def _command(self, reactor: Clock, *argv: str) -> Deferred[None]:
        return _cli._run(reactor, parse(*argv))

    def _failed(self, d: Deferred[None]) -> str:
        """
        Check that the command ended with status 1 and one line on
        standard error, and nothing on standard output.

        @return: that line.
        """
        exit = self.failureResultOf(d, SystemExit).value
        assert isinstance(exit, SystemExit)
        self.assertEqual(exit.code, 1)
        text = self.err.getvalue()
        self.assertEqual(text.count("\n"), 1, text)
        self.assertTrue(text.startswith("netlab: error: "), text)
        self.assertEqual(self.out.text.getvalue(), "")
        return text


class DaytimeCommandTests(_CommandTests):
    """
    Tests for C{netlab daytime}.
    """

    def test_iso(self) -> None:
        """
        The server's time is printed with its offset from this machine's
        clock, and the command exits with status 0.
        """
        serverClock = Clock()
        serverClock.advance(NOW)
        endpoint = self._serve(DaytimeFactory(serverClock))
        reactor = Clock()
        reactor.advance(NOW + 0.4)
        d = self._command(reactor, "daytime", "-H", "time.example", "-p", "13")
        endpoint.flush()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.asked, [("time.example", 13, None)])
        self.assertEqual(self.out.text.getvalue(), _line(NOW_UTC, NOW + 0.4))
        self.assertIn("0.4 s behind", self.out.text.getvalue())
        self.assertEqual(self.err.getvalue(), "")

    def test_formats(self) -> None:
        """
        The time is printed the same whatever the server's format and zone.
        """
        for format in TimeFormat:
            for utc in [True, False]:
                self.out.text = io.StringIO()
                reactor = Clock()
                reactor.advance(NOW)
                endpoint = self._serve(DaytimeFactory(reactor, format, utc=utc))
                d = self._command(reactor, "daytime")
                endpoint.flush()
                self.successResultOf(d)
                if format is TimeFormat.CTIME and not utc:
                    # The server's local wall clock, taken as UTC.
                    continue
                self.assertEqual(
                    self.out.text.getvalue().splitlines()[0],
                    describeTime(NOW_UTC, NOW),
                )

    def test_zoneless(self) -> None:
        """
        A ctime reply, with no zone, is taken as UTC, and one more line says
        so.
        """
        reactor = Clock()
        reactor.advance(NOW)
        endpoint = self._serve(DaytimeFactory(reactor, TimeFormat.CTIME, utc=True))
        d = self._command(reactor, "daytime")
        endpoint.flush()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(
            self.out.text.getvalue(),
            _line(NOW_UTC, NOW) + ZONE_TAKEN_AS_UTC + "\n",
        )
        self.assertIn("UTC", ZONE_TAKEN_AS_UTC)

    def test_xinetd(self) -> None:
        """
        xinetd's reply is printed, with no extra line.
        """
        reactor = Clock()
        reactor.advance(NOW + 2)
        endpoint = self._serve(
            Factory.forProtocol(lambda: _Says(b"02 DEC 2026 13:37:20 UTC\r\n"))
        )
        d = self._command(reactor, "daytime")
        endpoint.flush()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.out.text.getvalue(), _line(NOW_UTC, NOW + 2))

    def test_malformed(self) -> None:
        """
        A reply that is not a time ends the command with status 1 and one
        line.
        """
        reactor = Clock()
        endpoint = self._serve(Factory.forProtocol(lambda: _Says(b"hello\r\n")))
        d = self._command(reactor, "daytime")
        endpoint.flush()
        self.assertIn("not a time", self._failed(d))

    def test_nothingListening(self) -> None:
        """
        With nothing listening, the command exits with status 1 and one
        line.
        """
        reactor = Clock()
        endpoint = self._serve(DaytimeFactory(reactor))
        endpoint.refuse = True
        d = self._command(reactor, "daytime")
        self.assertIn("could not connect to the daytime server", self._failed(d))

    def test_timeout(self) -> None:
        """
        A server that never closes the connection ends the command after
        C{--timeout} with status 1 and one line.
        """
        reactor = Clock()
        endpoint = self._serve(
            Factory.forProtocol(lambda: _Says(b"2026-12-02T13:37:20Z", close=False))
        )
        d = self._command(reactor, "daytime", "--timeout", "2")
        endpoint.flush()
        reactor.advance(2)
        endpoint.flush()
        self.assertIn("in 2s", self._failed(d))

    def test_udp(self) -> None:
        """
        With C{--udp} an empty datagram is sent to C{--host}/C{--port} and
        the reply printed.
        """
        reactor = _FakeUDPReactor()
        reactor.advance(NOW)
        d = self._command(reactor, "daytime", "-u", "-H", "192.0.2.1")
        [port] = reactor.ports
        self.assertEqual(port.connectedTo, ("192.0.2.1", 21513))
        self.assertEqual(port.sent(), [b""])
        server = DaytimeDatagramProtocol(reactor, TimeFormat.CTIME, utc=True)
        server.makeConnection(FakeDatagramTransport())
        server.datagramReceived(b"", CLIENT)
        [(reply, _)] = server.transport.written
        port.protocol.datagramReceived(reply, port.connectedTo)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(
            self.out.text.getvalue(),
            _line(NOW_UTC, NOW) + ZONE_TAKEN_AS_UTC + "\n",
        )

    def test_udpNoReply(self) -> None:
        """
        With no reply after C{--tries}, the command exits with status 1 and
        one line.
        """
        reactor = _FakeUDPReactor()
        d = self._command(
            reactor,
            "daytime",
            "-u",
            "-H",
            "192.0.2.1",
            "--tries",
            "2",
            "--interval",
            "1",
        )
        reactor.advance(1)
        self.assertNoResult(d)
        reactor.advance(1)
        self.assertIn("no reply from 192.0.2.1:21513", self._failed(d))


class TimeCommandTests(_CommandTests):
    """
    Tests for C{netlab time}.
    """

    def test_time(self) -> None:
        """
        The server's time is printed with its offset from this machine's
        clock, and the command exits with status 0.
        """
        serverClock = Clock()
        serverClock.advance(NOW - 3)
        endpoint = self._serve(TimeFactory(serverClock))
        reactor = Clock()
        reactor.advance(NOW)
        d = self._command(reactor, "time", "--connect", "tcp:time.example:37")
        endpoint.flush()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.asked, [("localhost", 21537, "tcp:time.example:37")])
        server = NOW_UTC - timedelta(seconds=3)
        self.assertEqual(self.out.text.getvalue(), _line(server, NOW))
        self.assertIn("3.0 s behind", self.out.text.getvalue())
        self.assertEqual(self.err.getvalue(), "")

    def test_wrap(self) -> None:
        """
        A server past the RFC 868 wrap, asked from a machine just before
        it, is printed in 2036, not in 1900.
        """
        serverClock = Clock()
        serverClock.advance(WRAP)
        endpoint = self._serve(TimeFactory(serverClock))
        reactor = Clock()
        reactor.advance(WRAP - 1)
        d = self._command(reactor, "time")
        endpoint.flush()
        self.assertIsNone(self.successResultOf(d))
        text = self.out.text.getvalue()
        self.assertTrue(text.startswith("2036-02-07T06:28:16+00:00 (server; "), text)
        self.assertIn("1.0 s ahead of", text)

    def test_malformed(self) -> None:
        """
        A reply that is not 4 bytes ends the command with status 1 and one
        line.
        """
        reactor = Clock()
        endpoint = self._serve(Factory.forProtocol(lambda: _Says(b"\x00\x01")))
        d = self._command(reactor, "time")
        endpoint.flush()
        self.assertIn("4 bytes", self._failed(d))

    def test_nothingListening(self) -> None:
        """
        With nothing listening, the command exits with status 1 and one
        line.
        """
        reactor = Clock()
        endpoint = self._serve(TimeFactory(reactor))
        endpoint.refuse = True
        d = self._command(reactor, "time")
        self.assertIn("could not connect to the time server", self._failed(d))

    def test_udp(self) -> None:
        """
        With C{--udp} an empty datagram is sent and the reply printed.
        """
        reactor = _FakeUDPReactor()
        reactor.advance(NOW)
        d = self._command(reactor, "time", "--udp", "-H", "192.0.2.1", "-p", "37")
        [port] = reactor.ports
        self.assertEqual(port.connectedTo, ("192.0.2.1", 37))
        self.assertEqual(port.sent(), [b""])
        server = TimeDatagramProtocol(reactor)
        server.makeConnection(FakeDatagramTransport())
        server.datagramReceived(b"", CLIENT)
        [(reply, _)] = server.transport.written
        port.protocol.datagramReceived(reply, port.connectedTo)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.out.text.getvalue(), _line(NOW_UTC, NOW))

    def test_udpNoReply(self) -> None:
        """
        With no reply, the command exits with status 1 and one line.
        """
        reactor = _FakeUDPReactor()
        d = self._command(reactor, "time", "-u", "-H", "192.0.2.1", "--tries", "1")
        reactor.advance(1)
        self.assertIn("no reply from", self._failed(d))


class MainTests(SynchronousTestCase):
    """
    Usage errors through L{_cli.main}, before any reactor runs.
    """

    def test_usageError(self) -> None:
        """
        A usage error exits with status 2 and one line.
        """
        for command in ["daytime", "time"]:
            err = io.StringIO()
            self.patch(sys, "stderr", err)
            exit = self.assertRaises(
                SystemExit, _cli.main, [command, "--bogus"], declaredClients()
            )
            self.assertEqual(exit.code, 2)
            self.assertEqual(err.getvalue().count("\n"), 1)
            self.assertIn("--bogus", err.getvalue())
