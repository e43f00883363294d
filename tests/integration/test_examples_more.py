"""
The examples beyond the classics (C{examples/embed_status.py},
C{async_clients.py}, C{chat_bot.py}, C{test_with_netlab.py},
C{dual_stack.py}, C{http_get.py}) run as people run them: each as a real
process, with the Python running the tests, against real services on
loopback, so that an example that stops working fails the build.

pytest-twisted tests: run them with pytest, not trial.  Processes are
started as L{tests.integration.test_twistd} starts them (in a temporary
directory, so the installed netlab is what they import); the services they
talk to run in this process, on 127.0.0.1 (and ::1) port 0; every wait is
bounded, and every process and port is ended in C{finally}.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import sys
import time
import warnings
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.web.client import Agent, readBody
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from netlab.chat import ChatFactory, ChatHub
from netlab.echo import EchoFactory
from netlab.policies import ConnectionGuard, ConnectionLimits
from netlab.timestamp import TimestampFactory
from tests.integration.test_chat_loopback import ChatClient, user
from tests.integration.test_twistd import (
    POLL_INTERVAL,
    STOP_TIMEOUT,
    _freePort,
    _Process,
    _spawn,
    run,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PYTHON = Path(sys.executable).name
"""
The Python running the tests, as L{_spawn} names executables.
"""

STEP = 20.0
"""
Seconds any one step may take: an example to start, answer, or end.
"""


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _hasIPv6Loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def example(name: str, *args: str) -> list[str]:
    """
    @return: the command that runs C{examples/name} with C{args}.
    """
    return [PYTHON, str(EXAMPLES / name), *args]


async def runExample(name: str, cwd: Path, *args: str) -> _Process:
    """
    Run an example that ends by itself, for at most L{STEP} seconds.
    """
    return await run(example(name, *args), cwd, timeout=STEP)


@contextlib.asynccontextmanager
async def started(name: str, cwd: Path, *args: str) -> AsyncIterator[_Process]:
    """
    Start an example that runs until stopped; stop it (SIGTERM, then
    SIGKILL) on the way out.
    """
    process = _spawn(example(name, *args), cwd)
    try:
        yield process
    finally:
        await process.stop()


async def untilOutput(
    process: _Process, pattern: str, timeout: float = STEP
) -> re.Match[str]:
    """
    Wait until the process's standard output has a line matching
    C{pattern}.

    @return: the match.
    @raise AssertionError: if the process ends first, or after C{timeout}
        seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        match = re.search(pattern, process.out, re.MULTILINE)
        if match is not None:
            return match
        assert not process.ended, f"it ended:\n{process.describe()}"
        assert time.monotonic() < deadline, (
            f"no {pattern!r} in {timeout}s:\n{process.describe()}"
        )
        await deferLater(_reactor(), POLL_INTERVAL, lambda: None)


@contextlib.asynccontextmanager
async def listening(factory: IProtocolFactory) -> AsyncIterator[int]:
    """
    Serve C{factory} on 127.0.0.1 while the context lasts.

    @return: (as the context's value) the port.
    """
    reactor = _reactor()
    endpoint = serverFromString(reactor, "tcp:0:interface=127.0.0.1")
    port = await endpoint.listen(factory).addTimeout(STEP, reactor)
    try:
        yield port.getHost().port
    finally:
        await port.stopListening()


@contextlib.asynccontextmanager
async def chatServer() -> AsyncIterator[tuple[ChatHub, int]]:
    """
    Run a chat server, behind a guard as the plugin runs it, while the
    context lasts, and drain its users at the end.

    @return: (as the context's value) its hub and port.
    """
    hub = ChatHub()
    reactor = _reactor()
    guard = ConnectionGuard(
        ChatFactory(hub, reactor), reactor, ConnectionLimits(idleTimeout=0), "chat"
    )
    try:
        async with listening(guard) as port:
            yield hub, port
    finally:
        await guard.drain(grace=1.0, reason="the test is over")


async def fetch(url: str) -> tuple[int, bytes]:
    """
    GET C{url} with Twisted's Agent.

    @return: the status code and the body.
    """
    reactor = _reactor()
    response = await Agent(reactor, connectTimeout=STEP).request(
        b"GET", url.encode("ascii")
    )
    with warnings.catch_warnings():
        # Twisted 26.10's readBody warns that the transport cannot be
        # aborted, for every response.
        warnings.simplefilter("ignore", DeprecationWarning)
        reading = readBody(response)
    body = await reading.addTimeout(STEP, reactor)
    return response.code, body


def assertEndedCleanly(process: _Process) -> None:
    """
    Assert that a process stopped by SIGTERM ended without a traceback,
    with status 0 or by the signal (which Twisted raises again once it has
    shut down cleanly).
    """
    description = process.describe()
    assert process.exitCode == 0 or process.endSignal == signal.SIGTERM, description
    assert "Traceback" not in process.out + process.err, description


