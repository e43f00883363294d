"""
Standard input and output for the interactive client commands of
C{netlab}: what a command's handler of lines reads and writes (an
L{IConsole}), the plain one, L{LineReader}, and the prompt loop built on
consoles, L{PromptLoop}, for the commands that ask a server one line at a
time.

The reader is the protocol over C{StandardIO}: it splits input into lines
(with L{netlab._lines.LineBuffer}), gives a last line that has no line
ending at the end of input, holds lines back while its handler has paused
it, and writes output, holding what is written before it is connected and
dropping what is written once output is gone.  What the lines mean is up to
its L{ILineHandler}.  It is what scripts, pipes and C{--plain} get; a
person at a terminal gets L{netlab._terminal.TerminalReader}, the same
console with an input line of its own, through an L{IStdio}.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from functools import partial
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol, IProtocol, ITransport
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.stdio import StandardIO
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface, implementer

from netlab._lines import LineBuffer
from netlab.errors import NetlabError

__all__ = [
    "ConsoleFactory",
    "Emphasis",
    "IConsole",
    "ILineHandler",
    "IStdio",
    "ITerminalHandler",
    "LineReader",
    "LineStdio",
    "PromptLoop",
    "converse",
]


class Emphasis(Enum):
    """
    How much a line of output should stand out, where the console can show
    it (L{netlab._terminal.TerminalReader} does, in bold or colour; plain
    lines cannot).
    """

    NONE = "none"
    """
    An ordinary line.
    """

    HIGHLIGHT = "highlight"
    """
    A line that mentions the person reading, as a chat message naming
    them.
    """

    DIRECT = "direct"
    """
    A line meant for the person reading alone, as a private message.
    """


class ILineHandler(Interface):
    """
    What a L{LineReader} tells of standard input and output.
    """

    def lineReceived(line: bytes) -> None:
        """
        A line was typed.

        @param line: the line, without its ending (LF, or CR LF).
        """

    def lineTooLong() -> None:
        """
        A line longer than the reader's C{maxLineLength} was typed; it was
        dropped, whole.
        """

    def inputEnded() -> None:
        """
        Standard input ended, and every line in it has been received.
        Told once.
        """

    def outputClosed() -> None:
        """
        Standard output was closed: nothing written shows any more.  Told
        once.
        """


class ITerminalHandler(ILineHandler):
    """
    An L{ILineHandler} for a console with an input line of its own
    (L{netlab._terminal.TerminalReader}): it also says what the prompt is,
    and how to complete a word.
    """

    def prompt() -> str:
        """
        @return: what the input line starts with, now (C{"> "}); asked
            each time the input line is drawn.
        """

    def completions(word: str, first: bool) -> Sequence[str]:
        """
        What Tab may turn a word into.

        @param word: the word before the cursor (from the last space), as
            typed so far.
        @param first: whether it is the first word of the line.
        @return: the replacements, each with what should follow it (a
            space, or C{": "}), in the order Tab offers them; empty for
            none.
        """


class IConsole(Interface):
    """
    Where an L{ILineHandler}'s lines come from and its output goes: standard
    input and output line by line (L{LineReader}), or a terminal with an
    input line of its own (L{netlab._terminal.TerminalReader}).  Made for
    one handler, told of every line through it.
    """

    closed = Attribute(
        "A Deferred that fires once nothing more can be written: the output "
        "closed or the connection lost."
    )
    paused = Attribute("Whether lines are held back (see pauseReading).")
    exhausted = Attribute(
        "Whether input has ended and every line of it has been given to the handler."
    )
    maxLineLength = Attribute("The longest line, in bytes, without its ending.")

    def write(data: bytes) -> None:
        """
        Write output: bytes, whose lines end with LF.  Held until the
        console is connected; dropped once its output is gone.
        """

    def writeLine(text: str, emphasis: Emphasis = Emphasis.NONE) -> None:
        """
        Write one line of output, without its ending, as L{write} does.

        @param emphasis: how much it should stand out, where it can.
        """

    def pauseReading() -> None:
        """
        Give no more lines until L{resumeReading}.
        """

    def resumeReading() -> None:
        """
        Give the lines held back, and those that follow.
        """


ConsoleFactory = Callable[[ITerminalHandler, int], IConsole]
"""
Makes the console of a handler, given the longest line, in bytes: the
C{console} of an L{IStdio}, or L{LineReader}.
"""


class IStdio(Interface):
    """
    Standard input and output as an interactive command has them: makes the
    consoles of its handlers, and connects them.  L{LineStdio} for lines,
    L{netlab._terminal.TerminalStdio} for a person at a terminal; choose
    with L{netlab._terminal.standardIO}.
    """

    screen = Attribute(
        "Whether the consoles draw an input line of their own, with the "
        "handler's prompt (a terminal in raw mode), rather than read lines "
        "a terminal echoes."
    )

    def console(
        handler: ITerminalHandler, maxLineLength: int, echo: bool = False
    ) -> IConsole:
        """
        Make the console of a handler.

        @param maxLineLength: the longest line, in bytes.
        @param echo: whether each line typed is shown as output after the
            prompt, as a terminal shows what was typed (only where the
            console draws its own input line).
        """

    def connect(console: IConsole) -> ITransport:
        """
        Connect a console made by L{console} to standard input and output.

        @return: the connection; its C{loseConnection} writes out what is
            left, puts the terminal back as it was, and closes, after which
            the console's C{closed} fires.
        """


@implementer(IHalfCloseableProtocol, IConsole)
class LineReader(Protocol):
    """
    Standard input as lines for an L{ILineHandler}, and standard output,
    over C{StandardIO}.

    @ivar paused: whether lines are held back (see L{pauseReading}).
    @ivar closed: fires once nothing more can be written: when standard
        output is closed, or the connection lost.
    """

    def __init__(self, handler: ILineHandler, maxLineLength: int) -> None:
        """
        @param handler: told of each line, and of the end of input and
            output.
        @param maxLineLength: the longest line, in bytes, without its
            ending; a longer one is dropped (see L{ILineHandler.lineTooLong}).
        """
        self._handler = handler
        self._buffer = LineBuffer(maxLineLength)
        self._lines: deque[bytes | None] = deque()
        self._held: list[bytes] = []
        self._delivering = False
        self._inputEnded = False
        self._toldEnded = False
        self._writable = True
        self.paused = False
        self.closed: Deferred[None] = Deferred()

    @property
    def maxLineLength(self) -> int:
        """
        The longest line, in bytes, without its ending.
        """
        return self._buffer.maxLineLength

    @property
    def exhausted(self) -> bool:
        """
        Whether input has ended and every line of it has been given to the
        handler.
        """
        return self._inputEnded and not self._lines

    # Output.

    def connectionMade(self) -> None:
        held, self._held = self._held, []
        for data in held:
            self.write(data)

    def write(self, data: bytes) -> None:
        """
        Write to standard output: once connected, or as soon as it is;
        never once it is closed.
        """
        if not self._writable:
            return
        if self.transport is None:
            self._held.append(data)
        else:
            self.transport.write(data)

    def writeLine(self, text: str, emphasis: Emphasis = Emphasis.NONE) -> None:
        """
        Write one line, in UTF-8, as L{write} does; a plain line has no
        emphasis.
        """
        self.write(text.encode("utf-8", "replace") + b"\n")

    # Input.

    def pauseReading(self) -> None:
        """
        Give no more lines until L{resumeReading}, and stop reading standard
        input meanwhile.
        """
        self.paused = True
        producer: Any = self.transport
        if producer is not None:
            producer.pauseProducing()

    def resumeReading(self) -> None:
        """
        Give the lines held back, then read standard input again.
        """
        self.paused = False
        self._deliver()
        producer: Any = self.transport
        if not self.paused and producer is not None:
            producer.resumeProducing()

    def dataReceived(self, data: bytes) -> None:
        if self._inputEnded:
            return
        lines, _ = self._buffer.feed(data)
        self._lines.extend(lines)
        self._deliver()

    def _deliver(self) -> None:
        """
        Give the handler the lines it has not had, until it pauses; then the
        end of input, if that is all that is left.
        """
        if self._delivering:
            # The handler resumed from within one of its calls: the loop
            # below goes on.
            return
        self._delivering = True
        try:
            while self._lines and not self.paused:
                line = self._lines.popleft()
                if line is None:
                    self._handler.lineTooLong()
                else:
                    self._handler.lineReceived(line.removesuffix(b"\r"))
            if self.exhausted and not self.paused and not self._toldEnded:
                self._toldEnded = True
                self._handler.inputEnded()
        finally:
            self._delivering = False

    def readConnectionLost(self) -> None:
        """
        End of input: a last line without a line ending is a line too.
        """
        if self._inputEnded:
            return
        self._inputEnded = True
        last = self._buffer.pending()
        self._buffer.clear()
        if last:
            self._lines.append(last)
        self._deliver()

    def writeConnectionLost(self) -> None:
        """
        Standard output was closed.
        """
        if not self._writable:
            return
        self._writable = False
        self._handler.outputClosed()
        self._closed()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        Input and output are both gone: the end of input, if it was not
        told yet, and nothing more is written.
        """
        self._writable = False
        self.readConnectionLost()
        self._closed()

    def _closed(self) -> None:
        if not self.closed.called:
            self.closed.callback(None)


