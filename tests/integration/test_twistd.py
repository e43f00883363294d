"""
The installed netlab run as people run it: C{twistd}, C{twist} and the
C{netlab} command, as real processes on loopback.

pytest-twisted tests: run them with pytest, not trial.  Processes are
started with the reactor's C{spawnProcess}, in a temporary directory (so the
installed netlab is what runs, not the source tree), with the executables of
the Python running the tests; every wait is bounded, and every process is
ended in C{finally}.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectError, ProcessExitedAlready
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from netlab.echo import echoUDP
from netlab.errors import ConnectFailed, RequestTimedOut
from netlab.timestamp import getTimestampUDP

BIN = Path(sys.executable).parent

START_TIMEOUT = 30.0
"""
Seconds a server process may take to start answering.
"""

RUN_TIMEOUT = 60.0
"""
Seconds a process that should end by itself may take.
"""

STOP_TIMEOUT = 15.0
"""
Seconds a server process may take to stop after SIGTERM (and again after
SIGKILL).
"""

POLL_INTERVAL = 0.05
"""
Seconds between two tries to reach a server that is starting.
"""

RUNNERS = {
    "twistd": ["twistd", "-n", "--pidfile="],
    "twist": ["twist"],
}
"""
How each runner is started in the foreground, before the plugin's name.
"""


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _environment() -> dict[str, str]:
    """
    The environment of the processes: this one's, without anything that
    would put the source tree on the path or fake systemd sockets.
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith("LISTEN_")
    }
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def _freePort(kind: int = socket.SOCK_STREAM) -> int:
    """
    @return: a port on 127.0.0.1 that nothing was bound to a moment ago.
    """
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Process(ProcessProtocol):
    """
    Collects a process's output and tells when it has ended.

    @ivar ended: whether the process has ended.
    @ivar exitCode: its exit status, or L{None} if a signal ended it.
    @ivar endSignal: the signal that ended it, or L{None}.
    """

    def __init__(
        self, command: list[str], stdin: bytes, holdStdin: bool = False
    ) -> None:
        self.command = command
        self._stdin = stdin
        self._holdStdin = holdStdin
        self._output: dict[int, list[bytes]] = {1: [], 2: []}
        self._waiters: list[Deferred[None]] = []
        self.ended = False
        self.exitCode: int | None = None
        self.endSignal: int | None = None

    def connectionMade(self) -> None:
        if self._stdin:
            self.transport.write(self._stdin)
        if not self._holdStdin:
            self.transport.closeStdin()

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self._output.setdefault(childFD, []).append(data)

    def processEnded(self, reason: Failure) -> None:
        self.ended = True
        self.exitCode = reason.value.exitCode
        self.endSignal = getattr(reason.value, "signal", None)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    @property
    def outBytes(self) -> bytes:
        return b"".join(self._output[1])

    @property
    def out(self) -> str:
        return self.outBytes.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return b"".join(self._output[2]).decode("utf-8", "replace")

    def describe(self) -> str:
        """
        @return: the command, its status and its output, for a failed
            assertion.
        """
        return (
            f"{' '.join(self.command)}\nexit status: {self.exitCode}, "
            f"signal: {self.endSignal}\n"
            f"--- stdout ---\n{self.out}--- stderr ---\n{self.err}"
        )

    def whenEnded(self, timeout: float) -> Deferred[None]:
        """
        @return: a Deferred that fires when the process has ended, or fails
            with L{defer.TimeoutError} after C{timeout} seconds.
        """
        if self.ended:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        return waiter.addTimeout(timeout, _reactor())

    def kill(self, name: str) -> None:
        """
        Send the process a signal, if it is still running.
        """
        with contextlib.suppress(ProcessExitedAlready):
            self.transport.signalProcess(name)

    async def stop(self) -> None:
        """
        End the process: SIGTERM, then SIGKILL if it is slow to go.
        """
        if self.ended:
            return
        self.kill("TERM")
        try:
            await self.whenEnded(STOP_TIMEOUT)
        except defer.TimeoutError:
            self.kill("KILL")
            await self.whenEnded(STOP_TIMEOUT)


