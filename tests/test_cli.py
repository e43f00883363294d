"""
Tests for L{netlab._cli}: option parsing, usage errors, the interactive
loop of the C{netlab} command, and C{netlab echo} over fakes.
"""

from __future__ import annotations

import io
import sys
from datetime import datetime
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from netlab import _cli
from netlab._cli import (
    EchoClientOptions,
    Options,
    TimestampClientOptions,
    _Interactive,
)
from netlab._version import __version__
from netlab.errors import ConnectionClosed, NetlabError
from netlab.timestamp import Framing, TimeFormat, TimestampReply
from tests.timestamp.test_client import _FakeUDPReactor

WHEN = datetime(2026, 11, 22, 23, 46, 13)


def _reply(data: bytes, format: TimeFormat = TimeFormat.CTIME) -> TimestampReply:
    return TimestampReply(WHEN, data, format)


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{Options} and L{TimestampClientOptions}.
    """

    def _parse(self, *argv: str) -> TimestampClientOptions:
        options = Options()
        options.parseOptions(["ts", *argv])
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

    def test_noCommand(self) -> None:
        """
        No command is a usage error.
        """
        self.assertRaises(usage.UsageError, Options().parseOptions, [])

    def test_unknownCommand(self) -> None:
        """
        An unknown command is a usage error.
        """
        self.assertRaises(usage.UsageError, Options().parseOptions, ["chat"])

    def test_version(self) -> None:
        """
        C{--version} prints the version and exits with status 0.
        """
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        exit = self.assertRaises(SystemExit, Options().parseOptions, ["--version"])
        self.assertEqual(exit.code, 0)
        self.assertEqual(out.getvalue(), f"netlab {__version__}\n")


class MainTests(SynchronousTestCase):
    """
    Tests for L{_cli.main}'s usage errors, which happen before any reactor
    runs.
    """

    def _usageError(self, *argv: str) -> str:
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        exit = self.assertRaises(SystemExit, _cli.main, list(argv))
        self.assertEqual(exit.code, 2)
        text = err.getvalue()
        self.assertEqual(text.count("\n"), 1, text)
        self.assertTrue(text.endswith("\n"))
        self.assertTrue(text.startswith("netlab: error: "), text)
        return text

    def test_noCommand(self) -> None:
        """
        No command exits with status 2 and one error line.
        """
        self.assertIn("choose a command", self._usageError())

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


class InteractiveTests(SynchronousTestCase):
    """
    Tests for L{_Interactive}, the prompt loop over standard input and
    output.
    """

    def _loop(
        self, prompt: bool = True
    ) -> tuple[
        _Interactive, StringTransport, list[tuple[bytes, Deferred[TimestampReply]]]
    ]:
        asked: list[tuple[bytes, Deferred[TimestampReply]]] = []

        def ask(data: bytes) -> Deferred[TimestampReply]:
            d: Deferred[TimestampReply] = Deferred()
            asked.append((data, d))
            return d

        loop = _Interactive(ask, prompt=prompt)
        transport = StringTransport()
        loop.makeConnection(transport)
        return loop, transport, asked

    def test_prompt(self) -> None:
        """
        With a prompt, C{"> "} is shown at the start and after each reply.
        """
        loop, transport, asked = self._loop(prompt=True)
        self.assertEqual(transport.value(), b"> ")
        loop.dataReceived(b"hello\n")
        self.assertEqual(transport.value(), b"> ")
        asked[0][1].callback(_reply(b"hello"))
        self.assertEqual(transport.value(), b"> [Sun Nov 22 23:46:13 2026] hello\n> ")

    def test_noPrompt(self) -> None:
        """
        Without a prompt only the replies are written.
        """
        loop, transport, asked = self._loop(prompt=False)
        loop.dataReceived(b"hello\n")
        asked[0][1].callback(_reply(b"hello"))
        self.assertEqual(transport.value(), b"[Sun Nov 22 23:46:13 2026] hello\n")
        loop.dataReceived(b"\n")
        self.assertEqual(transport.value(), b"[Sun Nov 22 23:46:13 2026] hello\n")

    def test_replyAsSent(self) -> None:
        """
        A reply is printed as the server sent it, in the server's format.
        """
        loop, transport, asked = self._loop(prompt=False)
        loop.dataReceived(b"hi \xff\n")
        asked[0][1].callback(
            TimestampReply(
                datetime.fromtimestamp(0).astimezone(), b"hi \xff", TimeFormat.UNIX
            )
        )
        self.assertEqual(transport.value(), b"[0] hi \xff\n")

    def test_oneReplyPerLine(self) -> None:
        """
        Each line is asked in turn, the next only once the reply to the one
        before is printed.
        """
        loop, transport, asked = self._loop(prompt=False)
        loop.dataReceived(b"one\ntwo\n")
        self.assertEqual([data for data, d in asked], [b"one"])
        asked[0][1].callback(_reply(b"one"))
        self.assertEqual([data for data, d in asked], [b"one", b"two"])
        asked[1][1].callback(_reply(b"two"))
        self.assertEqual(
            transport.value(),
            b"[Sun Nov 22 23:46:13 2026] one\n[Sun Nov 22 23:46:13 2026] two\n",
        )

    def test_pausedWhileAsking(self) -> None:
        """
        Reading is paused while a reply is awaited and resumed once it is
        printed.
        """
        loop, transport, asked = self._loop()
        self.assertFalse(loop.paused)
        loop.dataReceived(b"one\ntwo\n")
        self.assertTrue(loop.paused)
        self.assertEqual(transport.producerState, "paused")
        asked[0][1].callback(_reply(b"one"))
        # The buffered second line is now being asked.
        self.assertTrue(loop.paused)
        self.assertEqual(transport.producerState, "paused")
        asked[1][1].callback(_reply(b"two"))
        self.assertFalse(loop.paused)
        self.assertEqual(transport.producerState, "producing")

    def test_emptyLineEnds(self) -> None:
        """
        An empty line ends the loop without asking anything.
        """
        loop, transport, asked = self._loop()
        loop.dataReceived(b"\n")
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertEqual(asked, [])
        self.assertEqual(transport.value(), b"> \n")
        loop.dataReceived(b"more\n")
        self.assertEqual(asked, [])

    def test_endOfInputEnds(self) -> None:
        """
        End of input with no reply awaited ends the loop.
        """
        loop, _, _ = self._loop(prompt=False)
        self.assertNoResult(loop.done)
        loop.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.successResultOf(loop.done))

    def test_endOfInputWaitsForReply(self) -> None:
        """
        End of input while a reply is awaited ends the loop once that reply
        is printed, with no prompt after it.
        """
        loop, transport, asked = self._loop()
        loop.dataReceived(b"last")
        loop.dataReceived(b"\n")
        loop.connectionLost(Failure(ConnectionDone()))
        self.assertNoResult(loop.done)
        asked[0][1].callback(_reply(b"last"))
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertEqual(transport.value(), b"> [Sun Nov 22 23:46:13 2026] last\n\n")

    def test_failedAsk(self) -> None:
        """
        A failed request fails the loop with the request's error.
        """
        loop, transport, asked = self._loop()
        loop.dataReceived(b"hello\n")
        asked[0][1].errback(ConnectionClosed("the server closed the connection"))
        self.failureResultOf(loop.done, ConnectionClosed)
        self.assertEqual(transport.value(), b"> ")

    def test_crlf(self) -> None:
        """
        A CR before the line feed is not part of the line.
        """
        loop, _, asked = self._loop()
        loop.dataReceived(b"hello\r\n")
        self.assertEqual([data for data, d in asked], [b"hello"])

    def test_crlfEmptyLineEnds(self) -> None:
        """
        A line holding only CR counts as empty and ends the loop.
        """
        loop, _, asked = self._loop()
        loop.dataReceived(b"\r\n")
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertEqual(asked, [])


class InteractiveEndTests(SynchronousTestCase):
    """
    Tests for how L{_Interactive} ends: at the end of input, on an
    over-long line, and when standard output is closed.
    """

    def _loop(
        self, prompt: bool = False
    ) -> tuple[_Interactive, StringTransport, list[tuple[bytes, Deferred[Any]]]]:
        asked: list[tuple[bytes, Deferred[Any]]] = []

        def ask(data: bytes) -> Deferred[Any]:
            d: Deferred[Any] = Deferred()
            asked.append((data, d))
            return d

        loop = _Interactive(ask, prompt=prompt)
        transport = StringTransport()
        loop.makeConnection(transport)
        return loop, transport, asked

    def test_lastLineWithoutEnding(self) -> None:
        """
        At the end of input, a last line with no line ending is asked too,
        and its reply printed, before the loop ends.
        """
        loop, transport, asked = self._loop()
        loop.dataReceived(b"a\nb")
        self.assertEqual([data for data, _ in asked], [b"a"])
        asked[0][1].callback(_reply(b"a"))
        loop.readConnectionLost()
        self.assertEqual([data for data, _ in asked], [b"a", b"b"])
        self.assertNoResult(loop.done)
        asked[1][1].callback(_reply(b"b"))
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertEqual(
            transport.value(),
            b"[Sun Nov 22 23:46:13 2026] a\n[Sun Nov 22 23:46:13 2026] b\n",
        )

    def test_lastLineWithoutEndingPrompt(self) -> None:
        """
        With a prompt, the reply to an unterminated last line is followed by
        a line feed, not by another prompt.
        """
        loop, transport, asked = self._loop(prompt=True)
        loop.dataReceived(b"only")
        loop.readConnectionLost()
        self.assertEqual([data for data, _ in asked], [b"only"])
        asked[0][1].callback(_reply(b"only"))
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertEqual(transport.value(), b"> [Sun Nov 22 23:46:13 2026] only\n\n")

    def test_lastLineOnConnectionLost(self) -> None:
        """
        Input and output lost together still ask an unterminated last line.
        """
        loop, _, asked = self._loop()
        loop.dataReceived(b"tail\r")
        loop.connectionLost(Failure(ConnectionDone()))
        self.assertEqual([data for data, _ in asked], [b"tail"])
        asked[0][1].callback(_reply(b"tail"))
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertIsNone(self.successResultOf(loop.closed))

    def test_endOfInputTwice(self) -> None:
        """
        The end of input followed by the connection's loss asks the last
        line once.
        """
        loop, _, asked = self._loop()
        loop.dataReceived(b"b")
        loop.readConnectionLost()
        loop.connectionLost(Failure(ConnectionDone()))
        self.assertEqual([data for data, _ in asked], [b"b"])

    def test_lineTooLong(self) -> None:
        """
        A line longer than C{MAX_LENGTH} fails the loop with a L{NetlabError}
        saying so, rather than ending it quietly, and is not asked.
        """
        loop, _, asked = self._loop()
        loop.dataReceived(b"x" * (loop.MAX_LENGTH + 1) + b"\n")
        failure = self.failureResultOf(loop.done, NetlabError)
        self.assertIn(f"longer than {loop.MAX_LENGTH} bytes", str(failure.value))
        self.assertEqual(asked, [])

    def test_unterminatedTooLong(self) -> None:
        """
        Input with no line ending that grows past C{MAX_LENGTH} fails the
        loop with a L{NetlabError} too.
        """
        loop, _, asked = self._loop()
        for _ in range(2):
            loop.dataReceived(b"x" * (loop.MAX_LENGTH // 2 + 1))
        self.failureResultOf(loop.done, NetlabError)
        loop.readConnectionLost()
        self.assertEqual(asked, [])

    def test_outputClosed(self) -> None:
        """
        Standard output closed fails the loop with a L{NetlabError}.
        """
        loop, _, _ = self._loop()
        loop.writeConnectionLost()
        failure = self.failureResultOf(loop.done, NetlabError)
        self.assertIn("standard output was closed", str(failure.value))
        self.assertIsNone(self.successResultOf(loop.closed))


def _echoOptions(*argv: str) -> Options:
    options = Options()
    options.parseOptions(["echo", *argv])
    return options


class EchoOptionsTests(SynchronousTestCase):
    """
    Tests for L{EchoClientOptions}, the options of C{netlab echo}.
    """

    def _parse(self, *argv: str) -> EchoClientOptions:
        options = _echoOptions(*argv)
        self.assertEqual(options.subCommand, "echo")
        sub = options.subOptions
        assert isinstance(sub, EchoClientOptions)
        return sub

    def test_defaults(self) -> None:
        """
        Without options, C{echo} talks to localhost on port 21568 over TCP
        with the default timeouts, choosing its mode from standard input.
        """
        options = self._parse()
        self.assertEqual(options["host"], "localhost")
        self.assertEqual(options["port"], 21568)
        self.assertEqual(options["timeout"], 10.0)
        self.assertEqual(options["tries"], 3)
        self.assertEqual(options["interval"], 1.0)
        self.assertFalse(options["udp"])
        self.assertFalse(options["lines"])
        self.assertFalse(options["pipe"])
        self.assertIsNone(options["connect"])
        self.assertEqual(options["message"], [])

    def test_message(self) -> None:
        """
        The words after the options are the message, as bytes.
        """
        self.assertEqual(self._parse("hello", "world")["message"], [b"hello", b"world"])

    def test_modes(self) -> None:
        """
        C{--lines}/C{-l}, C{--pipe} and C{--udp}/C{-u} are flags.
        """
        self.assertTrue(self._parse("--lines")["lines"])
        self.assertTrue(self._parse("-l")["lines"])
        self.assertTrue(self._parse("--pipe")["pipe"])
        self.assertTrue(self._parse("-u", "hi")["udp"])
        self.assertTrue(self._parse("--udp", "--lines")["udp"])

    def test_linesAndPipe(self) -> None:
        """
        C{--lines} with C{--pipe} is a usage error.
        """
        error = self.assertRaises(usage.UsageError, self._parse, "--lines", "--pipe")
        self.assertIn("--lines", str(error))
        self.assertIn("--pipe", str(error))

    def test_pipeWithUDP(self) -> None:
        """
        C{--pipe} with C{--udp} is a usage error.
        """
        error = self.assertRaises(usage.UsageError, self._parse, "--pipe", "--udp")
        self.assertIn("--pipe", str(error))

    def test_pipeWithMessage(self) -> None:
        """
        C{--pipe} with a message is a usage error.
        """
        error = self.assertRaises(usage.UsageError, self._parse, "--pipe", "hi")
        self.assertIn("--pipe", str(error))

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
        C{--tls} and C{--ca-file} are options of C{echo} too.
        """
        self.assertTrue(self._parse("--tls", "hi")["tls"])
        self.assertTrue(self._parse("--ca-file", "ca.pem", "--pipe")["tls"])
        self.assertFalse(self._parse()["tls"])

    def test_tlsWithConnectOrUDP(self) -> None:
        """
        C{--tls} or C{--ca-file} with C{--connect} or C{--udp} is a usage
        error.
        """
        for argv in [
            ["--tls", "--connect", "tls:h:1"],
            ["--ca-file", "ca.pem", "--connect", "tcp:h:1"],
            ["--tls", "--udp"],
            ["--ca-file", "ca.pem", "-u"],
        ]:
            self.assertRaises(usage.UsageError, self._parse, *argv)

    def test_badValues(self) -> None:
        """
        A bad port, timeout, try count or interval is a usage error.
        """
        for argv in [
            ["--port", "echo"],
            ["--timeout", "0"],
            ["--tries", "0"],
            ["--interval", "-1"],
        ]:
            self.assertRaises(usage.UsageError, self._parse, *argv)


