"""
The C{netlab} command-line client.

C{netlab ts hello} stamps one message and exits; C{netlab ts} alone is the
classic interactive loop of C{tsTclnt}: a C{> } prompt, one reply per line
typed, an empty line or end of input to quit.  Everything runs on the
reactor, standard input included.

Exit status: 0 on success, 1 when talking to the server failed (with one
line on standard error saying why), 2 for a usage error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, clientFromString
from twisted.internet.interfaces import IStreamClientEndpoint, ITransport
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.protocols.basic import LineReceiver
from twisted.python import usage
from twisted.python.failure import Failure

from netlab._version import __version__
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


def _positiveFloat(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(f"{value} is not a positive number of seconds")
    return number


def _positiveInt(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{value} is not a positive whole number")
    return number


class TimestampClientOptions(usage.Options):
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
    optFlags = [["udp", "u", "Use the UDP timestamp service (tsuserv)."]]
    optParameters = [
        ["host", "H", "localhost", "The server's host name or address."],
        ["port", "p", DEFAULT_PORT, "The server's port.", int],
        [
            "connect",
            "c",
            None,
            "A Twisted client endpoint string to connect with instead of "
            "--host/--port (TCP only), e.g. tcp:host=::1:port=21567.",
        ],
        [
            "framing",
            None,
            Framing.RAW.value,
            "The server's --framing: raw (the default server) or line.",
            Framing,
        ],
        [
            "timeout",
            "t",
            DEFAULT_TIMEOUT,
            "TCP: seconds to wait for the connection and for each reply.",
            _positiveFloat,
        ],
        [
            "tries",
            None,
            DEFAULT_UDP_TRIES,
            "UDP: how many times to send each request.",
            _positiveInt,
        ],
        [
            "interval",
            None,
            DEFAULT_UDP_INTERVAL,
            "UDP: seconds to wait for a reply before sending again.",
            _positiveFloat,
        ],
    ]

    def parseArgs(self, *message: str) -> None:
        self["message"] = [os.fsencode(word) for word in message]

    def postOptions(self) -> None:
        self["framing"] = Framing(self["framing"])
        if self["udp"] and self["connect"]:
            raise usage.UsageError("--connect is for TCP; use --host and --port")


class Options(usage.Options):
    """
    C{netlab}: clients for netlab's services.
    """

    synopsis = "Usage: netlab COMMAND [options]"
    subCommands: list[list[Any]] = [
        ["ts", None, TimestampClientOptions, "Have data stamped by a timestamp server."]
    ]

    def opt_version(self) -> None:
        """
        Print the version and exit.
        """
        print(f"netlab {__version__}")
        raise SystemExit(EXIT_OK)

    def postOptions(self) -> None:
        if self.subCommand is None:
            raise usage.UsageError("choose a command: ts")


def _show(reply: TimestampReply) -> bytes:
    return formatStamp(reply.when, reply.data, reply.format) + b"\n"


class _Interactive(LineReceiver):
    """
    The classic prompt loop, over standard input and output.
    """

    transport: ITransport

    delimiter = b"\n"

    def __init__(
        self, ask: Callable[[bytes], Deferred[TimestampReply]], prompt: bool
    ) -> None:
        self._ask = ask
        self._prompt = prompt
        self._busy = False
        self._ended = False
        self.done: Deferred[None] = Deferred()

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

    def _answered(self, reply: TimestampReply) -> None:
        self._busy = False
        self.transport.write(_show(reply))
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

    def connectionLost(self, reason: Failure | None = None) -> None:
        # End of input: quit once the reply being waited for is printed.
        self._ended = True
        if not self._busy:
            self._finish(None)


async def _timestamp(reactor: Any, options: TimestampClientOptions) -> None:
    ask: Callable[[bytes], Deferred[TimestampReply]]
    close: Callable[[], object] = _nothing
    if options["udp"]:

        def ask(data: bytes) -> Deferred[TimestampReply]:
            return getTimestampUDP(
                options["host"],
                options["port"],
                data,
                reactor=reactor,
                tries=options["tries"],
                interval=options["interval"],
            )

    else:
        endpoint: IStreamClientEndpoint
        if options["connect"]:
            try:
                endpoint = clientFromString(reactor, options["connect"])
            except Exception as e:
                raise NetlabError(
                    f"--connect {options['connect']}: not a client endpoint "
                    f"string ({e})"
                ) from None
        else:
            endpoint = HostnameEndpoint(reactor, options["host"], options["port"])
        client = await connectTimestamp(
            endpoint, options["framing"], options["timeout"], reactor
        )
        ask = client.request
        close = client.close

    try:
        if options["message"]:
            reply = await ask(b" ".join(options["message"]))
            sys.stdout.buffer.write(_show(reply))
            sys.stdout.buffer.flush()
        else:
            interactive = _Interactive(ask, prompt=sys.stdin.isatty())
            stdio = StandardIO(interactive, reactor=reactor)
            try:
                await interactive.done
            finally:
                stdio.loseConnection()
    finally:
        await Deferred.fromCoroutine(_maybeAwait(close()))


def _nothing() -> None:
    return None


async def _maybeAwait(result: object) -> None:
    if isinstance(result, Deferred):
        await result


def _fail(message: str, code: int) -> SystemExit:
    sys.stderr.write(f"netlab: error: {message}\n")
    return SystemExit(code)


def _run(reactor: Any, options: Options) -> Deferred[None]:
    async def run() -> None:
        try:
            await _timestamp(reactor, options.subOptions)
        except NetlabError as e:
            raise _fail(str(e), EXIT_FAILED) from None
        except ValueError as e:
            raise _fail(str(e), EXIT_USAGE) from None

    return Deferred.fromCoroutine(run())


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the C{netlab} command; the console script's entry point.

    @param argv: the arguments, without the program name; C{sys.argv[1:]}
        if L{None}.
    """
    options = Options()
    try:
        options.parseOptions(sys.argv[1:] if argv is None else list(argv))
    except usage.UsageError as e:
        raise _fail(f"{e} (see netlab --help)", EXIT_USAGE) from None
    react(_run, [options])
