"""
The classic examples in C{examples/} run as their docstrings say: each server
example as a real process on 127.0.0.1, and the matching client example
against it, checking what the client prints.  Each client also runs against
the same service started by C{twistd -n netlab ...}, the second way each
server example shows.

pytest-twisted tests: run them with pytest, not trial.  Processes are
started as L{tests.integration.test_twistd} starts them (in a temporary
directory, so the installed netlab is what runs, with the Python running the
tests); every wait is bounded, and every process is ended in C{finally}.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.task import deferLater

from netlab.echo import echoUDP
from tests.integration.test_twistd import (
    POLL_INTERVAL,
    RUNNERS,
    STOP_TIMEOUT,
    _echoServer,
    _freePort,
    _Process,
    _reactor,
    _spawn,
    acceptingTCP,
    answeringEcho,
    answeringUDP,
    both,
    run,
    serving,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PYTHON = Path(sys.executable).name
"""
The virtualenv's Python, as L{_spawn} names its executables.
"""

STEP_TIMEOUT = 20.0
"""
Seconds any one step may take: a server's start, a client's run.
"""

HOWS = ["example", "twistd"]
"""
The two ways each service is run: the server example, or the plugin.
"""


SERVER_EXAMPLES = {
    "tsserv": ("tsTserv.py", r"tsTserv: waiting for connections on (\d+)\.\.\."),
    "tsuserv": ("tsUserv.py", r"tsUserv: waiting for datagrams on (\d+)\.\.\."),
    "echo": ("echo_server.py", r"echo_server: waiting on TCP (\d+) and UDP (\d+)"),
    "chat": ("chat_server.py", r"chat_server: waiting for connections on (\d+)"),
}
"""
Each service's server example, and the line it prints once it listens (a
pattern whose groups are its ports).
"""


def example(name: str, *args: str) -> list[str]:
    """
    @return: the command that runs C{examples/<name>} with C{args}.
    """
    return [PYTHON, str(EXAMPLES / name), *args]


async def untilOutput(process: _Process, pattern: str) -> re.Match[str]:
    """
    Wait until the process's standard output matches C{pattern}.

    @return: the match.
    @raise AssertionError: if the process ends first, or does not print it
        in L{STEP_TIMEOUT} seconds.
    """
    deadline = time.monotonic() + STEP_TIMEOUT
    while (match := re.search(pattern, process.out)) is None:
        assert not process.ended, f"it ended:\n{process.describe()}"
        assert time.monotonic() < deadline, (
            f"no {pattern!r} in {STEP_TIMEOUT}s:\n{process.describe()}"
        )
        await deferLater(_reactor(), POLL_INTERVAL, lambda: None)
    return match


async def interrupt(process: _Process, signalName: str) -> None:
    """
    Send a server example C{signalName} and wait for it to end, killing it
    if it is slow to; it exits with status 0 and no traceback.
    """
    process.kill(signalName)
    try:
        await process.whenEnded(STEP_TIMEOUT)
    finally:
        if not process.ended:
            process.kill("KILL")
            await process.whenEnded(STOP_TIMEOUT)
    assert process.exitCode == 0, process.describe()
    assert "Traceback" not in process.out + process.err, process.describe()


@contextlib.asynccontextmanager
async def exampleServing(
    tmp_path: Path, name: str, waiting: str, signalName: str = "INT"
) -> AsyncIterator[tuple[_Process, re.Match[str]]]:
    """
    Run the server example C{name} on 127.0.0.1, on ports the system picks,
    until its C{waiting} line (a pattern whose groups are the ports) is
    printed; interrupt it on the way out, as Ctrl-C does.

    @return: (as the context's value) the process, and the match of its
        waiting line.
    """
    process = _spawn(example(name, "0", "127.0.0.1"), tmp_path)
    try:
        match = await untilOutput(process, waiting)
        yield process, match
        await interrupt(process, signalName)
    finally:
        await process.stop()


@contextlib.asynccontextmanager
async def service(tmp_path: Path, kind: str, how: str) -> AsyncIterator[list[int]]:
    """
    Run a netlab service on 127.0.0.1 the way C{how} says: from its server
    example, or from C{twistd -n netlab}.

    @param kind: C{"tsserv"}, C{"tsuserv"}, C{"echo"} or C{"chat"}.
    @return: (as the context's value) its ports: TCP, or UDP, or for echo
        TCP then UDP.
    """
    if how == "example":
        name, waiting = SERVER_EXAMPLES[kind]
        async with exampleServing(tmp_path, name, waiting) as (_, match):
            yield [int(port) for port in match.groups()]
        return
    twistd = [*RUNNERS["twistd"], "netlab", kind]
    if kind == "tsuserv":
        port = _freePort(socket.SOCK_DGRAM)
        command = [*twistd, "--udp-port", str(port), "--udp-interface", "127.0.0.1"]
        ports, ready = [port], answeringUDP(port)
    elif kind == "echo":
        ports = [_freePort(), _freePort(socket.SOCK_DGRAM)]
        command = _echoServer(*ports)
        ready = both(acceptingTCP(ports[0]), answeringEcho(ports[1]))
    else:
        port = _freePort()
        command = [*twistd, "--listen", f"tcp:{port}:interface=127.0.0.1"]
        ports, ready = [port], acceptingTCP(port)
    async with serving(command, tmp_path, ready):
        yield ports


async def client(
    tmp_path: Path, name: str, *args: str | int, stdin: bytes = b""
) -> _Process:
    """
    Run the client example C{name} with C{args} and C{stdin} (then closed),
    bounded in time; it must exit with status 0 and print nothing on
    standard error.

    @return: the ended process.
    """
    process = await run(
        example(name, *map(str, args)), tmp_path, stdin, timeout=STEP_TIMEOUT
    )
    assert process.exitCode == 0, process.describe()
    assert process.err == "", process.describe()
    return process


def promptedLines(process: _Process) -> list[str]:
    """
    @return: the lines a classic C{"> "} loop printed, without their
        prompts, once checked that it ended on a last, empty prompt.
    """
    *lines, last = process.out.split("\n")
    assert last == "> ", process.describe()
    assert all(line.startswith("> ") for line in lines), process.describe()
    return [line[2:] for line in lines]


@pytest.mark.parametrize("how", HOWS)
@pytest_twisted.ensureDeferred
async def test_tsTclnt(how: str, tmp_path: Path, checkClassicReply: Any) -> None:
    """
    C{examples/tsTclnt.py} sends each line of its input to the timestamp
    server (C{examples/tsTserv.py}, or C{twistd -n netlab tsserv}) and prints
    each stamped reply after a C{"> "} prompt, until the end of its input.
    """
    async with service(tmp_path, "tsserv", how) as [port]:
        process = await client(
            tmp_path, "tsTclnt.py", "127.0.0.1", port, stdin=b"hello\nagain\n"
        )
    first, second = promptedLines(process)
    checkClassicReply(first.encode(), b"hello")
    checkClassicReply(second.encode(), b"again")


@pytest_twisted.ensureDeferred
async def test_tsTservClassicClient(
    tmp_path: Path, tsTclnt: Any, checkClassicReply: Any
) -> None:
    """
    C{examples/tsTserv.py} answers the classic blocking client, each chunk
    stamped, and closes when it shuts down its side.
    """
    async with service(tmp_path, "tsserv", "example") as [port]:
        first, second, end = await tsTclnt(("127.0.0.1", port), [b"hi", b"there"])
    checkClassicReply(first, b"hi")
    checkClassicReply(second, b"there")
    assert end == b""


@pytest.mark.parametrize("how", HOWS)
@pytest_twisted.ensureDeferred
async def test_tsUclnt(how: str, tmp_path: Path, checkClassicReply: Any) -> None:
    """
    C{examples/tsUclnt.py} has its message stamped by the UDP timestamp
    server (C{examples/tsUserv.py}, or C{twistd -n netlab tsuserv}) and
    prints the reply.
    """
    async with service(tmp_path, "tsuserv", how) as [port]:
        process = await client(tmp_path, "tsUclnt.py", "127.0.0.1", port, "hi there")
    [line] = process.out.splitlines()
    checkClassicReply(line.encode(), b"hi there")


@pytest.mark.parametrize("how", HOWS)
@pytest_twisted.ensureDeferred
async def test_echoClient(how: str, tmp_path: Path) -> None:
    """
    C{examples/echo_client.py} prints the echo of its message, given as
    arguments, or of each line of its input after a C{"> "} prompt, from
    the echo server (C{examples/echo_server.py}, or C{twistd -n netlab
    echo}), which echoes datagrams too.
    """
    async with service(tmp_path, "echo", how) as [tcpPort, udpPort]:
        oneShot = await client(
            tmp_path, "echo_client.py", "127.0.0.1", tcpPort, "hello", "world"
        )
        lines = await client(
            tmp_path, "echo_client.py", "127.0.0.1", tcpPort, stdin=b"one\ntwo\n"
        )
        datagram = await echoUDP(
            "127.0.0.1", udpPort, b"a datagram", reactor=_reactor(), tries=3
        )
    assert oneShot.out == "hello world\n", oneShot.describe()
    assert promptedLines(lines) == ["one", "two"]
    assert datagram == b"a datagram"


@pytest.mark.parametrize("how", HOWS)
@pytest_twisted.ensureDeferred
async def test_chatClients(how: str, tmp_path: Path) -> None:
    """
    Two C{examples/chat_client.py} on the chat server
    (C{examples/chat_server.py}, or C{twistd -n netlab chat}): what one says
    the other prints as it happens; one leaves with C{/quit}, the other at
    the end of its input, and both exit with status 0.
    """
    async with service(tmp_path, "chat", how) as [port]:
        alice = _spawn(
            example("chat_client.py", "alice", "127.0.0.1", str(port)),
            tmp_path,
            holdStdin=True,
        )
        try:
            await untilOutput(alice, r"\*\*\* alice joined #lobby\n")
            bob = await client(
                tmp_path,
                "chat_client.py",
                "bob",
                "127.0.0.1",
                port,
                stdin=b"hello from bob\n/who\n/quit see you\n",
            )
            await untilOutput(alice, r"\*\*\* bob quit see you\n")
            alice.transport.closeStdin()  # end of input: alice leaves
            await alice.whenEnded(STEP_TIMEOUT)
        finally:
            await alice.stop()
    assert alice.exitCode == 0, alice.describe()
    assert alice.err == "", alice.describe()
    assert alice.out.splitlines() == [
        "*** alice joined #lobby",
        "*** bob joined #lobby",
        "[#lobby] <bob> hello from bob",
        "*** bob quit see you",
    ], alice.describe()
    assert bob.out.splitlines() == [
        "*** bob joined #lobby",
        "ok who #lobby alice bob",
    ], bob.describe()


@pytest_twisted.ensureDeferred
async def test_chatServerGoodbye(tmp_path: Path) -> None:
    """
    C{examples/chat_server.py}, sent SIGTERM, tells its users goodbye and
    exits with status 0; C{examples/chat_client.py} prints the goodbye and
    exits with status 0 too.
    """
    name, waiting = SERVER_EXAMPLES["chat"]
    async with exampleServing(tmp_path, name, waiting, "TERM") as (
        server,
        match,
    ):
        carol = _spawn(
            example("chat_client.py", "carol", "127.0.0.1", match[1]),
            tmp_path,
            holdStdin=True,
        )
        try:
            await untilOutput(carol, r"\*\*\* carol joined #lobby\n")
            await interrupt(server, "TERM")
            await carol.whenEnded(STEP_TIMEOUT)
        finally:
            await carol.stop()
    assert carol.exitCode == 0, carol.describe()
    assert carol.out.splitlines() == [
        "*** carol joined #lobby",
        "*** the server is shutting down; goodbye",
    ], carol.describe()