def _spawn(
    command: list[str],
    cwd: Path,
    stdin: bytes = b"",
    holdStdin: bool = False,
    pythonPath: Path | None = None,
    environment: Mapping[str, str] | None = None,
) -> _Process:
    """
    Start one of the virtualenv's executables, C{command[0]}, in C{cwd},
    and write C{stdin} to its standard input, which is then closed unless
    C{holdStdin} is true.

    @param pythonPath: a directory to put on its C{PYTHONPATH}, if any.
    @param environment: variables to set in its environment, if any.
    """
    executable = BIN / command[0]
    assert executable.exists(), f"{executable} is not installed"
    process = _Process(command, stdin, holdStdin)
    variables = {**_environment(), **(environment or {})}
    if pythonPath is not None:
        variables["PYTHONPATH"] = str(pythonPath)
    _reactor().spawnProcess(
        process,
        str(executable),
        [str(executable), *command[1:]],
        env=variables,
        path=str(cwd),
    )
    return process


async def run(
    command: list[str],
    cwd: Path,
    stdin: bytes = b"",
    timeout: float = RUN_TIMEOUT,
    pythonPath: Path | None = None,
    environment: Mapping[str, str] | None = None,
) -> _Process:
    """
    Run a command that should end by itself, and wait for it to end.

    @param pythonPath: a directory to put on its C{PYTHONPATH}, if any.
    @param environment: variables to set in its environment, if any.
    @return: the ended process.
    @raise defer.TimeoutError: if it did not end in C{timeout} seconds (it
        is killed).
    """
    process = _spawn(
        command, cwd, stdin, pythonPath=pythonPath, environment=environment
    )
    try:
        await process.whenEnded(timeout)
    finally:
        if not process.ended:
            process.kill("KILL")
            await process.whenEnded(STOP_TIMEOUT)
    return process


async def _untilReady(
    process: _Process, attempt: Callable[[], Awaitable[object]]
) -> None:
    """
    Retry C{attempt} until it succeeds, the process ends, or
    L{START_TIMEOUT} seconds have passed.
    """
    reactor = _reactor()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert not process.ended, f"the server ended:\n{process.describe()}"
        try:
            await attempt()
            return
        except (ConnectError, ConnectFailed, RequestTimedOut, defer.TimeoutError):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the server did not answer in {START_TIMEOUT}s:\n"
                    f"{process.describe()}"
                ) from None
        await deferLater(reactor, POLL_INTERVAL, lambda: None)


def acceptingTCP(port: int) -> Callable[[], Awaitable[object]]:
    """
    @return: a check that connects to 127.0.0.1:C{port} and disconnects.
    """

    async def attempt() -> None:
        reactor = _reactor()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5)
        connecting = endpoint.connect(Factory.forProtocol(Protocol))
        protocol = await connecting.addTimeout(10, reactor)
        protocol.transport.loseConnection()

    return attempt


def answeringUDP(port: int) -> Callable[[], Awaitable[object]]:
    """
    @return: a check that has one datagram stamped on 127.0.0.1:C{port}.
    """

    def attempt() -> Deferred[Any]:
        return getTimestampUDP(
            "127.0.0.1", port, b"ready?", reactor=_reactor(), tries=1, interval=0.5
        )

    return attempt


def answeringEcho(port: int) -> Callable[[], Awaitable[object]]:
    """
    @return: a check that has one datagram echoed on 127.0.0.1:C{port}.
    """

    def attempt() -> Deferred[Any]:
        return echoUDP(
            "127.0.0.1", port, b"ready?", reactor=_reactor(), tries=1, interval=0.5
        )

    return attempt