# embed_status.py


@pytest_twisted.ensureDeferred
async def test_embedStatusShowsLiveCounters(tmp_path: Path) -> None:
    """
    embed_status serves the chat and a status page that shows, at each
    request, the rooms with how many people are in each and the number of
    participants; on SIGTERM it tells the chat users goodbye and ends
    cleanly.
    """
    async with started("embed_status.py", tmp_path, "0", "0") as process:
        chatPort = int(
            (
                await untilOutput(
                    process, r"^chat: listening on 127\.0\.0\.1 port (\d+)$"
                )
            )[1]
        )
        url = (
            await untilOutput(process, r"^status page: (http://127\.0\.0\.1:\d+/)$")
        )[1]

        code, page = await fetch(url)
        assert code == 200, page
        assert b"participants: 0\n" in page, page
        assert b"\n  #lobby 0\n" in page, page

        alice = await user(chatPort, "alice")
        bob: ChatClient | None = None
        try:
            alice.send(b"/join #dev")
            await alice.untilLine(b"OK join #dev", STEP)
            bob = await user(chatPort, "bob")

            code, page = await fetch(url)
            assert code == 200, page
            lines = page.decode().splitlines()
            assert lines[0] == "netlab chat status", page
            assert "participants: 2" in lines, page
            assert "rooms: 2" in lines, page
            assert lines[-2:] == ["  #dev 1", "  #lobby 1"], page

            process.kill("TERM")
            await alice.untilLine(b"NOTE the server is shutting down; goodbye", STEP)
            await alice.waitClosed(STEP)
            await process.whenEnded(STOP_TIMEOUT)
        finally:
            for client in (alice, bob):
                if client is not None and not client.isClosed:
                    client.transport.abortConnection()
    assertEndedCleanly(process)