@implementer(IStdio)
class LineStdio:
    """
    Standard input and output line by line: each console is a
    L{LineReader} over C{StandardIO}.  What a pipe, a script or C{--plain}
    gets.
    """

    screen = False

    def __init__(self, reactor: Any) -> None:
        """
        @param reactor: the reactor that reads standard input.
        """
        self._reactor = reactor

    def console(
        self, handler: ITerminalHandler, maxLineLength: int, echo: bool = False
    ) -> IConsole:
        """
        @return: a L{LineReader}; the terminal, if any, echoes what is typed.
        """
        return LineReader(handler, maxLineLength)

    def connect(self, console: IConsole) -> ITransport:
        return StandardIO(cast(IProtocol, console), reactor=self._reactor)


@implementer(ITerminalHandler)
class PromptLoop:
    """
    The classic prompt loop of an interactive client command: each line
    typed is asked of the server, and its answer printed, before the next
    is read.  An empty line, or the end of input, ends it.

    @ivar reader: the console to connect to standard input and output.
    @ivar done: fires when the loop is over; fails with the error of a
        request that failed, or with a L{NetlabError} if a line is too long
        or standard output was closed.
    @ivar closed: the reader's C{closed}.
    """

    MAX_LENGTH = 1024 * 1024
    """
    The longest line, in bytes.
    """

    def __init__(
        self,
        ask: Callable[[bytes], Deferred[Any]],
        prompt: bool,
        show: Callable[[Any], bytes],
        advice: str = "",
        makeConsole: ConsoleFactory = LineReader,
    ) -> None:
        """
        @param ask: sends a line, returns a Deferred of its answer.
        @param prompt: write the C{> } prompt to the output, for a terminal
            that echoes what is typed after it (a console with an input
            line of its own draws L{prompt} there instead).
        @param show: turns an answer into the bytes to print.
        @param advice: what to do instead, said after a line is found too
            long.
        @param makeConsole: makes the console (L{reader}).
        """
        self._ask = ask
        self._prompt = prompt
        self._show = show
        self._advice = advice
        self.reader = makeConsole(self, self.MAX_LENGTH)
        self.done: Deferred[None] = Deferred()
        self.closed = self.reader.closed
        self._showPrompt()

    def _showPrompt(self) -> None:
        if self._prompt:
            self.reader.write(b"> ")

    def prompt(self) -> str:
        """
        @return: the classic prompt, C{> }.
        """
        return "> "

    def completions(self, word: str, first: bool) -> Sequence[str]:
        """
        @return: nothing: what is asked is data, with nothing to complete.
        """
        return ()

    def lineReceived(self, line: bytes) -> None:
        if self.done.called:
            return
        if not line:
            self._finish(None)
            return
        self.reader.pauseReading()
        self._ask(line).addCallbacks(self._answered, self._finish)

    def _answered(self, answer: object) -> None:
        self.reader.write(self._show(answer))
        if not self.reader.exhausted:
            self._showPrompt()
        self.reader.resumeReading()

    def lineTooLong(self) -> None:
        advice = f"; {self._advice}" if self._advice else ""
        self._finish(
            Failure(
                NetlabError(
                    f"a line of input is longer than {self.MAX_LENGTH} bytes{advice}"
                )
            )
        )

    def inputEnded(self) -> None:
        self._finish(None)

    def outputClosed(self) -> None:
        self._finish(Failure(NetlabError("standard output was closed")))

    def _finish(self, result: Failure | None) -> None:
        if self.done.called:
            return
        if result is not None:
            self.done.errback(result)
            return
        if self._prompt:
            self.reader.write(b"\n")
        self.done.callback(None)


