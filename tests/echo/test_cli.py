"""
Tests for L{netlab.echo._cli}: the options of C{netlab echo}, its usage
errors, its line by line mode, and the command over fakes.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from netlab import _cli
from netlab._cli import Options
from netlab._stdin import PromptLoop
from netlab.echo._cli import EchoClientOptions, _line, client
from netlab.service import INetlabClient
from tests.test_cli import declaredClients, parse
from tests.timestamp.test_client import _FakeUDPReactor


class ClientTests(SynchronousTestCase):
    """
    Tests for L{client}, C{netlab echo} in the registry.
    """

    def test_client(self) -> None:
        """
        It is an L{INetlabClient} whose options are L{EchoClientOptions}.
        """
        self.assertTrue(verifyObject(INetlabClient, client))
        self.assertIs(client.options, EchoClientOptions)
        self.assertIs(parse("echo", "hi").client, client)


def _echoOptions(*argv: str) -> Options:
    return parse("echo", *argv)


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

    def test_plain(self) -> None:
        """
        C{echo} has C{--plain}, for plain lines even on a terminal; off by
        default.
        """
        self.assertFalse(self._parse()["plain"])
        self.assertTrue(self._parse("--plain")["plain"])

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
        exit = self.assertRaises(
            SystemExit, _cli.main, ["echo", *argv], declaredClients()
        )
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
    Tests for L{PromptLoop} showing echoes, as C{netlab echo} uses it.
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

        loop = PromptLoop(ask, prompt=True, show=_line)
        transport = StringTransport()
        loop.reader.makeConnection(transport)
        loop.reader.dataReceived(b"one\n\xff two\r\n")
        asked[0][1].callback(b"one")
        asked[1][1].callback(b"\xff two")
        self.assertEqual([data for data, d in asked], [b"one", b"\xff two"])
        self.assertEqual(transport.value(), b"> one\n> \xff two\n> ")
        loop.reader.dataReceived(b"\n")
        self.assertIsNone(self.successResultOf(loop.done))

    def test_line(self) -> None:
        """
        L{_line}, how C{netlab echo} shows an echo, adds a line feed.
        """
        self.assertEqual(_line(b"a b\xff"), b"a b\xff\n")


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
    Tests for C{netlab echo MESSAGE}, run by L{_cli._run}, over fake reactors.
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