def both(*checks: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
    """
    @return: a check that passes when each of C{checks} does, in turn.
    """

    async def attempt() -> None:
        for check in checks:
            await check()

    return attempt


@contextlib.asynccontextmanager
async def serving(
    command: list[str],
    cwd: Path,
    ready: Callable[[], Awaitable[object]],
    environment: Mapping[str, str] | None = None,
) -> AsyncIterator[_Process]:
    """
    Start a server process, wait until C{ready} succeeds against it, and
    stop it on the way out.

    @param environment: variables to set in its environment, if any.
    """
    process = _spawn(command, cwd, environment=environment)
    try:
        await _untilReady(process, ready)
        yield process
    finally:
        await process.stop()


def errorLines(process: _Process, prefix: str) -> list[str]:
    """
    @return: the lines of the process's output (both streams) that contain
        C{prefix}, each from C{prefix} on; twistd writes standard error
        into its log, so a line may start with the log's timestamp.
    """
    lines = (process.out + process.err).splitlines()
    return [line[line.index(prefix) :] for line in lines if prefix in line]


def assertOneErrorLine(process: _Process, prefix: str, start: str) -> None:
    """
    Assert that the process failed, printing exactly one line with
    C{prefix}, which goes on with C{start}, and no traceback.
    """
    description = process.describe()
    assert process.exitCode not in (0, None), description
    assert "Traceback" not in process.out + process.err, description
    lines = errorLines(process, prefix)
    assert len(lines) == 1, description
    assert lines[0].startswith(prefix + start), description


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest_twisted.ensureDeferred
async def test_servesClassicClient(
    runner: str, tmp_path: Path, tsTclnt: Any, checkClassicReply: Any
) -> None:
    """
    C{twistd -n netlab tsserv} and C{twist netlab tsserv} answer the classic
    blocking client, and shut down when sent SIGTERM, with exit status 0.
    """
    port = _freePort()
    command = [
        *RUNNERS[runner],
        "netlab",
        "tsserv",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
    ]
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        first, second, end = await tsTclnt(("127.0.0.1", port), [b"hello", b"again"])
        checkClassicReply(first, b"hello")
        checkClassicReply(second, b"again")
        assert end == b""
    # A graceful stop on SIGTERM is a clean exit, as a service manager
    # expects (Twisted's own handler would end the process by the signal).
    assert server.endSignal is None, server.describe()
    assert server.exitCode == 0, server.describe()
    assert "Main loop terminated." in server.out, server.describe()
    assert "Traceback" not in server.out + server.err, server.describe()


@pytest_twisted.ensureDeferred
async def test_helpListsServices(tmp_path: Path) -> None:
    """
    C{twistd netlab --help} lists tsserv, tsuserv and echo, each with its
    description.
    """
    process = await run(["twistd", "--pidfile=", "netlab", "--help"], tmp_path)
    assert process.exitCode == 0, process.describe()
    commands = {line.split()[0] for line in process.out.splitlines() if line.strip()}
    assert {"tsserv", "tsuserv", "echo"} <= commands, process.describe()
    assert "Timestamp server over TCP" in process.out
    assert "Timestamp server over UDP" in process.out
    assert "Echo server (RFC 862) over TCP and UDP" in process.out


@pytest.mark.parametrize(
    "service, options",
    [
        ("tsserv", ["--listen", "--framing", "--max-line-length", "--format", "--utc"]),
        ("tsuserv", ["--udp-port", "--udp-interface", "--format", "--utc"]),
        (
            "echo",
            [
                "--listen",
                "--udp-port",
                "--udp-interface",
                "--no-tcp",
                "--no-udp",
                "--udp-rate",
                "--udp-burst",
                "--udp-global-rate",
                "--udp-global-burst",
                "21568",
            ],
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_serviceHelp(service: str, options: list[str], tmp_path: Path) -> None:
    """
    C{twistd netlab SERVICE --help} describes the service's options.
    """
    process = await run(["twistd", "--pidfile=", "netlab", service, "--help"], tmp_path)
    assert process.exitCode == 0, process.describe()
    for option in options:
        assert option in process.out, process.describe()


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest_twisted.ensureDeferred
async def test_portInUse(runner: str, tmp_path: Path) -> None:
    """
    When the TCP port is in use, tsserv exits with a non-zero status and one
    line saying so, not a traceback.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        endpoint = f"tcp:{port}:interface=127.0.0.1"
        process = await run(
            [*RUNNERS[runner], "netlab", "tsserv", "--listen", endpoint], tmp_path
        )
    assertOneErrorLine(
        process,
        "netlab tsserv: error: ",
        f"cannot listen on {endpoint}: another program is using it",
    )


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest_twisted.ensureDeferred
async def test_udpPortInUse(runner: str, tmp_path: Path) -> None:
    """
    When the UDP port is in use, tsuserv exits with a non-zero status and
    one line saying so, not a traceback.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        process = await run(
            [
                *RUNNERS[runner],
                "netlab",
                "tsuserv",
                "--udp-port",
                str(port),
                "--udp-interface",
                "127.0.0.1",
            ],
            tmp_path,
        )
    assertOneErrorLine(
        process,
        "netlab tsuserv: error: ",
        f"cannot listen on udp:{port}:interface=127.0.0.1: another program is using it",
    )


DAEMON_TIMEOUT = 20.0
"""
Seconds a daemonizing twistd that cannot start may take to report it.
"""


def _killDaemon(pidFile: Path) -> None:
    """
    Kill the daemon a test started, if its pid file says one is left.
    """
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidFile.read_text().strip()), signal.SIGKILL)


@pytest_twisted.ensureDeferred
async def test_daemonPortInUse(tmp_path: Path) -> None:
    """
    A daemonizing C{twistd netlab tsserv} whose port is in use reports the
    L{StartupError} to the launching process, which exits with a non-zero
    status, and leaves no pid file behind.
    """
    pidFile = tmp_path / "t.pid"
    logFile = tmp_path / "t.log"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        try:
            process = await run(
                [
                    "twistd",
                    f"--pidfile={pidFile}",
                    f"--logfile={logFile}",
                    "netlab",
                    "tsserv",
                    "--listen",
                    f"tcp:{port}:interface=127.0.0.1",
                ],
                tmp_path,
                timeout=DAEMON_TIMEOUT,
            )
        finally:
            _killDaemon(pidFile)
    log = logFile.read_text() if logFile.exists() else ""
    description = f"{process.describe()}--- log ---\n{log}"
    assert process.exitCode not in (0, None), description
    assert "An error has occurred" in process.out + process.err, description
    assert "StartupError" in process.out + process.err, description
    assert f"cannot listen on tcp:{port}" in process.out + process.err, description
    assert not pidFile.exists(), description


@pytest.mark.parametrize("endpoint", ["tcp:abc", "nonsense:1"])
@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest_twisted.ensureDeferred
async def test_malformedEndpoint(runner: str, endpoint: str, tmp_path: Path) -> None:
    """
    A malformed endpoint string ends tsserv with a non-zero status and one
    line naming it, not a traceback.
    """
    process = await run(
        [*RUNNERS[runner], "netlab", "tsserv", "--listen", endpoint], tmp_path
    )
    assertOneErrorLine(
        process,
        "netlab tsserv: error: ",
        f"--listen {endpoint}: not a usable endpoint",
    )


@pytest_twisted.ensureDeferred
async def test_cliOneShot(tmp_path: Path, checkClassicReply: Any) -> None:
    """
    C{netlab ts MESSAGE} against a running C{twistd netlab tsserv} prints
    the stamped message and exits with status 0.
    """
    port = _freePort()
    command = [
        *RUNNERS["twistd"],
        "netlab",
        "tsserv",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
    ]
    async with serving(command, tmp_path, acceptingTCP(port)):
        client = await run(
            [
                "netlab",
                "ts",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "hello",
                "world",
            ],
            tmp_path,
        )
    assert client.exitCode == 0, client.describe()
    assert client.err == "", client.describe()
    [line] = client.out.splitlines()
    checkClassicReply(line.encode(), b"hello world")
    assert client.out.endswith("\n")


@pytest_twisted.ensureDeferred
async def test_cliNothingListening(tmp_path: Path) -> None:
    """
    C{netlab ts} with nothing listening exits with status 1 and one line on
    standard error, C{netlab: error: ...}.
    """
    port = _freePort()
    client = await run(
        ["netlab", "ts", "--host", "127.0.0.1", "--port", str(port), "hello"],
        tmp_path,
    )
    assert client.exitCode == 1, client.describe()
    assert client.out == "", client.describe()
    [line] = client.err.splitlines()
    assert line.startswith("netlab: error: "), client.describe()


@pytest_twisted.ensureDeferred
async def test_cliInteractive(tmp_path: Path, checkClassicReply: Any) -> None:
    """
    C{netlab ts} with lines on standard input prints one stamped reply per
    line and exits with status 0 at the end of input.
    """
    port = _freePort()
    command = [
        *RUNNERS["twistd"],
        "netlab",
        "tsserv",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
    ]
    async with serving(command, tmp_path, acceptingTCP(port)):
        client = await run(
            ["netlab", "ts", "--host", "127.0.0.1", "--port", str(port)],
            tmp_path,
            stdin=b"a\nb\n",
        )
    assert client.exitCode == 0, client.describe()
    assert client.err == "", client.describe()
    lines = client.out.splitlines()
    assert len(lines) == 2, client.describe()
    checkClassicReply(lines[0].encode(), b"a")
    checkClassicReply(lines[1].encode(), b"b")


@pytest_twisted.ensureDeferred
async def test_cliLastLineWithoutEnding(tmp_path: Path, checkClassicReply: Any) -> None:
    """
    C{netlab ts} answers a last line of standard input that has no line
    ending, as C{printf 'a\\nb' | netlab ts} sends it.
    """
    port = _freePort()
    command = [
        *RUNNERS["twistd"],
        "netlab",
        "tsserv",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
    ]
    async with serving(command, tmp_path, acceptingTCP(port)):
        client = await run(
            ["netlab", "ts", "--host", "127.0.0.1", "--port", str(port)],
            tmp_path,
            stdin=b"a\nb",
        )
    assert client.exitCode == 0, client.describe()
    assert client.err == "", client.describe()
    lines = client.out.splitlines()
    assert len(lines) == 2, client.describe()
    checkClassicReply(lines[0].encode(), b"a")
    checkClassicReply(lines[1].encode(), b"b")


async def _untilOutput(process: _Process, timeout: float) -> None:
    """
    Wait until the process has written a whole line to standard output.

    @raise AssertionError: if it ends, or writes none in C{timeout} seconds.
    """
    reactor = _reactor()
    deadline = time.monotonic() + timeout
    while "\n" not in process.out:
        assert not process.ended, f"it ended:\n{process.describe()}"
        assert time.monotonic() < deadline, (
            f"no output in {timeout}s:\n{process.describe()}"
        )
        await deferLater(reactor, POLL_INTERVAL, lambda: None)


@pytest.mark.parametrize("signalName", ["INT", "TERM"])
@pytest_twisted.ensureDeferred
async def test_cliInterrupted(
    signalName: str, tmp_path: Path, checkClassicReply: Any
) -> None:
    """
    C{netlab ts} interrupted (Ctrl-C, SIGTERM) while it waits for more
    input exits with status 130 and one line, C{netlab: error: interrupted}.
    """
    port = _freePort()
    command = [
        *RUNNERS["twistd"],
        "netlab",
        "tsserv",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
    ]
    async with serving(command, tmp_path, acceptingTCP(port)):
        client = _spawn(
            ["netlab", "ts", "--host", "127.0.0.1", "-p", str(port)],
            tmp_path,
            stdin=b"hello\n",
            holdStdin=True,
        )
        try:
            # One reply printed: the reactor runs, with its signal handlers.
            await _untilOutput(client, START_TIMEOUT)
            client.kill(signalName)
            await client.whenEnded(STOP_TIMEOUT)
        finally:
            if not client.ended:
                client.kill("KILL")
                await client.whenEnded(STOP_TIMEOUT)
    assert client.exitCode == 130, client.describe()
    assert client.err == "netlab: error: interrupted\n", client.describe()
    [line] = client.out.splitlines()
    checkClassicReply(line.encode(), b"hello")


@pytest_twisted.ensureDeferred
async def test_cliUDP(tmp_path: Path, checkClassicReply: Any) -> None:
    """
    C{netlab ts --udp MESSAGE} against a running C{twistd netlab tsuserv}
    prints the stamped message and exits with status 0.
    """
    port = _freePort(socket.SOCK_DGRAM)
    command = [
        *RUNNERS["twistd"],
        "netlab",
        "tsuserv",
        "--udp-port",
        str(port),
        "--udp-interface",
        "127.0.0.1",
    ]
    async with serving(command, tmp_path, answeringUDP(port)):
        client = await run(
            ["netlab", "ts", "--udp", "--host", "127.0.0.1", "--port", str(port), "hi"],
            tmp_path,
        )
    assert client.exitCode == 0, client.describe()
    assert client.err == "", client.describe()
    [line] = client.out.splitlines()
    checkClassicReply(line.encode(), b"hi")


def _echoServer(tcpPort: int, udpPort: int, runner: str = "twistd") -> list[str]:
    """
    @return: the command that runs the echo service on 127.0.0.1, TCP on
        C{tcpPort} and UDP on C{udpPort}.
    """
    return [
        *RUNNERS[runner],
        "netlab",
        "echo",
        "--listen",
        f"tcp:{tcpPort}:interface=127.0.0.1",
        "--udp-port",
        str(udpPort),
        "--udp-interface",
        "127.0.0.1",
    ]


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest_twisted.ensureDeferred
async def test_echoServesBlockingClients(
    runner: str, tmp_path: Path, tsTclnt: Any, tsUclnt: Any
) -> None:
    """
    C{twistd -n netlab echo} and C{twist netlab echo}, with --listen and
    --udp-port, echo what a blocking TCP client sends (closing after its
    half-close) and each datagram of a blocking UDP client, from the port
    it was sent to; SIGTERM stops them, with exit status 0.
    """
    tcpPort, udpPort = _freePort(), _freePort(socket.SOCK_DGRAM)
    async with serving(
        _echoServer(tcpPort, udpPort, runner),
        tmp_path,
        both(acceptingTCP(tcpPort), answeringEcho(udpPort)),
    ) as server:
        first, second, end = await tsTclnt(("127.0.0.1", tcpPort), [b"hello", b"again"])
        datagrams = await tsUclnt(("127.0.0.1", udpPort), [b"one", b"two"])
    assert (first, second, end) == (b"hello", b"again", b"")
    assert datagrams == [
        (b"one", ("127.0.0.1", udpPort)),
        (b"two", ("127.0.0.1", udpPort)),
    ]
    assert server.endSignal is None, server.describe()
    assert server.exitCode == 0, server.describe()
    assert "Traceback" not in server.out + server.err, server.describe()


@contextlib.asynccontextmanager
async def echoServing(tmp_path: Path) -> AsyncIterator[tuple[int, int]]:
    """
    Run C{twistd -n netlab echo} on 127.0.0.1 while the context lasts.

    @return: (as the context's value) its TCP and UDP ports.
    """
    tcpPort, udpPort = _freePort(), _freePort(socket.SOCK_DGRAM)
    async with serving(
        _echoServer(tcpPort, udpPort),
        tmp_path,
        both(acceptingTCP(tcpPort), answeringEcho(udpPort)),
    ):
        yield tcpPort, udpPort


@pytest_twisted.ensureDeferred
async def test_cliEchoOneShot(tmp_path: Path) -> None:
    """
    C{netlab echo hello world} prints the echo, C{hello world}, and exits
    with status 0.
    """
    async with echoServing(tmp_path) as (tcpPort, _):
        client = await run(
            [
                "netlab",
                "echo",
                "--host",
                "127.0.0.1",
                "--port",
                str(tcpPort),
                "hello",
                "world",
            ],
            tmp_path,
        )
    assert client.exitCode == 0, client.describe()
    assert client.err == "", client.describe()
    assert client.outBytes == b"hello world\n", client.describe()


@pytest_twisted.ensureDeferred
async def test_cliEchoPipe(tmp_path: Path) -> None:
    """
    C{netlab echo} with standard input not a terminal copies it through the
    server to standard output byte for byte (1 MiB of random bytes), and
    exits with status 0 once the last byte's echo has arrived.
    """
    data = os.urandom(1024 * 1024)
    async with echoServing(tmp_path) as (tcpPort, _):
        client = await run(
            ["netlab", "echo", "--host", "127.0.0.1", "--port", str(tcpPort)],
            tmp_path,
            stdin=data,
        )
    assert client.exitCode == 0, client.describe()
    assert client.err == "", client.describe()
    assert len(client.outBytes) == len(data), client.err
    assert client.outBytes == data


@pytest_twisted.ensureDeferred
async def test_cliEchoLines(tmp_path: Path) -> None:
    """
    C{netlab echo --lines} sends each line of standard input and prints its
    echo, one line each, and exits with status 0 at the end of input.
    """
    async with echoServing(tmp_path) as (tcpPort, _):
        client = await run(
            [
                "netlab",
                "echo",
                "--lines",
                "--host",
                "127.0.0.1",
                "--port",
                str(tcpPort),
            ],
            tmp_path,
            stdin=b"a\nbc\n",
        )
    assert client.exitCode == 0, client.describe()
    assert client.err == "", client.describe()
    assert client.outBytes == b"a\nbc\n", client.describe()


@pytest_twisted.ensureDeferred
async def test_cliEchoUDP(tmp_path: Path) -> None:
    """
    C{netlab echo --udp hi} has the datagram echoed by the UDP service and
    prints it, and exits with status 0.
    """
    async with echoServing(tmp_path) as (_, udpPort):
        client = await run(
            [
                "netlab",
                "echo",
                "--udp",
                "--host",
                "127.0.0.1",
                "--port",
                str(udpPort),
                "hi",
            ],
            tmp_path,
        )
    assert client.exitCode == 0, client.describe()
    assert client.err == "", client.describe()
    assert client.outBytes == b"hi\n", client.describe()


@pytest.mark.parametrize("pipe", [False, True])
@pytest_twisted.ensureDeferred
async def test_cliEchoNothingListening(tmp_path: Path, pipe: bool) -> None:
    """
    C{netlab echo}, one-shot or in pipe mode, with nothing listening exits
    with status 1 and one line on standard error, C{netlab: error: ...}.
    """
    port = _freePort()
    command = ["netlab", "echo", "--host", "127.0.0.1", "--port", str(port)]
    if pipe:
        client = await run(command, tmp_path, stdin=b"some input")
    else:
        client = await run([*command, "hello"], tmp_path)
    assert client.exitCode == 1, client.describe()
    assert client.out == "", client.describe()
    [line] = client.err.splitlines()
    assert line.startswith("netlab: error: "), client.describe()
    assert "Traceback" not in client.err, client.describe()