async def converse(
    reactor: Any,
    options: Mapping[str, Any],
    ask: Callable[[bytes], Deferred[Any]],
    show: Callable[[Any], bytes],
    advice: str = "",
    stdio: IStdio | None = None,
) -> None:
    """
    Ask the message words of C{options} (joined by spaces) and print the
    answer; without any, run a L{PromptLoop} over standard input and output:
    with an input line of its own if C{stdio} draws one (each line asked is
    shown after its prompt), otherwise line by line, with a prompt if
    standard input is a terminal.

    @param options: a client command's options, with C{message} (see
        L{netlab._clientoptions.MessageOptions}).
    @param ask: sends data, returns a Deferred of its answer.
    @param show: turns an answer into the bytes to print.
    @param advice: see L{PromptLoop}.
    @param stdio: standard input and output; line by line (L{LineStdio}) if
        C{None}.
    """
    if options["message"]:
        answer = await ask(b" ".join(options["message"]))
        sys.stdout.buffer.write(show(answer))
        sys.stdout.buffer.flush()
        return
    if stdio is None:
        stdio = LineStdio(reactor)
    loop = PromptLoop(
        ask,
        prompt=not stdio.screen and sys.stdin.isatty(),
        show=show,
        advice=advice,
        makeConsole=partial(stdio.console, echo=True),
    )
    transport = stdio.connect(loop.reader)
    try:
        await loop.done
    finally:
        # Wait until what was printed has been written out (and the
        # terminal is as it was).
        transport.loseConnection()
        await loop.closed
