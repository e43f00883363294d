"""
netlab as it is operated: connection limits and idle timeouts, graceful
shutdown on SIGTERM and SIGINT, several services in one process, the
metrics endpoint and the structured connection log, end to end on loopback.

pytest-twisted tests: run them with pytest, not trial.  Server processes
are started as L{tests.integration.test_twistd} starts them (the installed
netlab, in a temporary directory); the limits are checked in this process,
on services built by L{netlab.tap.makeService}.  Blocking sockets run in
threads, so that the reactor keeps going.  Everything listens on 127.0.0.1
(except C{twistd netlab all}, which takes no --listen and binds every
address), every wait is bounded, and every process is ended in C{finally}.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectError, ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater

from netlab import tap
from tests.integration.test_chat_loopback import ChatClient, messagesFrom, user
from tests.integration.test_echo_loopback import _whenListening, inThread
from tests.integration.test_twistd import (
    POLL_INTERVAL,
    RUNNERS,
    STOP_TIMEOUT,
    _freePort,
    _Process,
    _spawn,
    _untilReady,
    acceptingTCP,
    answeringEcho,
    answeringUDP,
    both,
    run,
    serving,
)

TIMEOUT = 15.0
"""
Seconds any one step of a test may take.
"""

CLIENT_TIMEOUT = 10.0
"""
Seconds any blocking socket operation of a test client may take.
"""

GRACE_SLACK = 3.0
"""
Seconds a stopping server may take beyond what it was told to wait.
"""

AT_ONCE = 2.0
"""
Seconds within which a server told to stop at once (C{--grace 0}, a second
signal) must have ended: well under the grace it would otherwise wait.
"""

QUIET = 0.5
"""
Seconds a flooding client's sends must make no progress before it decides
that the server has stopped reading from it.
"""

SMALL_BUFFER = 4096
"""
The receive buffer of a client that is not to read much: small and fixed,
so that the server's output backs up on the server's side.
"""

GOODBYE = b"NOTE the server is shutting down; goodbye"
"""
What every chat user is told when the server stops.
"""

LOCAL = "interface=127.0.0.1"


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _listen(port: int) -> list[str]:
    """
    @return: the C{--listen} option for TCP on 127.0.0.1:C{port}.
    """
    return ["--listen", f"tcp:{port}:{LOCAL}"]


def _twistd(*args: str) -> list[str]:
    """
    @return: C{twistd -n netlab ARGS...}, in the foreground without a pid
        file.
    """
    return [*RUNNERS["twistd"], "netlab", *args]


def _log(process: _Process) -> str:
    """
    @return: everything the process wrote (twistd -n logs to standard
        output).
    """
    return process.out + process.err


def _assertCleanExit(process: _Process, description: str = "") -> None:
    """
    Assert that the process exited by itself with status 0 (not killed by a
    signal) and logged no traceback.
    """
    description = description or process.describe()
    assert process.ended, description
    assert process.exitCode == 0, description
    assert process.endSignal is None, description
    assert "Traceback" not in _log(process), description


async def _endedWithin(process: _Process, timeout: float) -> float:
    """
    Wait for a process that was sent a signal to end.

    @return: how many seconds it took.
    @raise AssertionError: if it is still running after C{timeout} seconds.
    """
    started = time.monotonic()
    try:
        await process.whenEnded(timeout)
    except defer.TimeoutError:
        raise AssertionError(
            f"still running {timeout}s after the signal:\n{process.describe()}"
        ) from None
    return time.monotonic() - started


CLOSED_LINE = re.compile(
    r"(?P<service>\w+): connection from 127\.0\.0\.1:(?P<port>\d+) closed after "
    r"[\d.]+s, (?P<received>\d+) bytes received, (?P<sent>\d+) sent \((?P<why>.*)\)"
)
"""
The log line of a connection that closed.
"""


def _closedLine(process: _Process, clientPort: int) -> re.Match[str]:
    """
    @return: the match of the log line saying that the connection from
        127.0.0.1:C{clientPort} closed.
    """
    found = [
        match
        for match in CLOSED_LINE.finditer(_log(process))
        if int(match["port"]) == clientPort
    ]
    assert len(found) == 1, process.describe()
    return found[0]


# Blocking clients, run in threads.


@contextlib.contextmanager
def _connected(port: int, receiveBuffer: int = 0) -> Iterator[socket.socket]:
    """
    A blocking TCP connection to 127.0.0.1:C{port}, closed on the way out.

    @param receiveBuffer: if not 0, the receive buffer's size, fixed before
        connecting.
    """
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if receiveBuffer:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receiveBuffer)
        client.settimeout(CLIENT_TIMEOUT)
        client.connect(("127.0.0.1", port))
        yield client
    finally:
        client.close()


def _ask(client: socket.socket, data: bytes) -> bytes:
    """
    Send C{data} and read the one reply that follows.
    """
    client.sendall(data)
    return client.recv(65536)


def _readToEnd(client: socket.socket) -> tuple[bytes, OSError | None]:
    """
    Read until the server closes the connection.

    @return: what was read, and the error that ended the connection
        (L{None} if the server closed it cleanly).
    """
    client.setblocking(True)
    client.settimeout(CLIENT_TIMEOUT)
    received = bytearray()
    try:
        while True:
            data = client.recv(1 << 20)
            if not data:
                return bytes(received), None
            received += data
    except OSError as e:
        return bytes(received), e


def _flood(client: socket.socket) -> int:
    """
    Send without reading until the server stops taking what is sent: the
    echo it owes this client has filled every buffer between them, Twisted's
    write buffer included, so the server has paused reading (and cannot
    close the connection cleanly until the client reads).

    @return: how many bytes were sent.
    """
    client.setblocking(False)
    chunk = bytes(range(256)) * 256
    sent = 0
    deadline = time.monotonic() + CLIENT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            sent += client.send(chunk)
        except BlockingIOError:
            _, writable, _ = select.select([], [client], [], QUIET)
            if not writable:
                return sent
    raise AssertionError(f"the server still read after {CLIENT_TIMEOUT}s")


def _openFlooded(port: int) -> tuple[socket.socket, int]:
    """
    @return: a connection to 127.0.0.1:C{port} with a small receive buffer
        that has been flooded (see L{_flood}), and how many bytes it sent.
    """
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        client.settimeout(CLIENT_TIMEOUT)
        client.connect(("127.0.0.1", port))
        return client, _flood(client)
    except BaseException:
        client.close()
        raise


# Metrics.

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(port: int) -> tuple[str, Samples]:
    """
    GET /metrics on 127.0.0.1:C{port}.

    @return: the content type, and every sample by name and labels.
    """
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=CLIENT_TIMEOUT) as response:
        contentType = response.headers["Content-Type"]
        text = response.read().decode("utf-8")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return contentType, samples


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    """
    @return: the sample C{name} with exactly C{labels}, or L{None}.
    """
    return samples.get((name, tuple(sorted(labels.items()))))


def _netlab(samples: Samples) -> str:
    """
    @return: the netlab samples, one a line, for a failed assertion.
    """
    return "\n".join(
        f"{name}{dict(labels)} {value}"
        for (name, labels), value in sorted(samples.items())
        if name.startswith("netlab_")
    )


async def _untilMetrics(
    port: int, condition: Callable[[Samples], bool], what: str
) -> Samples:
    """
    Scrape until C{condition} holds for the samples, for at most L{TIMEOUT}
    seconds.

    @return: the samples that satisfied it.
    """
    deadline = time.monotonic() + TIMEOUT
    while True:
        samples: Samples
        _, samples = await inThread(_scrape, port)
        if condition(samples):
            return samples
        assert time.monotonic() < deadline, (
            f"no {what} in {TIMEOUT}s; the metrics:\n{_netlab(samples)}"
        )
        await deferLater(_reactor(), POLL_INTERVAL, lambda: None)


def _noneOpen(samples: Samples) -> bool:
    """
    @return: whether no netlab connection is open.
    """
    return all(
        value == 0
        for (name, _), value in samples.items()
        if name == "netlab_connections_open"
    )


# 1. Chat: graceful shutdown.


def _chatCommand(port: int, *options: str) -> list[str]:
    return _twistd("chat", *_listen(port), "--line-rate", "0", *options)


CHAT_LINES = 300
"""
Lines alice sends just before the signal.
"""


@pytest.mark.parametrize("signalName", ["TERM", "INT"])
@pytest_twisted.ensureDeferred
async def test_chatStopsGracefully(signalName: str, tmp_path: Path) -> None:
    """
    On SIGTERM or SIGINT, C{twistd netlab chat} with three registered users
    (one of them not reading at that moment) delivers to each every line
    the server took before the signal, then C{NOTE the server is shutting
    down; goodbye}, closes each connection cleanly, and exits with status 0
    well within its grace, with no traceback.
    """
    port = _freePort()
    async with serving(_chatCommand(port), tmp_path, acceptingTCP(port)) as server:
        alice = await user(port, "alice")
        bob = await user(port, "bob")
        carol = await user(port, "carol")
        await bob.untilLine(b"JOIN #lobby carol")
        bob.transport.pauseProducing()
        texts = [b"line %03d " % i + b"x" * 200 for i in range(CHAT_LINES)]
        alice.send(*texts)
        # Carol reads: once she has them all, the server has sent them all,
        # to bob too, though he has not read them yet.
        await carol.untilLine(b"MSG #lobby alice " + texts[-1])

        server.kill(signalName)
        stopped = time.monotonic()
        bob.transport.resumeProducing()
        clients = {"alice": alice, "bob": bob, "carol": carol}
        for name, client in clients.items():
            try:
                await client.waitClosed(STOP_TIMEOUT)
            except defer.TimeoutError:
                raise AssertionError(
                    f"{name}'s connection is still open {STOP_TIMEOUT}s after "
                    f"SIG{signalName}; last lines {client.lines[-3:]!r}\n"
                    f"{server.describe()}"
                ) from None
        await _endedWithin(server, STOP_TIMEOUT)
        elapsed = time.monotonic() - stopped

    description = server.describe()
    for name, client in clients.items():
        if name != "alice":
            assert messagesFrom(client, b"alice") == texts, (name, description)
        assert client.lines.count(GOODBYE) == 1, (name, client.lines[-5:])
        after = client.lines[client.lines.index(GOODBYE) + 1 :]
        assert all(line.startswith(b"QUIT ") for line in after), (name, after)
        assert client.closeReason is not None
        assert client.closeReason.check(ConnectionDone), (name, client.closeReason)
        assert client.badEndings == [], (name, client.badEndings)
    _assertCleanExit(server, description)
    assert f"Received SIG{signalName}" in _log(server), description
    # Everyone read: nobody needed the 5 seconds of grace.
    assert elapsed < 5.0, (elapsed, description)


SLOW_READER_LINES = 6000
"""
Lines of about 1 KB sent to a user who does not read: more than the
kernel's buffers on both sides hold, so that most wait in the server.
"""


@pytest_twisted.ensureDeferred
async def test_chatCutsSlowReaderAfterGrace(tmp_path: Path) -> None:
    """
    A chat user who does not read, with megabytes waiting for her, is cut
    once C{--grace 1} has passed after SIGTERM (she never gets the goodbye,
    which waits behind her backlog), while the users who read get theirs
    and are closed cleanly first; twistd then exits with status 0 at once.
    """
    port = _freePort()
    command = _chatCommand(
        port,
        "--grace",
        "1",
        # Let her backlog grow rather than have it disconnect her first.
        "--backlog-soft",
        "1000000000",
        "--backlog-hard",
        "1000000000",
    )
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        alice = await user(port, "alice")
        bob = await user(port, "bob")
        with _connected(port, SMALL_BUFFER) as carol:
            carol.sendall(b"carol\r\n")
            await bob.untilLine(b"JOIN #lobby carol")
            texts = [b"%05d " % i + b"y" * 990 for i in range(SLOW_READER_LINES)]
            alice.send(*texts)
            last = [b"MSG #lobby alice " + texts[-1]]
            await bob.until(lambda: bob.lines[-1:] == last, "alice's last line")

            server.kill("TERM")
            stopped = time.monotonic()
            endedFirst = {}
            for name, client in {"alice": alice, "bob": bob}.items():
                await client.waitClosed(STOP_TIMEOUT)
                endedFirst[name] = not server.ended
            await _endedWithin(server, 1.0 + GRACE_SLACK)
            elapsed = time.monotonic() - stopped
            carolGot, carolEnd = await inThread(_readToEnd, carol)

    description = server.describe()
    _assertCleanExit(server, description)
    assert 0.9 <= elapsed <= 1.0 + GRACE_SLACK, (elapsed, description)
    assert endedFirst == {"alice": True, "bob": True}, description
    for client in alice, bob:
        assert client.lines.count(GOODBYE) == 1, client.lines[-3:]
        assert client.closeReason is not None
        assert client.closeReason.check(ConnectionDone), client.closeReason
    assert GOODBYE not in carolGot, (len(carolGot), carolEnd)
    assert len(carolGot) < SLOW_READER_LINES * 1000, len(carolGot)


# 2. Echo: graceful shutdown.


def _echoCommand(port: int, *options: str) -> list[str]:
    return _twistd("echo", "--no-udp", *_listen(port), *options)


ECHO_BYTES = 512 * 1024
"""
What the client sends just before the signal: far more than its receive
buffer holds, so that most of the echo is still on the server's side.
"""


@pytest_twisted.ensureDeferred
async def test_echoDrainDeliversAcceptedData(tmp_path: Path) -> None:
    """
    On SIGTERM, the echo of everything the server had read (512 KiB, most
    of it still waiting on the server's side, as the client has a small
    receive buffer and has not read yet) is delivered whole before the
    server closes the connection cleanly; the log says so, and twistd exits
    with status 0.
    """
    port, metricsPort = _freePort(), _freePort()
    command = _echoCommand(port, "--metrics", f"tcp:{metricsPort}:{LOCAL}")
    data = bytes(range(251)) * (ECHO_BYTES // 251 + 1)
    data = data[:ECHO_BYTES]
    ready = both(acceptingTCP(port), acceptingTCP(metricsPort))
    async with serving(command, tmp_path, ready) as server:
        with _connected(port, SMALL_BUFFER) as client:
            clientPort = client.getsockname()[1]
            await inThread(client.sendall, data)

            def acceptedAll(samples: Samples) -> bool:
                labels = {"service": "echo", "transport": "tcp"}
                return (
                    _value(samples, "netlab_received_bytes_total", **labels)
                    == ECHO_BYTES
                    and _value(samples, "netlab_sent_bytes_total", **labels)
                    == ECHO_BYTES
                )

            await _untilMetrics(metricsPort, acceptedAll, "echo of every byte sent")
            server.kill("TERM")
            echoed, end = await inThread(_readToEnd, client)
            await _endedWithin(server, STOP_TIMEOUT)

    description = server.describe()
    assert end is None, (end, len(echoed), description)
    assert echoed == data, (len(echoed), description)
    _assertCleanExit(server, description)
    line = _closedLine(server, clientPort)
    assert (line["service"], line["received"], line["sent"]) == (
        "echo",
        str(ECHO_BYTES),
        str(ECHO_BYTES),
    ), description


@pytest_twisted.ensureDeferred
async def test_echoDrainWhilePeerStillSending(tmp_path: Path) -> None:
    """
    On SIGTERM, a client that has sent more than the server has read yet
    (so the server has stopped reading from it) still receives every byte
    of echo the server has written, that is as many as the log says were
    sent, and then a clean close, not a reset: what the server accepted is
    not dropped.  (The server reads and discards what the client still
    sends while it closes, so that the kernel does not reset the
    connection for unread input.)
    """
    port = _freePort()
    async with serving(_echoCommand(port), tmp_path, acceptingTCP(port)) as server:
        client, _ = await inThread(_openFlooded, port)
        with client:
            clientPort = client.getsockname()[1]
            server.kill("TERM")
            echoed, end = await inThread(_readToEnd, client)
            await _endedWithin(server, STOP_TIMEOUT)

    description = server.describe()
    _assertCleanExit(server, description)
    line = _closedLine(server, clientPort)
    assert int(line["received"]) >= int(line["sent"]), description
    assert (len(echoed), end) == (int(line["sent"]), None), (
        f"the client got {len(echoed)} bytes and {end!r}; the log: {line[0]}"
    )


@pytest_twisted.ensureDeferred
async def test_echoGraceZeroStopsAtOnce(tmp_path: Path) -> None:
    """
    With C{--grace 0}, SIGTERM cuts a connection whose echo is backed up
    (its client does not read) at once: twistd exits with status 0 within
    moments, rather than waiting for the client.
    """
    port = _freePort()
    command = _echoCommand(port, "--grace", "0")
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        client, _ = await inThread(_openFlooded, port)
        with client:
            server.kill("TERM")
            elapsed = await _endedWithin(server, STOP_TIMEOUT)
            _, end = await inThread(_readToEnd, client)

    description = server.describe()
    _assertCleanExit(server, description)
    assert elapsed < AT_ONCE, (elapsed, description)
    assert isinstance(end, ConnectionResetError), (end, description)


# 3. A second signal.


async def _refusing(port: int) -> bool:
    """
    @return: whether nothing accepts connections on 127.0.0.1:C{port}.
    """
    reactor = _reactor()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5)
    try:
        connecting = endpoint.connect(Factory.forProtocol(Protocol))
        protocol: Any = await connecting.addTimeout(TIMEOUT, reactor)
    except ConnectError:
        return True
    protocol.transport.loseConnection()
    return False


@pytest_twisted.ensureDeferred
async def test_secondSignalCutsEveryConnection(tmp_path: Path) -> None:
    """
    After a first SIGTERM, twistd stops listening and waits (C{--grace
    30}) for a client that does not read; a second SIGTERM cuts that
    connection at once, and twistd exits with status 0.
    """
    port = _freePort()
    command = _echoCommand(port, "--grace", "30")
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        client, _ = await inThread(_openFlooded, port)
        with client:
            server.kill("TERM")
            deadline = time.monotonic() + TIMEOUT
            while not await _refusing(port):
                assert time.monotonic() < deadline, server.describe()
                await deferLater(_reactor(), POLL_INTERVAL, lambda: None)
            assert not server.ended, server.describe()

            server.kill("TERM")
            elapsed = await _endedWithin(server, STOP_TIMEOUT)
            _, end = await inThread(_readToEnd, client)

    description = server.describe()
    _assertCleanExit(server, description)
    assert elapsed < AT_ONCE, (elapsed, description)
    assert "Received SIGTERM again" in _log(server), description
    assert isinstance(end, ConnectionResetError), (end, description)


# 4. Limits, in this process.


@contextlib.asynccontextmanager
async def _serving(*args: str) -> AsyncIterator[list[int]]:
    """
    Build C{twistd netlab ARGS...} with L{tap.makeService} on the real
    reactor, start it, and stop it on the way out.

    @return: (as the context's value) the port of each endpoint it listens
        on, in order.
    """
    reactor = _reactor()
    options = tap.Options()
    options.parseOptions(list(args))
    service = tap.makeService(options, reactor)
    service.startService()
    try:
        ports = []
        for child in service:
            if isinstance(child, StreamServerEndpointService):
                listening = await _whenListening(child)
                ports.append(listening.getHost().port)
        yield ports
    finally:
        await service.stopService().addTimeout(TIMEOUT, reactor)


LIMITS = {
    "max-per-source": (
        ["--max-per-source", "2"],
        "too many connections from your address (2); close one and try again",
    ),
    "max-connections": (
        ["--max-connections", "2", "--max-per-source", "0"],
        "the server has too many connections (2); try again later",
    ),
}
"""
Each limit: the options that set it to 2 connections, and what a peer over
it is told.
"""


def _overLimit(port: int) -> tuple[list[bytes], bytes, list[bytes]]:
    """
    Hold two connections, each answered; open a third and read it to its
    end; have the first two answered again.

    @return: the replies of the first two, what the third got, and the
        replies of the first two afterwards.
    """
    with _connected(port) as first, _connected(port) as second:
        before = [_ask(first, b"one"), _ask(second, b"two")]
        with _connected(port) as third:
            refused, end = _readToEnd(third)
            assert end is None, end
        after = [_ask(first, b"three"), _ask(second, b"four")]
    return before, refused, after


@pytest.mark.parametrize("limit", sorted(LIMITS))
@pytest_twisted.ensureDeferred
async def test_tsservOverLimit(limit: str, checkClassicReply: Any) -> None:
    """
    tsserv tells a connection over C{--max-per-source} or
    C{--max-connections} why, in one C{error: ...} line, and closes it; the
    two connections already open are still answered.
    """
    options, text = LIMITS[limit]
    async with _serving("tsserv", *_listen(0), "--grace", "1", *options) as [port]:
        before, refused, after = await inThread(_overLimit, port)
    assert refused == b"error: %s\n" % text.encode()
    words = [b"one", b"two", b"three", b"four"]
    for reply, data in zip(before + after, words, strict=True):
        checkClassicReply(reply, data)


@pytest.mark.parametrize("limit", sorted(LIMITS))
@pytest_twisted.ensureDeferred
async def test_echoOverLimit(limit: str) -> None:
    """
    echo closes a connection over C{--max-per-source} or
    C{--max-connections} without a word; the two connections already open
    are still echoed.
    """
    options, _ = LIMITS[limit]
    args = ["echo", "--no-udp", *_listen(0), "--grace", "1", *options]
    async with _serving(*args) as [port]:
        before, refused, after = await inThread(_overLimit, port)
    assert (before, refused, after) == ([b"one", b"two"], b"", [b"three", b"four"])


@pytest.mark.parametrize("limit", sorted(LIMITS))
@pytest_twisted.ensureDeferred
async def test_chatOverLimit(limit: str) -> None:
    """
    chat tells a connection over C{--max-per-source} or
    C{--max-connections} why, in one C{ERR * <limit> ...} line, and closes
    it; the two users already connected still chat.
    """
    options, text = LIMITS[limit]
    async with _serving("chat", *_listen(0), "--grace", "1", *options) as [port]:
        alice = await user(port, "alice")
        bob = await user(port, "bob")
        reactor = _reactor()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5)
        third = await connectProtocol(endpoint, ChatClient()).addTimeout(
            TIMEOUT, reactor
        )
        await third.waitClosed()
        alice.send(b"still here")
        await bob.untilLine(b"MSG #lobby alice still here")
    assert third.lines == [b"ERR * %s %s" % (limit.encode(), text.encode())]
    assert third.badEndings == []
    assert third.closeReason is not None
    assert third.closeReason.check(ConnectionDone), third.closeReason


IDLE_TIMEOUT = 0.5
"""
The C{--idle-timeout} of the idle tests, in seconds.
"""

TICK = 0.1
"""
Seconds between two messages of a connection that keeps talking.
"""


def _idle(port: int) -> tuple[bytes, OSError | None, float, list[bytes], bytes]:
    """
    Open two connections: one says nothing, the other sends a few bytes
    every tenth of a second, and goes on for twice the idle timeout after
    the quiet one was closed.

    @return: what the quiet one got, the error that ended it (L{None} for a
        clean close), seconds until it was closed, the replies of the
        talking one, and its reply to a last message.
    """
    started = time.monotonic()
    deadline = started + CLIENT_TIMEOUT
    with _connected(port) as quiet, _connected(port) as talker:
        heard = bytearray()
        end: OSError | None = None
        closedAfter = float("inf")
        replies = []
        while time.monotonic() < deadline:
            if closedAfter == float("inf"):
                # Wait for the quiet one for at most a tick.
                readable, _, _ = select.select([quiet], [], [], TICK)
                if readable:
                    try:
                        data = quiet.recv(4096)
                    except OSError as e:
                        data, end = b"", e
                    heard += data
                    if not data:
                        closedAfter = time.monotonic() - started
            elif time.monotonic() - started > closedAfter + 2 * IDLE_TIMEOUT:
                break
            else:
                # Pace the talking one: a few bytes every tick.
                time.sleep(TICK)
            replies.append(_ask(talker, b"tick"))
        last = _ask(talker, b"last")
    return bytes(heard), end, closedAfter, replies, last


@pytest.mark.parametrize(
    "service, goodbye",
    [
        ("tsserv", b"error: nothing sent or received for 0.5s; goodbye\n"),
        ("echo", b""),
    ],
)
@pytest_twisted.ensureDeferred
async def test_idleTimeout(service: str, goodbye: bytes) -> None:
    """
    With C{--idle-timeout 0.5}, a connection that neither sends nor
    receives is closed within about a second (tsserv says why in one line,
    echo says nothing), while one that keeps talking stays open and
    answered.
    """
    args = [service, *_listen(0), "--idle-timeout", str(IDLE_TIMEOUT)]
    if service == "echo":
        args.append("--no-udp")
    async with _serving(*args) as [port]:
        heard, end, closedAfter, replies, last = await inThread(_idle, port)
    assert (heard, end) == (goodbye, None)
    assert IDLE_TIMEOUT - 0.1 <= closedAfter <= 1.5, closedAfter
    assert len(replies) >= 10, replies
    assert all(reply.endswith(b"tick") for reply in replies), replies
    assert last.endswith(b"last"), last


# 5. Metrics and the structured log, on three services in one process.


def _threeServices(
    tsPort: int, echoPort: int, udpPort: int, chatPort: int, *metrics: str
) -> list[str]:
    """
    @return: the arguments after C{netlab} for tsserv (at most one
        connection per source), echo over TCP and UDP and chat, joined with
        C{+}, on 127.0.0.1.
    """
    return [
        "tsserv",
        *_listen(tsPort),
        "--max-per-source",
        "1",
        *metrics,
        "+",
        "echo",
        *_listen(echoPort),
        "--udp-port",
        str(udpPort),
        "--udp-interface",
        "127.0.0.1",
        "+",
        "chat",
        *_listen(chatPort),
    ]


REFUSED = 5
"""
Connections over tsserv's limit in the traffic of L{_traffic}.
"""


def _traffic(tsPort: int, echoPort: int, udpPort: int) -> dict[str, Any]:
    """
    One tsserv connection that sends C{hello}, with L{REFUSED} more
    refused while it is open; one echo connection that sends 40 bytes and
    half-closes; one echo datagram.

    @return: the client ports and what each got.
    """
    got: dict[str, Any] = {}
    with _connected(tsPort) as stamped:
        got["tsPort"] = stamped.getsockname()[1]
        got["stamp"] = _ask(stamped, b"hello")
        got["refused"] = []
        for _ in range(REFUSED):
            with _connected(tsPort) as refused:
                got["refused"].append(_readToEnd(refused))
    with _connected(echoPort) as echoed:
        got["echoPort"] = echoed.getsockname()[1]
        echoed.sendall(b"ping" * 10)
        echoed.shutdown(socket.SHUT_WR)
        got["echo"] = _readToEnd(echoed)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagrams:
        datagrams.settimeout(CLIENT_TIMEOUT)
        datagrams.sendto(b"datagram", ("127.0.0.1", udpPort))
        got["datagram"] = datagrams.recvfrom(1024)
    return got


@pytest_twisted.ensureDeferred
async def test_metrics(tmp_path: Path) -> None:
    """
    C{--metrics} on C{twistd netlab tsserv ... + echo ... + chat ...}
    serves the Prometheus text format at GET /metrics: connections,
    bytes and messages of each service move with traffic (bytes of open
    connections included, and kept when they close), a refused connection
    is counted by reason, chat users and rooms are gauged, and the
    process's own metrics are there.
    """
    ts, echo, chat, metrics = (_freePort() for _ in range(4))
    udp = _freePort(socket.SOCK_DGRAM)
    command = _twistd(
        *_threeServices(ts, echo, udp, chat, "--metrics", f"tcp:{metrics}:{LOCAL}")
    )
    ready = both(
        acceptingTCP(ts),
        acceptingTCP(echo),
        answeringEcho(udp),
        acceptingTCP(chat),
        acceptingTCP(metrics),
    )
    async with serving(command, tmp_path, ready) as server:
        before = await _untilMetrics(metrics, _noneOpen, "quiet after the probes")
        got = await inThread(_traffic, ts, echo, udp)
        alice = await user(chat, "alice")
        bob = await user(chat, "bob")
        alice.send(b"hi")
        await bob.untilLine(b"MSG #lobby alice hi")
        contentType, during = await inThread(_scrape, metrics)
        alice.transport.loseConnection()
        bob.transport.loseConnection()
        after = await _untilMetrics(metrics, _noneOpen, "every connection closed")

    description = f"{server.describe()}--- metrics ---\n{_netlab(during)}"

    def grew(samples: Samples, name: str, service: str, transport: str) -> float:
        labels = {"service": service, "transport": transport}
        now = _value(samples, name, **labels)
        assert now is not None, (name, labels, description)
        return now - (_value(before, name, **labels) or 0)

    assert contentType.startswith("text/plain"), contentType
    refusal = b"error: too many connections from your address (1); close one"
    assert all(
        refused.startswith(refusal) and end is None for refused, end in got["refused"]
    ), got
    tsExpected = {
        "netlab_connections_total": 1,
        "netlab_received_bytes_total": 5,
        "netlab_sent_bytes_total": len(got["stamp"]),
        "netlab_messages_total": 1,
    }
    echoExpected = {
        "netlab_connections_total": 1,
        "netlab_received_bytes_total": 40,
        "netlab_sent_bytes_total": 40,
    }
    udpExpected = {
        "netlab_received_bytes_total": 8,
        "netlab_sent_bytes_total": 8,
        "netlab_messages_total": 1,
    }
    chatSent = len(b"alice\r\n" + b"bob\r\n" + b"hi\r\n")
    chatExpected = {
        "netlab_connections_total": 2,
        "netlab_received_bytes_total": chatSent,
        "netlab_messages_total": 3,
    }
    for samples in during, after:
        for service, transport, expected in [
            ("tsserv", "tcp", tsExpected),
            ("echo", "tcp", echoExpected),
            ("echo", "udp", udpExpected),
            ("chat", "tcp", chatExpected),
        ]:
            for name, count in expected.items():
                assert grew(samples, name, service, transport) == count, (
                    name,
                    service,
                    transport,
                    description,
                )
        assert grew(samples, "netlab_messages_total", "echo", "tcp") >= 1
        assert grew(samples, "netlab_sent_bytes_total", "chat", "tcp") > 0
        refusals = {
            reason: _value(
                samples,
                "netlab_refusals_total",
                service="tsserv",
                transport="tcp",
                reason=reason,
            )
            for reason in ("max-per-source", "max-connections", "idle-timeout")
        }
        assert refusals == {
            "max-per-source": REFUSED,
            "max-connections": 0,
            "idle-timeout": 0,
        }, description
        assert _value(samples, "netlab_chat_rooms", service="chat") == 1
    assert _value(during, "netlab_chat_users", service="chat") == 2, description
    assert _value(after, "netlab_chat_users", service="chat") == 0, description
    assert grew(during, "netlab_connections_open", "chat", "tcp") == 2, description
    assert (
        _value(during, "netlab_connections_total", service="echo", transport="udp")
        is None
    )
    processMetrics = {name for name, _ in during if name.startswith("process_")}
    assert {"process_cpu_seconds_total", "process_open_fds"} <= processMetrics


def _events(output: str) -> list[dict[str, Any]]:
    """
    @return: the events of a JSON log (twist --log-format json): one JSON
        object each, after a record separator.
    """
    return [
        json.loads(record)
        for record in output.split("\x1e")
        if record.strip().startswith("{")
    ]


def _chatOnce(port: int) -> int:
    """
    Connect to the chat, read the greeting, register as C{dora}, read until
    she has joined, and close.

    @return: the client's port.
    """
    with _connected(port) as client:
        heard = b""
        while b"\r\n" not in heard:
            heard += client.recv(4096)
        client.sendall(b"dora\r\n")
        while b"JOIN #lobby dora\r\n" not in heard:
            data = client.recv(4096)
            assert data, heard
            heard += data
        clientPort: int = client.getsockname()[1]
        return clientPort


@pytest_twisted.ensureDeferred
async def test_twistLogsConnectionsAsJSON(tmp_path: Path) -> None:
    """
    C{twist --log-format json netlab tsserv ... + echo ... + chat ...} logs
    each connection opened and closed as a JSON event with the fields
    service, peer, duration, bytesReceived, bytesSent and why; five refused
    connections make one refusal warning (with its code), not five; and
    SIGTERM ends twist with status 0.
    """
    ts, echo, chat = _freePort(), _freePort(), _freePort()
    udp = _freePort(socket.SOCK_DGRAM)
    command = [
        *RUNNERS["twist"],
        "--log-format",
        "json",
        "netlab",
        *_threeServices(ts, echo, udp, chat),
    ]
    ready = both(
        acceptingTCP(ts), acceptingTCP(echo), answeringEcho(udp), acceptingTCP(chat)
    )
    async with serving(command, tmp_path, ready) as server:
        got = await inThread(_traffic, ts, echo, udp)
        chatPort = await inThread(_chatOnce, chat)
        server.kill("TERM")
        await _endedWithin(server, STOP_TIMEOUT)

    description = server.describe()
    _assertCleanExit(server, description)
    events = _events(server.out)
    assert events, description
    policies = [e for e in events if e.get("log_namespace") == "netlab.policies"]

    def connection(service: str, port: int) -> tuple[dict[str, Any], dict[str, Any]]:
        peer = f"127.0.0.1:{port}"
        mine = [e for e in policies if e.get("peer") == peer]
        opened = [e for e in mine if "bytesReceived" not in e]
        closed = [e for e in mine if "bytesReceived" in e]
        assert len(opened) == len(closed) == 1, (service, mine)
        for event in opened + closed:
            assert event["service"] == service, event
            assert event["log_level"]["name"] == "info", event
        return opened[0], closed[0]

    _, tsClosed = connection("tsserv", got["tsPort"])
    assert tsClosed["bytesReceived"] == 5
    assert tsClosed["bytesSent"] == len(got["stamp"])
    assert tsClosed["why"] == "Connection was closed cleanly."
    assert isinstance(tsClosed["duration"], float) and tsClosed["duration"] >= 0
    _, echoClosed = connection("echo", got["echoPort"])
    assert (echoClosed["bytesReceived"], echoClosed["bytesSent"]) == (40, 40)
    assert got["echo"] == (b"ping" * 10, None)
    _, chatClosed = connection("chat", chatPort)
    assert chatClosed["bytesReceived"] == len(b"dora\r\n")
    assert chatClosed["bytesSent"] > 0

    refusals = [e for e in policies if e.get("code") == "max-per-source"]
    assert len(refusals) == 1, refusals
    assert refusals[0]["service"] == "tsserv"
    assert refusals[0]["log_level"]["name"] == "warn"


JSON_OBSERVER = """
from twisted.logger import jsonFileLogObserver


def observer():
    return jsonFileLogObserver(open("events.json", "a"))
"""
"""
A log observer factory for C{twistd --logger}: JSON events to a file.
"""

TWISTD_FROM_HERE = (
    "import sys; sys.path.insert(0, ''); from twisted.scripts.twistd import run; run()"
)
"""
twistd, with the current directory on the path, where C{--logger} finds
L{JSON_OBSERVER}.
"""


def _echoOnce(port: int) -> tuple[int, tuple[bytes, OSError | None]]:
    """
    Send C{ping} to the echo service, half-close, and read to the end.

    @return: the client's port, and what L{_readToEnd} returned.
    """
    with _connected(port) as client:
        client.sendall(b"ping")
        client.shutdown(socket.SHUT_WR)
        clientPort: int = client.getsockname()[1]
        return clientPort, _readToEnd(client)


@pytest_twisted.ensureDeferred
async def test_twistdLoggerOption(tmp_path: Path) -> None:
    """
    C{twistd --logger FACTORY} still decides where netlab's events go: a
    JSON observer gets each connection's events with their fields.
    """
    (tmp_path / "jsonlog.py").write_text(JSON_OBSERVER)
    port = _freePort()
    command = [
        "python",
        "-c",
        TWISTD_FROM_HERE,
        "-n",
        "--pidfile=",
        "--logger",
        "jsonlog.observer",
        "netlab",
        "echo",
        "--no-udp",
        *_listen(port),
    ]
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        clientPort, echoed = await inThread(_echoOnce, port)
        server.kill("TERM")
        await _endedWithin(server, STOP_TIMEOUT)

    events = _events((tmp_path / "events.json").read_text())
    description = f"{server.describe()}--- events ---\n{events}"
    _assertCleanExit(server, description)
    assert echoed == (b"ping", None)
    closed = [
        e
        for e in events
        if e.get("peer") == f"127.0.0.1:{clientPort}" and "bytesSent" in e
    ]
    assert len(closed) == 1, description
    assert closed[0]["log_namespace"] == "netlab.policies"
    assert closed[0]["service"] == "echo"
    assert (closed[0]["bytesReceived"], closed[0]["bytesSent"]) == (4, 4)
    assert closed[0]["why"] == "Connection was closed cleanly."
    assert any(e.get("signal") == "SIGTERM" for e in events), description


# 6. All four services.

DEFAULT_PORTS = [
    (socket.SOCK_STREAM, 21567, "tsserv"),
    (socket.SOCK_DGRAM, 21567, "tsuserv"),
    (socket.SOCK_STREAM, 21568, "echo"),
    (socket.SOCK_DGRAM, 21568, "echo"),
    (socket.SOCK_STREAM, 21569, "chat"),
]


def _busyDefaultPorts() -> list[str]:
    """
    @return: the default ports of C{twistd netlab all} that cannot be bound
        now, as C{tcp 21567 (tsserv)}.
    """
    busy = []
    for kind, port, service in DEFAULT_PORTS:
        with socket.socket(socket.AF_INET, kind) as probe:
            if kind == socket.SOCK_STREAM:
                # As Twisted's TCP ports do.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("", port))
            except OSError:
                name = "tcp" if kind == socket.SOCK_STREAM else "udp"
                busy.append(f"{name} {port} ({service})")
    return busy


@pytest_twisted.ensureDeferred
async def test_allServesEveryService(
    tmp_path: Path, tsTclnt: Any, tsUclnt: Any, checkClassicReply: Any
) -> None:
    """
    C{twistd -n --logfile FILE netlab all --grace 1} serves tsserv, tsuserv,
    echo (TCP and UDP) and chat on their default ports, logs their
    connections to the file, and exits with status 0 on SIGTERM, a chat
    user being told goodbye.  Skipped when a default port is taken.
    """
    busy = _busyDefaultPorts()
    if busy:
        pytest.skip(f"default ports of 'netlab all' in use: {', '.join(busy)}")
    logFile = tmp_path / "all.log"
    command = [
        *RUNNERS["twistd"],
        f"--logfile={logFile}",
        "netlab",
        "all",
        "--grace",
        "1",
    ]
    ready = both(
        acceptingTCP(21567),
        answeringUDP(21567),
        acceptingTCP(21568),
        answeringEcho(21568),
        acceptingTCP(21569),
    )
    server = _spawn(command, tmp_path)
    try:
        try:
            await _untilReady(server, ready)
        except AssertionError:
            log = logFile.read_text() if logFile.exists() else ""
            if "another program is using it" in _log(server) + log:
                pytest.skip(f"a default port was taken meanwhile:\n{log}")
            raise
        stamped = await tsTclnt(("127.0.0.1", 21567), [b"hello"])
        datagrams = await tsUclnt(("127.0.0.1", 21567), [b"hi"])
        echoed = await tsTclnt(("127.0.0.1", 21568), [b"ping"])
        echoedDatagrams = await tsUclnt(("127.0.0.1", 21568), [b"pong"])
        alice = await user(21569, "alice")
        server.kill("TERM")
        await alice.waitClosed(STOP_TIMEOUT)
        await _endedWithin(server, 1.0 + GRACE_SLACK)
    finally:
        await server.stop()

    log = logFile.read_text()
    description = f"{server.describe()}--- log ---\n{log}"
    checkClassicReply(stamped[0], b"hello")
    checkClassicReply(datagrams[0][0], b"hi")
    assert echoed == [b"ping", b""]
    assert echoedDatagrams == [(b"pong", ("127.0.0.1", 21568))]
    assert alice.lines[-1] == GOODBYE, alice.lines
    assert server.exitCode == 0, description
    assert server.endSignal is None, description
    assert "Traceback" not in log + _log(server), description
    for service in "tsserv", "echo", "chat":
        assert re.search(service + r": connection from 127\.0\.0\.1:\d+ closed", log)
    assert "Received SIGTERM" in log, description


# 7. Usage errors.


@pytest.mark.parametrize(
    "args, message",
    [
        (["tsserv", "+"], "name a service after each '+', e.g. tsserv + echo"),
        (
            ["all", "+", "echo"],
            "'all' already runs every service; it cannot be joined with '+'",
        ),
        (
            ["echo", "+", "all"],
            "'all' already runs every service; it cannot be joined with '+'",
        ),
    ],
)
@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest_twisted.ensureDeferred
async def test_usageError(
    runner: str, args: list[str], message: str, tmp_path: Path
) -> None:
    """
    A bad use of C{+} on the command line ends twistd and twist with a
    non-zero status and one line saying what is wrong, no traceback.
    (twistd prints usage errors, its own included, on standard output
    after the usage text; twist prints them on standard error as
    C{Error: ...}.)
    """
    process = await run([*RUNNERS[runner], "netlab", *args], tmp_path)
    description = process.describe()
    assert process.exitCode not in (0, None), description
    assert "Traceback" not in _log(process), description
    lines = [line for line in _log(process).splitlines() if message in line]
    assert len(lines) == 1, description
    if runner == "twist":
        assert lines[0] == f"Error: {message}", description
        assert lines[0] in process.err.splitlines(), description
    else:
        assert lines[0].endswith(f": {message}"), description