class EchoMainTests(SynchronousTestCase):
    """
    Tests for the usage errors of C{netlab echo} through L{_cli.main}.
    """

    def _usageError(self, *argv: str) -> str:
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        exit = self.assertRaises(SystemExit, _cli.main, ["echo", *argv])
        self.assertEqual(exit.code, 2)
        text = err.getvalue()
        self.assertEqual(text.count("\n"), 1, text)
        self.assertTrue(text.startswith("netlab: error: "), text)
        self.assertIn("netlab --help", text)
        return text

    def test_linesAndPipe(self) -> None:
        """
        C{--lines} with C{--pipe} exits with status 2 and one error line.
        """
        self.assertIn("--pipe", self._usageError("--lines", "--pipe"))

    def test_pipeWithUDP(self) -> None:
        """
        C{--pipe} with C{--udp} exits with status 2 and one error line.
        """
        self.assertIn("--pipe", self._usageError("--pipe", "--udp"))

    def test_pipeWithMessage(self) -> None:
        """
        C{--pipe} with a message exits with status 2 and one error line.
        """
        self.assertIn("--pipe", self._usageError("--pipe", "hello"))

    def test_udpWithConnect(self) -> None:
        """
        C{--udp} with C{--connect} exits with status 2 and one error line.
        """
        self.assertIn(
            "--connect", self._usageError("--udp", "--connect", "tcp:h:21568")
        )

    def test_unknownOption(self) -> None:
        """
        An unknown option exits with status 2 and one error line.
        """
        self.assertIn("--framing", self._usageError("--framing", "line"))

    def test_caFileWithUDP(self) -> None:
        """
        C{--ca-file} with C{--udp} exits with status 2 and one error line.
        """
        self.assertIn("--ca-file", self._usageError("--ca-file", "x.pem", "-u", "hi"))


