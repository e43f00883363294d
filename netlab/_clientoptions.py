"""
What the client commands of C{netlab} share: the option rows that say where
the server is and how long to wait for it, the option bases that check
them, and a UDP request bound to them.

Each service's client command (its C{_cli.py}) builds its options from
these with its own defaults; nothing here names a service.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python import usage

from netlab._options import (
    TLS_PARAMETERS,
    checkTLSOptions,
    positiveFloat,
    positiveInt,
)

__all__ = [
    "PLAIN_FLAG",
    "ConnectionOptions",
    "MessageOptions",
    "connectionParameters",
    "udpAsker",
    "udpParameters",
]


PLAIN_FLAG: list[Any] = [
    "plain",
    None,
    "Plain lines even on a terminal, as for a pipe: no input line of its "
    "own, no line editing, history or completion.",
]
"""
C{--plain}, for the commands that give a person at a terminal an input line
of its own (see L{netlab._terminal.standardIO}).
"""


def connectionParameters(
    port: int, timeout: float, udp: bool = False
) -> list[list[Any]]:
    """
    The option rows that say where the server is: C{--host}/C{-H},
    C{--port}/C{-p}, C{--connect}/C{-c}, C{--ca-file}, and how long to wait
    for it: C{--timeout}/C{-t}.  With them, use C{TLS_FLAGS} for C{--tls}.

    @param port: the default C{--port}, the service's.
    @param timeout: the default C{--timeout}, in seconds.
    @param udp: whether the command has a C{--udp} mode too (see
        L{udpParameters}): the help then says which options are for TCP.
    """
    tcpOnly = " (TCP only)" if udp else ""
    return [
        ["host", "H", "localhost", "The server's host name or address."],
        ["port", "p", port, "The server's port.", int],
        [
            "connect",
            "c",
            None,
            "A Twisted client endpoint string to connect with instead of "
            f"--host/--port{tcpOnly}, e.g. tcp:host=\\:\\:1:port={port} or "
            f"tls:host=example.net:port={port}.",
        ],
        *TLS_PARAMETERS,
        [
            "timeout",
            "t",
            timeout,
            ("TCP: seconds" if udp else "Seconds")
            + " to wait for the connection and for each reply.",
            positiveFloat,
        ],
    ]


def udpParameters(tries: int, interval: float) -> list[list[Any]]:
    """
    The option rows of a command's C{--udp} mode: C{--tries} and
    C{--interval}, how it retransmits.

    @param tries: the default C{--tries}.
    @param interval: the default C{--interval}, in seconds.
    """
    return [
        [
            "tries",
            None,
            tries,
            "UDP: how many times to send each request.",
            positiveInt,
        ],
        [
            "interval",
            None,
            interval,
            "UDP: seconds to wait for a reply before sending again.",
            positiveFloat,
        ],
    ]


class ConnectionOptions(usage.Options):
    """
    The base of a client command's options made with
    L{connectionParameters}: it checks C{--connect} against C{--udp} (if the
    command has it) and C{--tls}/C{--ca-file}, and leaves in C{tls} whether
    to connect with TLS.
    """

    def postOptions(self) -> None:
        super().postOptions()
        if self.get("udp") and self["connect"]:
            raise usage.UsageError("--connect is for TCP; use --host and --port")
        self["tls"] = checkTLSOptions(self)


class MessageOptions(ConnectionOptions):
    """
    The options of a client command that takes a message: the words after
    the options, as bytes, in C{message} (empty for none).
    """

    def parseArgs(self, *message: str) -> None:
        self["message"] = [os.fsencode(word) for word in message]


def udpAsker(
    reactor: Any, options: usage.Options, request: Callable[..., Deferred[Any]]
) -> Callable[[bytes], Deferred[Any]]:
    """
    Bind a UDP request function to the server and the retransmission that
    C{options} (made with L{connectionParameters} and L{udpParameters})
    give.

    @param request: called with the host, the port, the data, and the
        C{reactor}, C{tries} and C{interval} keywords, as a service's UDP
        client function is.
    @return: sends its data, and returns a Deferred of the answer.
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
