"""
C{netlab echo}: the echo service's client command.

With message words it sends them and prints the echo; without, on a
terminal (or with C{--lines}) it echoes each line typed (on a terminal, in
an input line of its own with line editing and history, unless
C{--plain}), and otherwise (or with C{--pipe}) copies standard input
through the server to standard output, byte for byte.  Registered in the
entry point group C{netlab.clients} as L{client}.
"""

from __future__ import annotations

import sys
from typing import Any, cast

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol, IStreamClientEndpoint
from twisted.internet.protocol import Protocol
from twisted.internet.stdio import StandardIO
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from netlab._clientoptions import (
    PLAIN_FLAG,
    MessageOptions,
    connectionParameters,
    udpAsker,
    udpParameters,
)
from netlab._options import TLS_FLAGS, clientEndpoint
from netlab._stdin import converse
from netlab._terminal import standardIO
from netlab.echo._client import (
    DEFAULT_TIMEOUT,
    DEFAULT_UDP_INTERVAL,
    DEFAULT_UDP_TRIES,
    connectEcho,
    echoStream,
    echoUDP,
)
from netlab.echo._server import DEFAULT_PORT
from netlab.errors import NetlabError
from netlab.service import NetlabClient

__all__ = ["EchoClientOptions", "client", "runEcho"]

_TOO_LONG_ADVICE = "use --pipe for data that is not made of lines"
"""
What a line too long for line by line mode is told to do instead.
"""


class EchoClientOptions(MessageOptions):
    """
    C{netlab echo}: talk to an echo server.
    """

    synopsis = "[options] [MESSAGE...]"
    longdesc = (
        "With a MESSAGE, send it and print the echo. Without one, on a "
        "terminal (or with --lines), send each line typed and print its echo "
        "(an empty line or end of input quits; on a terminal, with line "
        "editing and Up/Down through what was sent, unless --plain); "
        "otherwise (or with --pipe) "
        "copy standard input through the server to standard output, byte for "
        "byte, and exit once the echo of the last byte has arrived."
    )
    optFlags: list[list[Any]] = [
        ["udp", "u", "Use UDP: one datagram per message or line."],
        ["lines", "l", "Line by line, even when standard input is not a terminal."],
        ["pipe", None, "Copy standard input through the server, byte for byte."],
        *TLS_FLAGS,
        PLAIN_FLAG,
    ]
    optParameters = [
        *connectionParameters(DEFAULT_PORT, DEFAULT_TIMEOUT, udp=True),
        *udpParameters(DEFAULT_UDP_TRIES, DEFAULT_UDP_INTERVAL),
    ]

    def postOptions(self) -> None:
        super().postOptions()
        if self["lines"] and self["pipe"]:
            raise usage.UsageError("choose one of --lines and --pipe")
        if self["pipe"] and (self["udp"] or self["message"]):
            raise usage.UsageError("--pipe is for TCP, reading standard input")


def _line(data: bytes) -> bytes:
    """
    @return: an echo, on a line of its own.
    """
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


async def _pipe(reactor: Any, endpoint: IStreamClientEndpoint, timeout: float) -> None:
    """
    Copy standard input through the server to standard output.
    """
    stdin = _StandardInput(reactor)
    try:
        stdin.stream = echoStream(endpoint, stdin, stdin.stdio, timeout, reactor)
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


async def runEcho(reactor: Any, options: EchoClientOptions) -> int:
    """
    Run C{netlab echo}: have the message words, each line of standard
    input, or all of it, echoed, and print the echoes.

    @param reactor: the running reactor, which also drives standard input.
    @return: the exit status, 0.
    @raise netlab.errors.NetlabError: if talking to the server failed, or
        the echo differs from what was sent.
    """
    stdio = standardIO(reactor, options["plain"])
    if options["udp"]:
        await converse(
            reactor,
            options,
            udpAsker(reactor, options, echoUDP),
            _line,
            _TOO_LONG_ADVICE,
            stdio,
        )
        return 0
    endpoint = clientEndpoint(reactor, options)
    pipe = options["pipe"] or not (
        options["lines"] or options["message"] or sys.stdin.isatty()
    )
    if pipe:
        await _pipe(reactor, endpoint, options["timeout"])
        return 0
    client = await connectEcho(endpoint, options["timeout"], reactor)
    try:
        await converse(reactor, options, client.request, _line, _TOO_LONG_ADVICE, stdio)
    finally:
        await client.close()
    return 0


def _run(reactor: Any, options: usage.Options) -> Deferred[int]:
    return Deferred.fromCoroutine(runEcho(reactor, cast(EchoClientOptions, options)))


client = NetlabClient("Have data echoed by an echo server.", EchoClientOptions, _run)
"""
C{netlab echo}, as the entry point C{netlab.clients} names it.
"""
