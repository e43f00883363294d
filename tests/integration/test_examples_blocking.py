"""
The blocking classics in C{examples/} (C{blocking_tsTserv.py},
C{blocking_tsTclnt.py}, C{blocking_tsUserv.py}, C{blocking_tsUclnt.py} and
C{blocking_echo_flood.py}), written in plain C{socket} for the tutorial, run
as their docstrings say: against each other, against netlab's examples and
C{twistd -n netlab}, and in the demonstrations the tutorial makes of what is
wrong with them (one client at a time, no framing on TCP) and of what
netlab's echo server does with a client that does not read.

pytest-twisted tests: run them with pytest, not trial.  Processes are
started by the helpers of L{tests.integration.test_examples_classic}, on
127.0.0.1 and ports the system picks; blocking sockets of the tests run in
threads with timeouts; every wait is bounded, and every process is ended in
C{finally}.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from tests.integration.conftest import CLIENT_TIMEOUT
from tests.integration.test_examples_classic import (
    STEP_TIMEOUT,
    client,
    example,
    exampleServing,
    promptedLines,
    service,
)
from tests.integration.test_twistd import _freePort, _reactor, run

BLOCKING_SERVERS = {
    "tsserv": (
        "blocking_tsTserv.py",
        r"blocking_tsTserv: waiting for connections on (\d+)\.\.\.",
    ),
    "tsuserv": (
        "blocking_tsUserv.py",
        r"blocking_tsUserv: waiting for datagrams on (\d+)\.\.\.",
    ),
}
"""
Each blocking server example, and the line it prints once it listens.
"""

WAIT = 1.0
"""
Seconds the demonstration waits for a reply that a one-client-at-a-time
server does not send.
"""


@contextlib.asynccontextmanager
async def timestampServer(tmp_path: Path, kind: str, how: str) -> AsyncIterator[int]:
    """
    Run a timestamp server on 127.0.0.1: the blocking example
    (C{how="blocking"}), netlab's example (C{"example"}) or C{twistd -n
    netlab} (C{"twistd"}).

    @param kind: C{"tsserv"} (TCP) or C{"tsuserv"} (UDP).
    @return: (as the context's value) its port.
    """
    if how == "blocking":
        name, waiting = BLOCKING_SERVERS[kind]
        async with exampleServing(tmp_path, name, waiting) as (_, match):
            yield int(match[1])
        return
    if how == "handwritten":
        assert kind == "tsserv", kind
        async with exampleServing(
            tmp_path,
            "twisted_tsTserv.py",
            r"tsTserv: waiting for connections on (\d+)\.\.\.",
        ) as (_, match):
            yield int(match[1])
        return
    async with service(tmp_path, kind, how) as [port]:
        yield port


@pytest.mark.parametrize("how", ["blocking", "handwritten", "example", "twistd"])
@pytest_twisted.ensureDeferred
async def test_blockingTsTclnt(
    how: str, tmp_path: Path, checkClassicReply: Any
) -> None:
    """
    C{examples/blocking_tsTclnt.py} sends each line of its input and prints
    each stamped reply after a C{"> "} prompt, against the blocking server
    (C{examples/blocking_tsTserv.py}), the one written by hand on Twisted
    (C{examples/twisted_tsTserv.py}), netlab's (C{examples/tsTserv.py}) and
    C{twistd -n netlab tsserv} alike, and exits with status 0 at the end of
    its input.
    """
    async with timestampServer(tmp_path, "tsserv", how) as port:
        process = await client(
            tmp_path, "blocking_tsTclnt.py", "127.0.0.1", port, stdin=b"hello\nagain\n"
        )
    first, second = promptedLines(process)
    checkClassicReply(first.encode(), b"hello")
    checkClassicReply(second.encode(), b"again")


@pytest_twisted.ensureDeferred
async def test_blockingTsTservNetlabClients(
    tmp_path: Path, checkClassicReply: Any
) -> None:
    """
    The blocking server (C{examples/blocking_tsTserv.py}) answers netlab's
    clients: C{examples/tsTclnt.py} and C{netlab ts MESSAGE}.
    """
    async with timestampServer(tmp_path, "tsserv", "blocking") as port:
        prompt = await client(
            tmp_path, "tsTclnt.py", "127.0.0.1", port, stdin=b"hello\n"
        )
        oneShot = await run(
            ["netlab", "ts", "--host", "127.0.0.1", "--port", str(port), "hi"],
            tmp_path,
            timeout=STEP_TIMEOUT,
        )
    [line] = promptedLines(prompt)
    checkClassicReply(line.encode(), b"hello")
    assert oneShot.exitCode == 0, oneShot.describe()
    [line] = oneShot.out.splitlines()
    checkClassicReply(line.encode(), b"hi")


def _secondClient(port: int) -> tuple[bytes, bytes | None, bytes]:
    """
    Connect a first client and have one message stamped; then connect a
    second one, send a message, and wait L{WAIT} seconds for its reply;
    then close the first client and wait for the second's reply.

    @return: the first client's reply, the second's within L{WAIT} seconds
        (L{None} if it had none by then), and the second's in the end.
    """
    address = ("127.0.0.1", port)
    first = socket.create_connection(address, timeout=CLIENT_TIMEOUT)
    try:
        first.sendall(b"first")
        firstReply = first.recv(1024)
        with socket.create_connection(address, timeout=CLIENT_TIMEOUT) as second:
            second.sendall(b"second")  # the kernel accepted it: no error here
            second.settimeout(WAIT)
            try:
                early: bytes | None = second.recv(1024)
            except TimeoutError:
                early = None
            first.close()  # the first client leaves...
            second.settimeout(CLIENT_TIMEOUT)
            late = early if early is not None else second.recv(1024)
            return firstReply, early, late
    finally:
        first.close()


@pytest.mark.parametrize("how", ["blocking", "handwritten", "example"])
@pytest_twisted.ensureDeferred
async def test_oneClientAtATime(
    how: str, tmp_path: Path, checkClassicReply: Any
) -> None:
    """
    While a first client is connected to the blocking server
    (C{examples/blocking_tsTserv.py}), a second one connects but gets no
    reply, and gets it only once the first has left; netlab's server
    (C{examples/tsTserv.py}) answers the second at once.
    """
    async with timestampServer(tmp_path, "tsserv", how) as port:
        d = deferToThread(_secondClient, port)
        firstReply, early, late = await d.addTimeout(
            WAIT + 3 * CLIENT_TIMEOUT, _reactor()
        )
    checkClassicReply(firstReply, b"first")
    checkClassicReply(late, b"second")
    if how == "blocking":
        assert early is None, "the second client was answered at once"
    else:
        assert early == late, "the second client waited"


def _longMessage(port: int, size: int) -> bytes:
    """
    Send one message of C{size} bytes, close the sending side, and read
    until the server closes.

    @return: all that came back.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as c:
        c.sendall(b"x" * size)
        c.shutdown(socket.SHUT_WR)
        pieces = []
        while data := c.recv(65536):
            pieces.append(data)
        return b"".join(pieces)


@pytest_twisted.ensureDeferred
async def test_noFraming(tmp_path: Path) -> None:
    """
    The blocking server (C{examples/blocking_tsTserv.py}) stamps what each
    C{recv(1024)} returns: a message of 3000 bytes comes back cut into
    pieces of at most 1024 bytes, each with its own stamp, and every byte
    is there.
    """
    async with timestampServer(tmp_path, "tsserv", "blocking") as port:
        d = deferToThread(_longMessage, port, 3000)
        reply = await d.addTimeout(3 * CLIENT_TIMEOUT, _reactor())
    stamp = rb"\[[^]]+\] "
    pieces = re.split(stamp, reply)
    assert pieces[0] == b"", reply[:80]
    assert len(pieces) - 1 >= 3, reply[:80]
    assert all(0 < len(piece) <= 1024 for piece in pieces[1:])
    assert b"".join(pieces[1:]) == b"x" * 3000


@pytest.mark.parametrize(
    "serverHow, clientName",
    [
        ("blocking", "blocking_tsUclnt.py"),
        ("example", "blocking_tsUclnt.py"),
        ("twistd", "blocking_tsUclnt.py"),
        ("blocking", "tsUclnt.py"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_blockingUDP(
    serverHow: str, clientName: str, tmp_path: Path, checkClassicReply: Any
) -> None:
    """
    The blocking UDP pair work together and with netlab's:
    C{examples/blocking_tsUclnt.py} prints the stamped reply to each line
    of its input from the blocking server (C{examples/blocking_tsUserv.py}),
    netlab's (C{examples/tsUserv.py}) or C{twistd -n netlab tsuserv}; and
    netlab's C{examples/tsUclnt.py} is answered by the blocking server.
    """
    async with timestampServer(tmp_path, "tsuserv", serverHow) as port:
        if clientName == "tsUclnt.py":
            process = await client(tmp_path, clientName, "127.0.0.1", port, "hi")
            lines = process.out.splitlines()
        else:
            process = await client(
                tmp_path, clientName, "127.0.0.1", port, stdin=b"hi\nthere\n"
            )
            lines = promptedLines(process)
    expected = [b"hi"] if clientName == "tsUclnt.py" else [b"hi", b"there"]
    assert len(lines) == len(expected), process.describe()
    for line, data in zip(lines, expected, strict=True):
        checkClassicReply(line.encode(), data)


@pytest.mark.parametrize("name", ["blocking_tsTclnt.py", "blocking_echo_flood.py"])
@pytest_twisted.ensureDeferred
async def test_blockingClientRefused(name: str, tmp_path: Path) -> None:
    """
    A blocking TCP client with nothing listening exits with status 1 and
    one line, C{NAME: cannot connect: ...}.
    """
    process = await run(
        example(name, "127.0.0.1", str(_freePort())), tmp_path, timeout=STEP_TIMEOUT
    )
    assert process.exitCode == 1, process.describe()
    [line] = process.err.splitlines()
    assert line.startswith(f"{name[:-3]}: cannot connect: "), process.describe()


@pytest.mark.parametrize("how", ["example", "twistd"])
@pytest_twisted.ensureDeferred
async def test_echoFlood(how: str, tmp_path: Path) -> None:
    """
    C{examples/blocking_echo_flood.py}, a client that sends 64 MiB without
    reading, finds that the echo server (C{examples/echo_server.py}, or
    C{twistd -n netlab echo}) stops reading from it long before, and then
    gets back every byte it did send, in order.
    """
    async with service(tmp_path, "echo", how) as [tcpPort, _]:
        process = await client(
            tmp_path, "blocking_echo_flood.py", "127.0.0.1", tcpPort, "64"
        )
    stopped, complete = process.out.splitlines()
    match = re.fullmatch(
        r"blocking_echo_flood: the server stopped reading after (\d+) bytes", stopped
    )
    assert match is not None, process.describe()
    sent = int(match[1])
    assert 0 < sent < 32 * 2**20, process.describe()
    assert complete == f"blocking_echo_flood: all {sent} bytes came back, in order"
