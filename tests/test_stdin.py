"""
Tests for L{netlab._stdin}: the line reader under every interactive client
command, and the prompt loop built on consoles, line by line and on a
terminal with an input line of its own; and L{converse}, which chooses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from netlab._stdin import (
    Emphasis,
    IConsole,
    ILineHandler,
    ITerminalHandler,
    LineReader,
    PromptLoop,
    converse,
)
from netlab._terminal import TerminalReader, TerminalServer
from netlab.errors import ConnectionClosed, NetlabError
from netlab.timestamp import TimeFormat, TimestampReply
from netlab.timestamp._cli import _show
from tests.test_terminal import _Screen

WHEN = datetime(2026, 11, 22, 23, 46, 13)


def _reply(data: bytes, format: TimeFormat = TimeFormat.CTIME) -> TimestampReply:
    return TimestampReply(WHEN, data, format)


@implementer(ILineHandler)
class _Recorder:
    """
    Records what a L{LineReader} tells, as a list of events; pauses the
    reader after each line if told to.
    """

    def __init__(self, pauseAfterEachLine: bool = False) -> None:
        self.events: list[Any] = []
        self._pause = pauseAfterEachLine
        self.reader = LineReader(self, 10)

    def lineReceived(self, line: bytes) -> None:
        self.events.append(line)
        if self._pause:
            self.reader.pauseReading()

    def lineTooLong(self) -> None:
        self.events.append("too long")

    def inputEnded(self) -> None:
        self.events.append("ended")

    def outputClosed(self) -> None:
        self.events.append("output closed")


class LineReaderTests(SynchronousTestCase):
    """
    Tests for L{LineReader}.
    """

    def setUp(self) -> None:
        self.handler = _Recorder()
        self.reader = self.handler.reader
        self.transport = StringTransport()

    def test_interfaces(self) -> None:
        """
        The reader is a half-closeable protocol, so that it hears of the end
        of input apart from the end of output.
        """
        self.assertTrue(verifyObject(IHalfCloseableProtocol, self.reader))
        self.assertTrue(verifyObject(IConsole, self.reader))
        self.assertTrue(verifyObject(ILineHandler, self.handler))

    def test_writeLine(self) -> None:
        """
        A line is written in UTF-8 with a line feed; plain lines have no
        emphasis.
        """
        self.reader.makeConnection(self.transport)
        self.reader.writeLine("café")
        self.reader.writeLine("psst", Emphasis.DIRECT)
        self.assertEqual(self.transport.value(), "café\npsst\n".encode())

    def test_lines(self) -> None:
        """
        Input is given line by line, without LF or CR LF, however it is cut.
        """
        self.reader.makeConnection(self.transport)
        self.reader.dataReceived(b"one\r\ntw")
        self.reader.dataReceived(b"o\n\nthree\n")
        self.assertEqual(self.handler.events, [b"one", b"two", b"", b"three"])

    def test_lastLineAtEnd(self) -> None:
        """
        At the end of input, a last line without a line ending is given,
        then the end.
        """
        self.reader.makeConnection(self.transport)
        self.reader.dataReceived(b"a\nb\r")
        self.reader.readConnectionLost()
        self.assertEqual(self.handler.events, [b"a", b"b", "ended"])
        self.assertTrue(self.reader.exhausted)

    def test_endTold(self) -> None:
        """
        The end of input is told once, however it is heard, and no data is
        taken after it.
        """
        self.reader.makeConnection(self.transport)
        self.reader.readConnectionLost()
        self.reader.dataReceived(b"late\n")
        self.reader.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.handler.events, ["ended"])

    def test_pausedHoldsLines(self) -> None:
        """
        While paused, lines already read are held back, and standard input
        is not read; resuming gives them, and reads again.
        """
        handler = _Recorder(pauseAfterEachLine=True)
        handler.reader.makeConnection(self.transport)
        handler.reader.dataReceived(b"one\ntwo\n")
        self.assertEqual(handler.events, [b"one"])
        self.assertTrue(handler.reader.paused)
        self.assertEqual(self.transport.producerState, "paused")
        handler.reader.resumeReading()
        self.assertEqual(handler.events, [b"one", b"two"])
        self.assertEqual(self.transport.producerState, "paused")
        handler.reader.resumeReading()
        self.assertFalse(handler.reader.paused)
        self.assertEqual(self.transport.producerState, "producing")

    def test_endAfterHeldLines(self) -> None:
        """
        The end of input heard while lines are held back is told once they
        have all been given, not before, and no line is lost.
        """
        handler = _Recorder(pauseAfterEachLine=True)
        handler.reader.makeConnection(self.transport)
        handler.reader.dataReceived(b"one\ntwo\nthree")
        handler.reader.readConnectionLost()
        self.assertEqual(handler.events, [b"one"])
        self.assertFalse(handler.reader.exhausted)
        handler.reader.resumeReading()
        handler.reader.resumeReading()
        self.assertEqual(handler.events, [b"one", b"two", b"three"])
        self.assertTrue(handler.reader.exhausted)
        handler.reader.resumeReading()
        self.assertEqual(handler.events, [b"one", b"two", b"three", "ended"])

    def test_resumedWithinLine(self) -> None:
        """
        A handler that pauses and resumes within one line (its answer was
        ready at once) gets the lines after it in order.
        """
        reader = LineReader(self.handler, 10)

        def lineReceived(line: bytes) -> None:
            self.handler.events.append(line)
            reader.pauseReading()
            reader.resumeReading()

        self.handler.lineReceived = lineReceived  # type: ignore[method-assign]
        reader.makeConnection(self.transport)
        reader.dataReceived(b"a\nb\nc\n")
        self.assertEqual(self.handler.events, [b"a", b"b", b"c"])

    def test_tooLong(self) -> None:
        """
        A line longer than C{maxLineLength} is dropped whole, and said to be
        too long in its place; the lines after it are given.
        """
        self.reader.makeConnection(self.transport)
        self.assertEqual(self.reader.maxLineLength, 10)
        self.reader.dataReceived(b"x" * 11 + b"\nok\n" + b"y" * 6)
        self.reader.dataReceived(b"y" * 6)
        self.reader.dataReceived(b"y" * 100 + b"\nafter\n")
        self.assertEqual(self.handler.events, ["too long", b"ok", "too long", b"after"])

    def test_heldUntilConnected(self) -> None:
        """
        What is written before the reader is connected is written once it
        is.
        """
        self.reader.write(b"early\n")
        self.reader.makeConnection(self.transport)
        self.reader.write(b"later\n")
        self.assertEqual(self.transport.value(), b"early\nlater\n")

    def test_outputClosed(self) -> None:
        """
        When standard output is closed the handler is told once, C{closed}
        fires, and nothing more is written.
        """
        self.reader.makeConnection(self.transport)
        self.reader.writeConnectionLost()
        self.reader.writeConnectionLost()
        self.assertEqual(self.handler.events, ["output closed"])
        self.assertIsNone(self.successResultOf(self.reader.closed))
        self.reader.write(b"unseen")
        self.assertEqual(self.transport.value(), b"")

    def test_connectionLost(self) -> None:
        """
        When the connection is lost, input ends, C{closed} fires, and
        nothing more is written.
        """
        self.reader.makeConnection(self.transport)
        self.reader.dataReceived(b"tail")
        self.assertNoResult(self.reader.closed)
        self.reader.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.handler.events, [b"tail", "ended"])
        self.assertIsNone(self.successResultOf(self.reader.closed))
        self.reader.write(b"unseen")
        self.assertEqual(self.transport.value(), b"")


class PromptLoopTests(SynchronousTestCase):
    """
    Tests for L{PromptLoop}, the prompt loop over standard input and
    output.
    """

    def _loop(
        self, prompt: bool = True
    ) -> tuple[
        PromptLoop, StringTransport, list[tuple[bytes, Deferred[TimestampReply]]]
    ]:
        asked: list[tuple[bytes, Deferred[TimestampReply]]] = []

        def ask(data: bytes) -> Deferred[TimestampReply]:
            d: Deferred[TimestampReply] = Deferred()
            asked.append((data, d))
            return d

        loop = PromptLoop(ask, prompt=prompt, show=_show)
        transport = StringTransport()
        loop.reader.makeConnection(transport)
        return loop, transport, asked

    def test_interface(self) -> None:
        """
        The loop provides L{ITerminalHandler}: its prompt is the classic
        one, and it completes nothing.
        """
        loop = self._loop()[0]
        self.assertTrue(verifyObject(ITerminalHandler, loop))
        self.assertEqual(loop.prompt(), "> ")
        self.assertEqual(list(loop.completions("a", True)), [])

    def test_prompt(self) -> None:
        """
        With a prompt, C{"> "} is shown at the start and after each reply.
        """
        loop, transport, asked = self._loop(prompt=True)
        self.assertEqual(transport.value(), b"> ")
        loop.reader.dataReceived(b"hello\n")
        self.assertEqual(transport.value(), b"> ")
        asked[0][1].callback(_reply(b"hello"))
        self.assertEqual(transport.value(), b"> [Sun Nov 22 23:46:13 2026] hello\n> ")

    def test_noPrompt(self) -> None:
        """
        Without a prompt only the replies are written.
        """
        loop, transport, asked = self._loop(prompt=False)
        loop.reader.dataReceived(b"hello\n")
        asked[0][1].callback(_reply(b"hello"))
        self.assertEqual(transport.value(), b"[Sun Nov 22 23:46:13 2026] hello\n")
        loop.reader.dataReceived(b"\n")
        self.assertEqual(transport.value(), b"[Sun Nov 22 23:46:13 2026] hello\n")

    def test_replyAsSent(self) -> None:
        """
        A reply is printed as the server sent it, in the server's format.
        """
        loop, transport, asked = self._loop(prompt=False)
        loop.reader.dataReceived(b"hi \xff\n")
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
        loop.reader.dataReceived(b"one\ntwo\n")
        self.assertEqual([data for data, d in asked], [b"one"])
        asked[0][1].callback(_reply(b"one"))
        self.assertEqual([data for data, d in asked], [b"one", b"two"])
        asked[1][1].callback(_reply(b"two"))
        self.assertEqual(
            transport.value(),
            b"[Sun Nov 22 23:46:13 2026] one\n[Sun Nov 22 23:46:13 2026] two\n",
        )

    def test_answeredAtOnce(self) -> None:
        """
        Answers that are ready at once are printed in order, one per line.
        """
        loop = PromptLoop(lambda data: succeed(data), prompt=True, show=bytes)
        transport = StringTransport()
        loop.reader.makeConnection(transport)
        loop.reader.dataReceived(b"a\nb\n\n")
        self.assertEqual(transport.value(), b"> a> b> \n")
        self.assertIsNone(self.successResultOf(loop.done))

    def test_pausedWhileAsking(self) -> None:
        """
        Reading is paused while a reply is awaited and resumed once it is
        printed.
        """
        loop, transport, asked = self._loop()
        self.assertFalse(loop.reader.paused)
        loop.reader.dataReceived(b"one\ntwo\n")
        self.assertTrue(loop.reader.paused)
        self.assertEqual(transport.producerState, "paused")
        asked[0][1].callback(_reply(b"one"))
        # The buffered second line is now being asked.
        self.assertTrue(loop.reader.paused)
        self.assertEqual(transport.producerState, "paused")
        asked[1][1].callback(_reply(b"two"))
        self.assertFalse(loop.reader.paused)
        self.assertEqual(transport.producerState, "producing")

    def test_emptyLineEnds(self) -> None:
        """
        An empty line ends the loop without asking anything.
        """
        loop, transport, asked = self._loop()
        loop.reader.dataReceived(b"\n")
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertEqual(asked, [])
        self.assertEqual(transport.value(), b"> \n")
        loop.reader.dataReceived(b"more\n")
        self.assertEqual(asked, [])

    def test_endOfInputEnds(self) -> None:
        """
        End of input with no reply awaited ends the loop.
        """
        loop, _, _ = self._loop(prompt=False)
        self.assertNoResult(loop.done)
        loop.reader.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.successResultOf(loop.done))

    def test_endOfInputWaitsForReply(self) -> None:
        """
        End of input while a reply is awaited ends the loop once that reply
        is printed, with no prompt after it.
        """
        loop, transport, asked = self._loop()
        loop.reader.dataReceived(b"last")
        loop.reader.dataReceived(b"\n")
        loop.reader.readConnectionLost()
        self.assertNoResult(loop.done)
        asked[0][1].callback(_reply(b"last"))
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertEqual(transport.value(), b"> [Sun Nov 22 23:46:13 2026] last\n\n")

    def test_endOfInputAsksEveryLine(self) -> None:
        """
        End of input heard while lines wait behind a reply still asks each
        of them before the loop ends.
        """
        loop, _, asked = self._loop(prompt=False)
        loop.reader.dataReceived(b"one\ntwo\n")
        loop.reader.readConnectionLost()
        asked[0][1].callback(_reply(b"one"))
        self.assertNoResult(loop.done)
        asked[1][1].callback(_reply(b"two"))
        self.assertEqual([data for data, _ in asked], [b"one", b"two"])
        self.assertIsNone(self.successResultOf(loop.done))

    def test_failedAsk(self) -> None:
        """
        A failed request fails the loop with the request's error.
        """
        loop, transport, asked = self._loop()
        loop.reader.dataReceived(b"hello\n")
        asked[0][1].errback(ConnectionClosed("the server closed the connection"))
        self.failureResultOf(loop.done, ConnectionClosed)
        self.assertEqual(transport.value(), b"> ")

    def test_crlf(self) -> None:
        """
        A CR before the line feed is not part of the line.
        """
        loop, _, asked = self._loop()
        loop.reader.dataReceived(b"hello\r\n")
        self.assertEqual([data for data, d in asked], [b"hello"])

    def test_crlfEmptyLineEnds(self) -> None:
        """
        A line holding only CR counts as empty and ends the loop.
        """
        loop, _, asked = self._loop()
        loop.reader.dataReceived(b"\r\n")
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertEqual(asked, [])


class PromptLoopEndTests(SynchronousTestCase):
    """
    Tests for how L{PromptLoop} ends: at the end of input, on an over-long
    line, and when standard output is closed.
    """

    def _loop(
        self, prompt: bool = False, advice: str = ""
    ) -> tuple[PromptLoop, StringTransport, list[tuple[bytes, Deferred[Any]]]]:
        asked: list[tuple[bytes, Deferred[Any]]] = []

        def ask(data: bytes) -> Deferred[Any]:
            d: Deferred[Any] = Deferred()
            asked.append((data, d))
            return d

        loop = PromptLoop(ask, prompt=prompt, show=_show, advice=advice)
        transport = StringTransport()
        loop.reader.makeConnection(transport)
        return loop, transport, asked

    def test_lastLineWithoutEnding(self) -> None:
        """
        At the end of input, a last line with no line ending is asked too,
        and its reply printed, before the loop ends.
        """
        loop, transport, asked = self._loop()
        loop.reader.dataReceived(b"a\nb")
        self.assertEqual([data for data, _ in asked], [b"a"])
        asked[0][1].callback(_reply(b"a"))
        loop.reader.readConnectionLost()
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
        loop.reader.dataReceived(b"only")
        loop.reader.readConnectionLost()
        self.assertEqual([data for data, _ in asked], [b"only"])
        asked[0][1].callback(_reply(b"only"))
        self.assertIsNone(self.successResultOf(loop.done))
        self.assertEqual(transport.value(), b"> [Sun Nov 22 23:46:13 2026] only\n\n")

    def test_lastLineOnConnectionLost(self) -> None:
        """
        Input and output lost together still ask an unterminated last line.
        """
        loop, _, asked = self._loop()
        loop.reader.dataReceived(b"tail\r")
        loop.reader.connectionLost(Failure(ConnectionDone()))
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
        loop.reader.dataReceived(b"b")
        loop.reader.readConnectionLost()
        loop.reader.connectionLost(Failure(ConnectionDone()))
        self.assertEqual([data for data, _ in asked], [b"b"])

    def test_lineTooLong(self) -> None:
        """
        A line longer than C{MAX_LENGTH} fails the loop with a L{NetlabError}
        saying so, rather than ending it quietly, and is not asked.
        """
        loop, _, asked = self._loop()
        loop.reader.dataReceived(b"x" * (loop.MAX_LENGTH + 1) + b"\n")
        failure = self.failureResultOf(loop.done, NetlabError)
        self.assertIn(f"longer than {loop.MAX_LENGTH} bytes", str(failure.value))
        self.assertEqual(asked, [])

    def test_lineTooLongAdvice(self) -> None:
        """
        The error about a line too long ends with the advice the loop was
        given, if any.
        """
        loop, _, _ = self._loop(advice="use --pipe")
        loop.reader.dataReceived(b"x" * (loop.MAX_LENGTH + 1) + b"\n")
        failure = self.failureResultOf(loop.done, NetlabError)
        self.assertEqual(
            str(failure.value),
            f"a line of input is longer than {loop.MAX_LENGTH} bytes; use --pipe",
        )
        loop, _, _ = self._loop()
        loop.reader.dataReceived(b"x" * (loop.MAX_LENGTH + 1) + b"\n")
        failure = self.failureResultOf(loop.done, NetlabError)
        self.assertTrue(str(failure.value).endswith(" bytes"))

    def test_unterminatedTooLong(self) -> None:
        """
        Input with no line ending that grows past C{MAX_LENGTH} fails the
        loop with a L{NetlabError} too.
        """
        loop, _, asked = self._loop()
        for _ in range(2):
            loop.reader.dataReceived(b"x" * (loop.MAX_LENGTH // 2 + 1))
        self.failureResultOf(loop.done, NetlabError)
        loop.reader.readConnectionLost()
        self.assertEqual(asked, [])

    def test_outputClosed(self) -> None:
        """
        Standard output closed fails the loop with a L{NetlabError}.
        """
        loop, _, _ = self._loop()
        loop.reader.writeConnectionLost()
        failure = self.failureResultOf(loop.done, NetlabError)
        self.assertIn("standard output was closed", str(failure.value))
        self.assertIsNone(self.successResultOf(loop.closed))


class PromptLoopScreenTests(SynchronousTestCase):
    """
    Tests for L{PromptLoop} over a L{TerminalReader}: C{netlab ts} and
    C{netlab echo} for a person at a terminal.
    """

    def setUp(self) -> None:
        self.asked: list[tuple[bytes, Deferred[TimestampReply]]] = []

        def ask(data: bytes) -> Deferred[TimestampReply]:
            d: Deferred[TimestampReply] = Deferred()
            self.asked.append((data, d))
            return d

        def console(handler: Any, maxLineLength: int) -> TerminalReader:
            return TerminalReader(handler, maxLineLength, echo=True)

        self.loop = PromptLoop(ask, prompt=False, show=_show, makeConsole=console)
        reader = self.loop.reader
        assert isinstance(reader, TerminalReader)
        self.screen = _Screen(40, 6)
        self.keys = TerminalServer(reader)
        reader.terminalSize(40, 6)
        self.keys.makeConnection(self.screen.transport)

    def test_transcript(self) -> None:
        """
        Each line asked shows after its prompt, then its reply; lines typed
        while a reply is awaited wait their turn, and typing goes on.
        """
        self.keys.dataReceived(b"a\rb\rc")
        self.assertEqual([data for data, _ in self.asked], [b"a"])
        self.asked[0][1].callback(_reply(b"a"))
        self.assertEqual([data for data, _ in self.asked], [b"a", b"b"])
        self.asked[1][1].callback(_reply(b"b"))
        self.assertEqual(
            self.screen.read()[-5:],
            [
                "> a",
                "> b",
                "[Sun Nov 22 23:46:13 2026] a",
                "[Sun Nov 22 23:46:13 2026] b",
                "> c",
            ],
        )

    def test_emptyLineEnds(self) -> None:
        """
        An empty line still ends the loop, as documented.
        """
        self.keys.dataReceived(b"\r")
        self.successResultOf(self.loop.done)
        self.assertEqual(self.asked, [])

    def test_endOfInputEnds(self) -> None:
        """
        Ctrl-D on an empty line ends the loop.
        """
        self.keys.dataReceived(b"\x04")
        self.successResultOf(self.loop.done)


class _Stdio:
    """
    Standard input and output in memory, with or without a screen.
    """

    def __init__(self, screen: bool) -> None:
        self.screen = screen
        self.made: list[tuple[Any, int, bool]] = []
        self.transport = StringTransport()

    def console(self, handler: Any, maxLineLength: int, echo: bool = False) -> Any:
        self.made.append((handler, maxLineLength, echo))
        return LineReader(handler, maxLineLength)

    def connect(self, console: LineReader) -> StringTransport:
        console.makeConnection(self.transport)
        return self.transport


class ConverseTests(SynchronousTestCase):
    """
    Tests for L{converse}'s interactive loop.
    """

    def _converse(self, stdio: _Stdio) -> Deferred[None]:
        def ask(data: bytes) -> Deferred[TimestampReply]:
            return succeed(_reply(data))

        return Deferred.fromCoroutine(
            converse(None, {"message": []}, ask, _show, stdio=stdio)
        )

    def test_screen(self) -> None:
        """
        With a screen, the loop's console echoes what is typed and the
        loop writes no prompt of its own; closing waits for the console.
        """
        stdio = _Stdio(screen=True)
        d = self._converse(stdio)
        [(handler, length, echo)] = stdio.made
        self.assertTrue(echo)
        self.assertEqual(length, PromptLoop.MAX_LENGTH)
        console = handler.reader
        console.dataReceived(b"hi\n\n")
        self.assertEqual(stdio.transport.value(), b"[Sun Nov 22 23:46:13 2026] hi\n")
        self.assertTrue(stdio.transport.disconnecting)
        self.assertNoResult(d)
        console.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(d)