@pytest_twisted.ensureDeferred
async def test_embedStatusPortInUse(tmp_path: Path) -> None:
    """
    embed_status given a port already in use exits with status 1 and one
    line saying so, not a traceback.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        process = await runExample("embed_status.py", tmp_path, str(port), "0")
    assert process.exitCode == 1, process.describe()
    assert process.err.startswith("embed_status: "), process.describe()
    assert len(process.err.splitlines()) == 1, process.describe()
    assert "Address already in use" in process.err, process.describe()


# async_clients.py


@pytest_twisted.ensureDeferred
async def test_asyncClients(tmp_path: Path) -> None:
    """
    async_clients against a timestamp and an echo server prints the stamp
    (the time now, and the data), the echo, and the three pipelined echoes,
    and exits with status 0.
    """
    reactor = _reactor()
    async with (
        listening(TimestampFactory(reactor)) as tsPort,
        listening(EchoFactory()) as echoPort,
    ):
        process = await runExample(
            "async_clients.py", tmp_path, "127.0.0.1", str(tsPort), str(echoPort)
        )
    assert process.exitCode == 0, process.describe()
    assert process.err == "", process.describe()
    stamp, echoed, pipelined = process.out.splitlines()
    match = re.fullmatch(r"timestamp: (\S+) hello", stamp)
    assert match is not None, process.describe()
    # The classic ctime format: the server's local time, no zone.
    assert abs((datetime.fromisoformat(match[1]) - datetime.now()).total_seconds()) < 5
    assert echoed == "echo: ping", process.describe()
    assert pipelined == "pipelined: one two three", process.describe()


@pytest_twisted.ensureDeferred
async def test_asyncClientsRefused(tmp_path: Path) -> None:
    """
    async_clients with nothing listening exits with status 3 and one line,
    C{async_clients: cannot connect: ...}.
    """
    port = str(_freePort())
    process = await runExample("async_clients.py", tmp_path, "127.0.0.1", port, port)
    assert process.exitCode == 3, process.describe()
    [line] = process.err.splitlines()
    assert line.startswith("async_clients: cannot connect: "), process.describe()
    assert process.out == "", process.describe()


@pytest_twisted.ensureDeferred
async def test_asyncClientsTimedOut(tmp_path: Path) -> None:
    """
    async_clients against a server that accepts but never answers gives up
    after its --timeout and exits with status 4 and one line,
    C{async_clients: timed out: ...}.
    """
    async with listening(Factory.forProtocol(Protocol)) as port:
        started = time.monotonic()
        process = await runExample(
            "async_clients.py", tmp_path, "--timeout", "1", "127.0.0.1", str(port)
        )
        elapsed = time.monotonic() - started
    assert process.exitCode == 4, process.describe()
    [line] = process.err.splitlines()
    assert line.startswith("async_clients: timed out: "), process.describe()
    assert 1 <= elapsed < STEP, process.describe()


# chat_bot.py


async def botJoins(port: int, cwd: Path, *args: str) -> tuple[ChatClient, _Process]:
    """
    Register C{tester} in #bots, start the bot with C{args}, and wait until
    the tester hears it join.
    """
    tester = await user(port, "tester")
    tester.send(b"/join #bots")
    await tester.untilLine(b"OK join #bots", STEP)
    bot = _spawn(example("chat_bot.py", "--port", str(port), *args), cwd)
    await tester.untilLine(b"JOIN #bots bot", STEP)
    return tester, bot


@pytest_twisted.ensureDeferred
async def test_chatBotAnswersAndLeaves(tmp_path: Path) -> None:
    """
    chat_bot joins its room, answers C{!ping} and C{!time} said there with
    a line in the room, and on C{!bye} says goodbye, parts the room, quits,
    and exits with status 0.
    """
    async with chatServer() as (hub, port):
        tester, bot = await botJoins(port, tmp_path, "--host", "127.0.0.1")
        try:
            tester.send(b"!ping")
            await tester.untilLine(b"MSG #bots bot pong, tester", STEP)
            tester.send(b"!time")
            await tester.until(
                lambda: any(
                    line.startswith(b"MSG #bots bot tester: it is ")
                    for line in tester.lines
                ),
                "the time",
                STEP,
            )
            tester.send(b"hello everyone")  # not a command: no answer
            tester.send(b"!bye")
            await tester.untilLine(b"MSG #bots bot bye, tester", STEP)
            await tester.untilLine(b"PART #bots bot work done", STEP)
            await bot.whenEnded(STEP)
            # QUIT went to nobody (the bot was in no room), but the hub
            # forgot it: only the tester is left.
            assert [hub.nickOf(p) for p in hub.participants()] == ["tester"]
        finally:
            await bot.stop()
            tester.transport.abortConnection()
    assert bot.exitCode == 0, bot.describe()
    assert bot.err == "", bot.describe()
    assert bot.out.splitlines()[-1] == "chat_bot: left after 3 answers", bot.describe()
    answers = [line for line in tester.lines if line.startswith(b"MSG #bots bot ")]
    assert len(answers) == 3, tester.lines


@pytest_twisted.ensureDeferred
async def test_chatBotLeavesAfterSeconds(tmp_path: Path) -> None:
    """
    chat_bot with --seconds 1 leaves its room and quits by itself after
    that second, and exits with status 0.
    """
    async with chatServer() as (_, port):
        tester, bot = await botJoins(port, tmp_path, "--seconds", "1")
        try:
            await tester.untilLine(b"PART #bots bot work done", STEP)
            await bot.whenEnded(STEP)
        finally:
            await bot.stop()
            tester.transport.abortConnection()
    assert bot.exitCode == 0, bot.describe()
    assert bot.out.splitlines()[-1] == "chat_bot: left after 0 answers", bot.describe()


# test_with_netlab.py


@pytest_twisted.ensureDeferred
async def test_testWithNetlabUnderPytest(tmp_path: Path) -> None:
    """
    C{python -m pytest examples/test_with_netlab.py} passes its five tests.
    """
    process = await run(
        [
            PYTHON,
            "-B",  # no __pycache__ in examples/
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLES / "test_with_netlab.py"),
        ],
        tmp_path,
        timeout=STEP,
    )
    assert process.exitCode == 0, process.describe()
    assert "5 passed" in process.out, process.describe()


@pytest_twisted.ensureDeferred
async def test_testWithNetlabRunDirectly(tmp_path: Path) -> None:
    """
    C{python examples/test_with_netlab.py} runs its five tests with
    unittest's runner, and they pass.
    """
    process = await runExample("test_with_netlab.py", tmp_path)
    assert process.exitCode == 0, process.describe()
    assert "Ran 5 tests" in process.err, process.describe()
    assert process.err.rstrip().endswith("OK"), process.describe()


# dual_stack.py


@pytest.mark.skipif(
    not _hasIPv6Loopback(), reason="this machine has no IPv6 loopback (::1)"
)
@pytest_twisted.ensureDeferred
async def test_dualStack(tmp_path: Path) -> None:
    """
    dual_stack listens on 127.0.0.1 and ::1 on one port, prints the
    getaddrinfo tuples of each host, and reaches 127.0.0.1 over IPv4, ::1
    over IPv6 and localhost over one of them, each echoing.
    """
    process = await runExample("dual_stack.py", tmp_path)
    assert process.exitCode == 0, process.describe()
    assert process.err == "", process.describe()
    out = process.out
    port = re.search(r"^server: listening on 127\.0\.0\.1:(\d+)$", out, re.M)
    assert port is not None, process.describe()
    p = port[1]
    assert f"server: listening on [::1]:{p}\n" in out, process.describe()
    assert f"  (AF_INET, SOCK_STREAM, 6, '', ('127.0.0.1', {p}))\n" in out, out
    assert f"  (AF_INET6, SOCK_STREAM, 6, '', ('::1', {p}, 0, 0))\n" in out, out
    assert f"127.0.0.1: reached 127.0.0.1:{p} over IPv4: hello 127.0.0.1\n" in out, out
    assert f"::1: reached [::1]:{p} over IPv6: hello ::1\n" in out, out
    reached = rf"^localhost: reached (127\.0\.0\.1|\[::1\]):{p} over IPv[46]: "
    assert re.search(reached + "hello localhost$", out, re.M), out


# http_get.py


class _Root(Resource):
    """
    A site with two pages: C{/doc.txt}, of known length, and C{/chunked},
    whose length is not known in advance, so that HTTP/1.1 sends it
    chunked; anything else is not found (a page of known length too).
    """

    def getChild(self, path: bytes, request: Any) -> Any:
        if path == b"doc.txt":
            return _Page(lambda request: b"hello world\n")
        if path == b"chunked":
            return _Page(self._chunked)
        return _Page(self._missing)

    @staticmethod
    def _missing(request: Any) -> bytes:
        request.setResponseCode(404)
        return b"no such page\n"

    @staticmethod
    def _chunked(request: Any) -> Any:
        request.write(b"a" * 100)
        request.write(b"b" * 50)
        request.finish()
        return NOT_DONE_YET


class _Page(Resource):
    isLeaf = True

    def __init__(self, render: Any) -> None:
        super().__init__()
        self._render = render

    def render_GET(self, request: Any) -> Any:
        request.setHeader(b"content-type", b"text/plain")
        return self._render(request)


@contextlib.asynccontextmanager
async def webServer() -> AsyncIterator[int]:
    """
    Run a twisted.web server of L{_Root} while the context lasts.

    @return: (as the context's value) its port.
    """
    async with listening(Site(_Root())) as port:
        yield port


def _httpResults(process: _Process) -> tuple[int, int, int, int]:
    """
    @return: the status and body length printed by each half of http_get:
        by hand, then with Agent.
    """
    byHand = re.search(
        r"^by hand: HTTP/1\.1 (\d+) [^;]*; \d+ headers; body (\d+) bytes$",
        process.out,
        re.M,
    )
    agent = re.search(r"^with Agent: (\d+) [^;]*; body (\d+) bytes$", process.out, re.M)
    assert byHand is not None and agent is not None, process.describe()
    return int(byHand[1]), int(byHand[2]), int(agent[1]), int(agent[2])


@pytest.mark.parametrize(
    ("path", "code", "length"), [("doc.txt", 200, 12), ("missing", 404, 13)]
)
@pytest_twisted.ensureDeferred
async def test_httpGetAgrees(tmp_path: Path, path: str, code: int, length: int) -> None:
    """
    http_get by hand and with Agent print the same status and body length
    for a page of known length, found or not, and exits with status 0.
    """
    async with webServer() as port:
        process = await runExample(
            "http_get.py", tmp_path, f"http://127.0.0.1:{port}/{path}"
        )
    assert process.exitCode == 0, process.describe()
    assert process.err == "", process.describe()
    handCode, handLength, agentCode, agentLength = _httpResults(process)
    assert handCode == agentCode == code, process.describe()
    assert handLength == agentLength == length, process.describe()


@pytest_twisted.ensureDeferred
async def test_httpGetChunked(tmp_path: Path) -> None:
    """
    For a chunked page, http_get's Agent half gets the body itself (150
    bytes), while the half by hand says the body is chunked and counts the
    framing with it.
    """
    async with webServer() as port:
        process = await runExample(
            "http_get.py", tmp_path, f"http://localhost:{port}/chunked"
        )
    assert process.exitCode == 0, process.describe()
    handCode, handLength, agentCode, agentLength = _httpResults(process)
    assert handCode == agentCode == 200, process.describe()
    assert agentLength == 150, process.describe()
    assert handLength > 150, process.describe()
    assert "by hand: the body is chunked" in process.out, process.describe()


@pytest_twisted.ensureDeferred
async def test_httpGetRefused(tmp_path: Path) -> None:
    """
    http_get with nothing listening exits with status 1 and one line.
    """
    process = await runExample(
        "http_get.py", tmp_path, f"http://127.0.0.1:{_freePort()}/"
    )
    assert process.exitCode == 1, process.describe()
    [line] = process.err.splitlines()
    assert line.startswith("http_get: "), process.describe()
