"""
Tests for L{netlab.timestamp._cli}: the options of C{netlab ts}, its usage
errors, and its entry in the registry.
"""

from __future__ import annotations

import io
import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab import _cli
from netlab.service import INetlabClient
from netlab.timestamp import Framing
from netlab.timestamp._cli import TimestampClientOptions, client
from tests.test_cli import declaredClients, parse


class ClientTests(SynchronousTestCase):
    """
    Tests for L{client}, C{netlab ts} in the registry.
    """

    def test_client(self) -> None:
        """
        It is an L{INetlabClient} whose options are L{TimestampClientOptions}.
        """
        self.assertTrue(verifyObject(INetlabClient, client))
        self.assertIs(client.options, TimestampClientOptions)
        self.assertIs(parse("ts", "hi").client, client)


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{TimestampClientOptions}, the options of C{netlab ts}.
    """

    def _parse(self, *argv: str) -> TimestampClientOptions:
        options = parse("ts", *argv)
        self.assertEqual(options.subCommand, "ts")
        sub = options.subOptions
        assert isinstance(sub, TimestampClientOptions)
        return sub

    def test_defaults(self) -> None:
        """
        Without options, C{ts} talks to localhost on port 21567 over TCP
        with raw framing and the default timeouts, interactively.
        """
        options = self._parse()
        self.assertEqual(options["host"], "localhost")
        self.assertEqual(options["port"], 21567)
        self.assertIs(options["framing"], Framing.RAW)
        self.assertEqual(options["timeout"], 10.0)
        self.assertEqual(options["tries"], 3)
        self.assertEqual(options["interval"], 1.0)
        self.assertFalse(options["udp"])
        self.assertIsNone(options["connect"])
        self.assertEqual(options["message"], [])

    def test_plain(self) -> None:
        """
        C{ts} has C{--plain}, for plain lines even on a terminal; off by
        default.
        """
        self.assertFalse(self._parse()["plain"])
        self.assertTrue(self._parse("--plain")["plain"])

    def test_message(self) -> None:
        """
        The words after the options are the message, as bytes.
        """
        options = self._parse("hello", "big", "world")
        self.assertEqual(options["message"], [b"hello", b"big", b"world"])

    def test_hostAndPort(self) -> None:
        """
        C{--host}/C{-H} and C{--port}/C{-p} choose the server; the port is
        an integer.
        """
        self.assertEqual(self._parse("--host", "::1")["host"], "::1")
        self.assertEqual(self._parse("-H", "ts.example")["host"], "ts.example")
        self.assertEqual(self._parse("--port", "2000")["port"], 2000)
        self.assertEqual(self._parse("-p", "2001")["port"], 2001)

    def test_badPort(self) -> None:
        """
        A port that is not a number is a usage error.
        """
        self.assertRaises(usage.UsageError, self._parse, "--port", "http")

    def test_framing(self) -> None:
        """
        C{--framing} takes C{raw} or C{line}.
        """
        self.assertIs(self._parse("--framing", "line")["framing"], Framing.LINE)
        self.assertIs(self._parse("--framing", "raw")["framing"], Framing.RAW)

    def test_badFraming(self) -> None:
        """
        Any other C{--framing} is a usage error.
        """
        self.assertRaises(usage.UsageError, self._parse, "--framing", "lines")

    def test_timeout(self) -> None:
        """
        C{--timeout}/C{-t} takes a positive number of seconds.
        """
        self.assertEqual(self._parse("--timeout", "2.5")["timeout"], 2.5)
        self.assertEqual(self._parse("-t", "3")["timeout"], 3.0)

    def test_badTimeout(self) -> None:
        """
        A C{--timeout} that is zero, negative or not a number is a usage
        error.
        """
        for value in ["0", "-1", "soon", "nan"]:
            self.assertRaises(usage.UsageError, self._parse, "--timeout", value)

    def test_udpOptions(self) -> None:
        """
        C{--udp} with C{--tries} and C{--interval} chooses UDP and its
        retransmission.
        """
        options = self._parse("--udp", "--tries", "5", "--interval", "0.5")
        self.assertTrue(options["udp"])
        self.assertEqual(options["tries"], 5)
        self.assertEqual(options["interval"], 0.5)
        self.assertTrue(self._parse("-u")["udp"])

    def test_badTries(self) -> None:
        """
        Fewer than one try, or a non-positive interval, is a usage error.
        """
        self.assertRaises(usage.UsageError, self._parse, "--tries", "0")
        self.assertRaises(usage.UsageError, self._parse, "--interval", "0")

    def test_connect(self) -> None:
        """
        C{--connect}/C{-c} takes a client endpoint string.
        """
        self.assertEqual(
            self._parse("--connect", "tcp:localhost:21567")["connect"],
            "tcp:localhost:21567",
        )
        self.assertEqual(self._parse("-c", "unix:/tmp/ts")["connect"], "unix:/tmp/ts")

    def test_udpWithConnect(self) -> None:
        """
        C{--udp} with C{--connect} is a usage error.
        """
        error = self.assertRaises(
            usage.UsageError, self._parse, "--udp", "--connect", "tcp:h:1"
        )
        self.assertIn("--connect", str(error))

    def test_tls(self) -> None:
        """
        C{--tls} is off by default; C{--tls} turns it on, and so does
        C{--ca-file}, which names the file.
        """
        self.assertFalse(self._parse()["tls"])
        self.assertIsNone(self._parse()["ca-file"])
        self.assertTrue(self._parse("--tls")["tls"])
        options = self._parse("--ca-file", "ca.pem")
        self.assertTrue(options["tls"])
        self.assertEqual(options["ca-file"], "ca.pem")

    def test_tlsWithConnect(self) -> None:
        """
        C{--tls} or C{--ca-file} with C{--connect} is a usage error that
        points to C{tls:} endpoint strings.
        """
        for option in [["--tls"], ["--ca-file", "ca.pem"]]:
            error = self.assertRaises(
                usage.UsageError, self._parse, *option, "--connect", "tcp:h:1"
            )
            self.assertIn("tls:", str(error))

    def test_tlsWithUDP(self) -> None:
        """
        C{--tls} or C{--ca-file} with C{--udp} is a usage error.
        """
        for option in [["--tls"], ["--ca-file", "ca.pem"]]:
            error = self.assertRaises(usage.UsageError, self._parse, *option, "--udp")
            self.assertIn("--udp", str(error))


class MainTests(SynchronousTestCase):
    """
    Tests for the usage errors of C{netlab ts} through L{_cli.main}, which
    happen before any reactor runs.
    """

    def _usageError(self, *argv: str) -> str:
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        exit = self.assertRaises(SystemExit, _cli.main, list(argv), declaredClients())
        self.assertEqual(exit.code, 2)
        text = err.getvalue()
        self.assertEqual(text.count("\n"), 1, text)
        self.assertTrue(text.endswith("\n"))
        self.assertTrue(text.startswith("netlab: error: "), text)
        return text

    def test_unknownOption(self) -> None:
        """
        An unknown option exits with status 2 and one error line.
        """
        self.assertIn("--bogus", self._usageError("ts", "--bogus"))

    def test_udpWithConnect(self) -> None:
        """
        C{--udp} with C{--connect} exits with status 2 and one error line.
        """
        self._usageError("ts", "--udp", "--connect", "tcp:localhost:21567")

    def test_badTimeout(self) -> None:
        """
        A bad C{--timeout} exits with status 2 and one error line.
        """
        self._usageError("ts", "--timeout", "0")

    def test_tlsWithConnect(self) -> None:
        """
        C{--tls} with C{--connect} exits with status 2 and one error line.
        """
        self.assertIn(
            "use a tls: endpoint string",
            self._usageError("ts", "--tls", "--connect", "tcp:localhost:21567"),
        )

    def test_badFraming(self) -> None:
        """
        A bad C{--framing} exits with status 2 and one error line.
        """
        self._usageError("ts", "--framing", "xml")

    def test_pointsToHelp(self) -> None:
        """
        The error line tells where to find help.
        """
        self.assertIn("netlab --help", self._usageError("ts", "--port", "x"))
