"""
The C{netlab} command-line client.

C{netlab ts hello} stamps one message and exits; C{netlab ts} alone is the
classic interactive loop of C{tsTclnt}: a C{> } prompt, one reply per line
typed, an empty line or end of input to quit.  Everything runs on the
reactor, standard input included.

Exit status: 0 on success, 1 when talking to the server failed (with one
line on standard error saying why), 2 for a usage error, 130 when
interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IReactorCore,
    ITransport,
)
from twisted.internet.protocol import Protocol
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.protocols.basic import LineReceiver
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from netlab._options import (
    TLS_FLAGS,
    TLS_PARAMETERS,
    checkTLSOptions,
    clientEndpoint,
    positiveFloat,
    positiveInt,
)
from netlab._version import __version__
from netlab.chat._cli import ChatClientOptions, runChat
from netlab.echo import DEFAULT_PORT as ECHO_PORT
from netlab.echo import connectEcho, echoStream, echoUDP
from netlab.errors import NetlabError
from netlab.timestamp import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    DEFAULT_UDP_INTERVAL,
    DEFAULT_UDP_TRIES,
    Framing,
    TimestampReply,
    connectTimestamp,
    formatStamp,
    getTimestampUDP,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _clientParameters(port: int) -> list[list[Any]]:
    """
    The options every client command has.
    """
    return [
        ["host", "H", "localhost", "The server's host name or address."],
        ["port", "p", port, "The server's port.", int],
        [
            "connect",
            "c",
            None,
            "A Twisted client endpoint string to connect with instead of "
            f"--host/--port (TCP only), e.g. tcp:host=\\:\\:1:port={port} or "
            f"tls:host=example.net:port={port}.",
        ],
        *TLS_PARAMETERS,
        [
            "timeout",
            "t",
            DEFAULT_TIMEOUT,
            "TCP: seconds to wait for the connection and for each reply.",
            positiveFloat,
        ],
        [
            "tries",
            None,
            DEFAULT_UDP_TRIES,
            "UDP: how many times to send each request.",
            positiveInt,
        ],
        [
            "interval",
            None,
            DEFAULT_UDP_INTERVAL,
            "UDP: seconds to wait for a reply before sending again.",
            positiveFloat,
        ],
    ]


class _ClientOptions(usage.Options):
    """
    What every client command shares: where the server is, and the
    message words.
    """

    def parseArgs(self, *message: str) -> None:
        self["message"] = [os.fsencode(word) for word in message]

    def postOptions(self) -> None:
        super().postOptions()
        if self["udp"] and self["connect"]:
            raise usage.UsageError("--connect is for TCP; use --host and --port")
        self["tls"] = checkTLSOptions(self)


class TimestampClientOptions(_ClientOptions):
    """
    C{netlab ts}: talk to a timestamp server.
    """

    synopsis = "[options] [MESSAGE...]"
    longdesc = (
        "With a MESSAGE, have it stamped and print the reply; without one, "
        "read lines from standard input, printing one reply per line (an "
        "empty line or end of input quits). Replies are printed as the "
        "server sends them: [time] data."
    )
    optFlags: list[list[Any]] = [
        ["udp", "u", "Use the UDP timestamp service (tsuserv)."],
        *TLS_FLAGS,
    ]
    optParameters = [
        *_clientParameters(DEFAULT_PORT),
        [
            "framing",
            None,
            Framing.RAW.value,
            "The server's --framing: raw (the default server) or line.",
            Framing,
        ],
    ]

    def postOptions(self) -> None:
        super().postOptions()
        self["framing"] = Framing(self["framing"])


class EchoClientOptions(_ClientOptions):
    """
    C{netlab echo}: talk to an echo server.
    """

    synopsis = "[options] [MESSAGE...]"
    longdesc = (
        "With a MESSAGE, send it and print the echo. Without one, on a "
        "terminal (or with --lines), send each line typed and print its echo "
        "(an empty line or end of input quits); otherwise (or with --pipe) "
        "copy standard input through the server to standard output, byte for "
        "byte, and exit once the echo of the last byte has arrived."
    )
    optFlags: list[list[Any]] = [
        ["udp", "u", "Use UDP: one datagram per message or line."],
        ["lines", "l", "Line by line, even when standard input is not a terminal."],
        ["pipe", None, "Copy standard input through the server, byte for byte."],
        *TLS_FLAGS,
    ]
    optParameters = _clientParameters(ECHO_PORT)

    def postOptions(self) -> None:
        super().postOptions()
        if self["lines"] and self["pipe"]:
            raise usage.UsageError("choose one of --lines and --pipe")
        if self["pipe"] and (self["udp"] or self["message"]):
            raise usage.UsageError("--pipe is for TCP, reading standard input")


class Options(usage.Options):
    """
    C{netlab}: clients for netlab's services.
    """

    synopsis = "Usage: netlab COMMAND [options]"
    subCommands: list[list[Any]] = [
        [
            "ts",
            None,
            TimestampClientOptions,
            "Have data stamped by a timestamp server.",
        ],
        ["echo", None, EchoClientOptions, "Have data echoed by an echo server."],
        ["chat", None, ChatClientOptions, "Chat on a netlab chat server."],
    ]

    def opt_version(self) -> None:
        """
        Print the version and exit.
        """
        print(f"netlab {__version__}")
        raise SystemExit(EXIT_OK)

    def postOptions(self) -> None:
        if self.subCommand is None:
            raise usage.UsageError("choose a command: ts, echo, chat")


def _show(reply: TimestampReply) -> bytes:
    return formatStamp(reply.when, reply.data, reply.format) + b"\n"


@implementer(IHalfCloseableProtocol)
class _Interactive(LineReceiver):
    """
    The classic prompt loop, over standard input and output: each line is
    asked, and its answer printed, before the next is read.
    """

    transport: ITransport

    delimiter = b"\n"
    MAX_LENGTH = 1024 * 1024

    def __init__(
        self,
        ask: Callable[[bytes], Deferred[Any]],
        prompt: bool,
        show: Callable[[Any], bytes] = _show,
    ) -> None:
        """
        @param ask: sends a line, returns a Deferred of its answer.
        @param prompt: show the C{> } prompt.
        @param show: turns an answer into the bytes to print.
        """
        self._ask = ask
        self._prompt = prompt
        self._show = show
        self._busy = False
        self._ended = False
        self.done: Deferred[None] = Deferred()
        self.closed: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self._showPrompt()

    def _showPrompt(self) -> None:
        if self._prompt:
            self.transport.write(b"> ")

    def lineReceived(self, line: bytes) -> None:
        if self.done.called:
            return
        line = line.removesuffix(b"\r")
        if not line:
            self._finish(None)
            return
        self._busy = True
        self.pauseProducing()
        self._ask(line).addCallbacks(self._answered, self._finish)

    def _answered(self, answer: object) -> None:
        self._busy = False
        self.transport.write(self._show(answer))
        if self._ended:
            self._finish(None)
            return
        self._showPrompt()
        self.resumeProducing()

    def _finish(self, result: Failure | None) -> None:
        if not self.done.called:
            if self._prompt and result is None:
                self.transport.write(b"\n")
            if result is None:
                self.done.callback(None)
            else:
                self.done.errback(result)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._finish(
            Failure(
                NetlabError(
                    f"a line of input is longer than {self.MAX_LENGTH} bytes; "
                    "use --pipe for data that is not made of lines"
                )
            )
        )

    def readConnectionLost(self) -> None:
        """
        End of input: a last line without a line ending is a line too; quit
        once the reply being waited for is printed.
        """
        if self._ended:
            return
        self._ended = True
        last = self.clearLineBuffer()
        if last and not self._busy and not self.done.called:
            self.lineReceived(last)
        if not self._busy:
            self._finish(None)

    def writeConnectionLost(self) -> None:
        """
        Standard output was closed: nothing more can be shown.
        """
        self._finish(Failure(NetlabError("standard output was closed")))
        if not self.closed.called:
            self.closed.callback(None)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.readConnectionLost()
        if not self.closed.called:
            self.closed.callback(None)


def _udp(
    reactor: Any, options: _ClientOptions, request: Callable[..., Deferred[Any]]
) -> Callable[[bytes], Deferred[Any]]:
    """
    Bind a UDP request function to the server and retry options.
    """

    def ask(data: bytes) -> Deferred[Any]:
        return request(
            options["host"],
            options["port"],
            data,
            reactor=reactor,
            tries=options["tries"],
            interval=options["interval"],
        )

    return ask


async def _converse(
    reactor: Any,
    options: _ClientOptions,
    ask: Callable[[bytes], Deferred[Any]],
    show: Callable[[Any], bytes],
) -> None:
    """
    One-shot with the message words, else line by line from standard input.
    """
    if options["message"]:
        answer = await ask(b" ".join(options["message"]))
        sys.stdout.buffer.write(show(answer))
        sys.stdout.buffer.flush()
        return
    interactive = _Interactive(ask, prompt=sys.stdin.isatty(), show=show)
    stdio = StandardIO(interactive, reactor=reactor)
    try:
        await interactive.done
    finally:
        # Wait until what was printed has been written out.
        stdio.loseConnection()
        await interactive.closed


async def _timestamp(reactor: Any, options: TimestampClientOptions) -> None:
    if options["udp"]:
        await _converse(
            reactor, options, _udp(reactor, options, getTimestampUDP), _show
        )
        return
    client = await connectTimestamp(
        clientEndpoint(reactor, options),
        options["framing"],
        options["timeout"],
        reactor,
    )
    try:
        await _converse(reactor, options, client.request, _show)
    finally:
        await client.close()


def _line(data: bytes) -> bytes:
    return data + b"\n"


@implementer(IBodyProducer, IHalfCloseableProtocol)
class _StandardInput(Protocol):
    """
    Standard input as a body producer, read by the reactor; standard output
    is the consumer of the echo, through the same C{StandardIO}.
    """

    length = UNKNOWN_LENGTH

    def __init__(self, reactor: Any) -> None:
        self.stdio = StandardIO(self, reactor=reactor)
        self.stdio.pauseProducing()
        self._consumer: Any = None
        self._read: Deferred[None] = Deferred()
        self.closed: Deferred[None] = Deferred()
        self.stream: Deferred[int] | None = None
        self.outputClosed = False

    def startProducing(self, consumer: Any) -> Deferred[None]:
        self._consumer = consumer
        self.stdio.resumeProducing()
        return self._read

    def dataReceived(self, data: bytes) -> None:
        self._consumer.write(data)

    def readConnectionLost(self) -> None:
        if not self._read.called:
            self._read.callback(None)

    def writeConnectionLost(self) -> None:
        """
        Standard output was closed: the echo has nowhere to go.
        """
        self.outputClosed = True
        if not self.closed.called:
            self.closed.callback(None)
        if self.stream is not None:
            self.stream.cancel()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.readConnectionLost()
        if not self.closed.called:
            self.closed.callback(None)

    def pauseProducing(self) -> None:
        self.stdio.pauseProducing()

    def resumeProducing(self) -> None:
        self.stdio.resumeProducing()

    def stopProducing(self) -> None:
        self.stdio.stopProducing()


async def _echo(reactor: Any, options: EchoClientOptions) -> None:
    if options["udp"]:
        await _converse(reactor, options, _udp(reactor, options, echoUDP), _line)
        return
    endpoint = clientEndpoint(reactor, options)
    pipe = options["pipe"] or not (
        options["lines"] or options["message"] or sys.stdin.isatty()
    )
    if pipe:
        stdin = _StandardInput(reactor)
        try:
            stdin.stream = echoStream(
                endpoint, stdin, stdin.stdio, options["timeout"], reactor
            )
            await stdin.stream
        except CancelledError:
            if not stdin.outputClosed:
                raise
            raise NetlabError(
                "standard output was closed before all of the echo was written"
            ) from None
        finally:
            # Wait until all of the echo has been written out.
            stdin.stdio.loseConnection()
            await stdin.closed
        return
    client = await connectEcho(endpoint, options["timeout"], reactor)
    try:
        await _converse(reactor, options, client.request, _line)
    finally:
        await client.close()


def _fail(message: str, code: int) -> SystemExit:
    sys.stderr.write(f"netlab: error: {message}\n")
    return SystemExit(code)


def _run(reactor: Any, options: Options) -> Deferred[None]:
    async def run() -> None:
        try:
            if options.subCommand == "echo":
                await _echo(reactor, options.subOptions)
            elif options.subCommand == "chat":
                await runChat(reactor, options.subOptions)
            else:
                await _timestamp(reactor, options.subOptions)
        except NetlabError as e:
            raise _fail(str(e), EXIT_FAILED) from None
        except ValueError as e:
            raise _fail(str(e), EXIT_USAGE) from None
        except CancelledError:
            raise _fail("interrupted", EXIT_INTERRUPTED) from None

    finished = Deferred.fromCoroutine(run())

    def interrupted() -> None:
        # Ctrl-C or SIGTERM stops the reactor before the command is done.
        if not finished.called:
            finished.cancel()

    if IReactorCore.providedBy(reactor):
        reactor.addSystemEventTrigger("before", "shutdown", interrupted)
    return finished


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the C{netlab} command; the console script's entry point.

    @param argv: the arguments, without the program name; C{sys.argv[1:]}
        if C{None}.
    """
    options = Options()
    try:
        options.parseOptions(sys.argv[1:] if argv is None else list(argv))
    except usage.UsageError as e:
        raise _fail(f"{e} (see netlab --help)", EXIT_USAGE) from None
    react(_run, [options])