class EchoInteractiveTests(SynchronousTestCase):
    """
    Tests for L{_Interactive} showing echoes, as C{netlab echo} uses it.
    """

    def test_showsEchoes(self) -> None:
        """
        Each echo is printed through C{show}, one line per line typed.
        """
        asked: list[tuple[bytes, Deferred[bytes]]] = []

        def ask(data: bytes) -> Deferred[bytes]:
            d: Deferred[bytes] = Deferred()
            asked.append((data, d))
            return d

        loop = _Interactive(ask, prompt=True, show=lambda b: b + b"\n")
        transport = StringTransport()
        loop.makeConnection(transport)
        loop.dataReceived(b"one\n\xff two\r\n")
        asked[0][1].callback(b"one")
        asked[1][1].callback(b"\xff two")
        self.assertEqual([data for data, d in asked], [b"one", b"\xff two"])
        self.assertEqual(transport.value(), b"> one\n> \xff two\n> ")
        loop.dataReceived(b"\n")
        self.assertIsNone(self.successResultOf(loop.done))

    def test_line(self) -> None:
        """
        L{_cli._line}, how C{netlab echo} shows an echo, adds a line feed.
        """
        self.assertEqual(_cli._line(b"a b\xff"), b"a b\xff\n")


class _Output:
    """
    Stands in for C{sys.stdout}: text and a binary C{buffer}.
    """

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text.encode())

    def flush(self) -> None:
        pass


