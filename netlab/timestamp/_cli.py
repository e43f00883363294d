"""
C{netlab ts}: the timestamp service's client command.

C{netlab ts hello} stamps one message and exits; C{netlab ts} alone is the
classic interactive loop of C{tsTclnt}: a C{> } prompt, one reply per line
typed, an empty line or end of input to quit.  On a terminal the prompt is
an input line of its own, with line editing and history (see
L{netlab._terminal}); C{--plain} and pipes get plain lines.  Registered in
the entry point group C{netlab.clients} as L{client}.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.python import usage

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
from netlab.service import NetlabClient
from netlab.timestamp._client import (
    DEFAULT_TIMEOUT,
    DEFAULT_UDP_INTERVAL,
    DEFAULT_UDP_TRIES,
    connectTimestamp,
    getTimestampUDP,
)
from netlab.timestamp._format import TimestampReply, formatStamp
from netlab.timestamp._server import DEFAULT_PORT, Framing

__all__ = ["TimestampClientOptions", "client", "runTimestamp"]


class TimestampClientOptions(MessageOptions):
    """
    C{netlab ts}: talk to a timestamp server.
    """

    synopsis = "[options] [MESSAGE...]"
    longdesc = (
        "With a MESSAGE, have it stamped and print the reply; without one, "
        "read lines from standard input, printing one reply per line (an "
        "empty line or end of input quits; on a terminal, with line editing "
        "and Up/Down through what was sent, unless --plain). Replies are "
        "printed as the server sends them: [time] data."
    )
    optFlags: list[list[Any]] = [
        ["udp", "u", "Use the UDP timestamp service (tsuserv)."],
        *TLS_FLAGS,
        PLAIN_FLAG,
    ]
    optParameters = [
        *connectionParameters(DEFAULT_PORT, DEFAULT_TIMEOUT, udp=True),
        *udpParameters(DEFAULT_UDP_TRIES, DEFAULT_UDP_INTERVAL),
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


def _show(reply: TimestampReply) -> bytes:
    """
    @return: a reply as the server sent it, on a line of its own.
    """
    return formatStamp(reply.when, reply.data, reply.format) + b"\n"


async def runTimestamp(reactor: Any, options: TimestampClientOptions) -> int:
    """
    Run C{netlab ts}: stamp the message words, or each line of standard
    input, and print the replies.

    @param reactor: the running reactor, which also drives standard input.
    @return: the exit status, 0.
    @raise netlab.errors.NetlabError: if talking to the server failed.
    """
    stdio = standardIO(reactor, options["plain"])
    if options["udp"]:
        await converse(
            reactor,
            options,
            udpAsker(reactor, options, getTimestampUDP),
            _show,
            stdio=stdio,
        )
        return 0
    client = await connectTimestamp(
        clientEndpoint(reactor, options),
        options["framing"],
        options["timeout"],
        reactor,
    )
    try:
        await converse(reactor, options, client.request, _show, stdio=stdio)
    finally:
        await client.close()
    return 0


def _run(reactor: Any, options: usage.Options) -> Deferred[int]:
    return Deferred.fromCoroutine(
        runTimestamp(reactor, cast(TimestampClientOptions, options))
    )


client = NetlabClient(
    "Have data stamped by a timestamp server.", TimestampClientOptions, _run
)
"""
C{netlab ts}, as the entry point C{netlab.clients} names it.
"""