class EchoCommandTests(SynchronousTestCase):
    """
    Tests for C{netlab echo MESSAGE} (L{_cli._run}) over fake reactors.
    """

    def setUp(self) -> None:
        self.out = _Output()
        self.err = io.StringIO()
        self.patch(sys, "stdout", self.out)
        self.patch(sys, "stderr", self.err)

    def test_udp(self) -> None:
        """
        With C{--udp} the message words, joined by spaces, are sent as one
        datagram and the echo is printed with a line feed.
        """
        reactor = _FakeUDPReactor()
        d = _cli._run(
            reactor, _echoOptions("--udp", "-H", "192.0.2.1", "hello", "there")
        )
        [port] = reactor.ports
        self.assertEqual(port.connectedTo, ("192.0.2.1", 21568))
        self.assertEqual(port.sent(), [b"hello there"])
        port.protocol.datagramReceived(b"hello there", ("192.0.2.1", 21568))
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.out.buffer.getvalue(), b"hello there\n")
        self.assertEqual(self.err.getvalue(), "")

    def test_udpNoReply(self) -> None:
        """
        With no echo after the tries, the command exits with status 1 and
        one error line.
        """
        reactor = _FakeUDPReactor()
        d = _cli._run(
            reactor,
            _echoOptions(
                "-u", "-H", "192.0.2.1", "--tries", "2", "--interval", "1", "x"
            ),
        )
        reactor.advance(1)
        self.assertNoResult(d)
        reactor.advance(1)
        exit = self.failureResultOf(d, SystemExit).value
        self.assertEqual(exit.code, 1)
        text = self.err.getvalue()
        self.assertTrue(text.startswith("netlab: error: no reply from"), text)
        self.assertEqual(text.count("\n"), 1)
        self.assertEqual(self.out.buffer.getvalue(), b"")

    def _connectTCP(self, reactor: MemoryReactorClock) -> tuple[Any, StringTransport]:
        """
        Complete the one TCP connection asked of C{reactor}.
        """
        [(host, port, factory, _, _)] = reactor.tcpClients
        self.assertEqual((host, port), ("127.0.0.1", 2000))
        protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
        assert protocol is not None
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def test_tcp(self) -> None:
        """
        Over TCP the message is sent on a connection made through
        C{--connect}, its echo printed, and the connection closed.
        """
        reactor = MemoryReactorClock()
        d = _cli._run(reactor, _echoOptions("--connect", "tcp:127.0.0.1:2000", "hi"))
        protocol, transport = self._connectTCP(reactor)
        self.assertEqual(transport.value(), b"hi")
        protocol.dataReceived(b"hi")
        self.assertEqual(self.out.buffer.getvalue(), b"hi\n")
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(d)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_tcpWrongEcho(self) -> None:
        """
        An echo that differs makes the command exit with status 1 and one
        error line.
        """
        reactor = MemoryReactorClock()
        d = _cli._run(reactor, _echoOptions("-c", "tcp:127.0.0.1:2000", "hi"))
        protocol, _ = self._connectTCP(reactor)
        protocol.dataReceived(b"ho")
        protocol.connectionLost(Failure(ConnectionDone()))
        exit = self.failureResultOf(d, SystemExit).value
        self.assertEqual(exit.code, 1)
        self.assertTrue(self.err.getvalue().startswith("netlab: error: "))
        self.assertEqual(self.out.buffer.getvalue(), b"")

    def test_badConnect(self) -> None:
        """
        A C{--connect} that is not an endpoint string exits with status 1
        and one error line naming it.
        """
        d = _cli._run(MemoryReactorClock(), _echoOptions("-c", "bogus:x", "hi"))
        exit = self.failureResultOf(d, SystemExit).value
        self.assertEqual(exit.code, 1)
        text = self.err.getvalue()
        self.assertIn("bogus:x", text)
        self.assertEqual(text.count("\n"), 1)

    def test_unreadableCAFile(self) -> None:
        """
        A C{--ca-file} that cannot be read exits with status 1 and one error
        line naming it.
        """
        d = _cli._run(
            MemoryReactorClock(), _echoOptions("--ca-file", "/nonexistent/ca.pem", "hi")
        )
        exit = self.failureResultOf(d, SystemExit).value
        self.assertEqual(exit.code, 1)
        text = self.err.getvalue()
        self.assertTrue(
            text.startswith("netlab: error: --ca-file /nonexistent/ca.pem: "), text
        )
        self.assertEqual(text.count("\n"), 1)

    def test_tls(self) -> None:
        """
        With C{--tls} the command connects over TCP to C{--host} and
        C{--port}, and waits for the TLS handshake before sending.
        """
        reactor = MemoryReactorClock()
        d = _cli._run(
            reactor, _echoOptions("--tls", "-H", "127.0.0.1", "-p", "2000", "hi")
        )
        [(host, port, *_)] = reactor.tcpClients
        self.assertEqual((host, port), ("127.0.0.1", 2000))
        self.assertNoResult(d)
