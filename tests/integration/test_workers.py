"""
C{--workers N} as it is operated: real C{twistd} processes (the installed
netlab) with a parent and worker processes on loopback.

pytest-twisted tests: run them with pytest, not trial.  Processes are
started as L{tests.integration.test_twistd} starts them; blocking clients
run in threads; every wait is a bounded poll, never a sleep, and nothing is
timed: a loaded machine only makes the tests slower.  Every process is
ended in C{finally}.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.task import deferLater

from tests._certificates import CertificateFiles, selfSigned
from tests.integration.test_echo_loopback import inThread
from tests.integration.test_operations import (
    CLIENT_TIMEOUT,
    Samples,
    _assertCleanExit,
    _endedWithin,
    _netlab,
    _readToEnd,
    _scrape,
    _twistd,
    _value,
)
from tests.integration.test_twistd import (
    POLL_INTERVAL,
    STOP_TIMEOUT,
    _freePort,
    _Process,
    _untilReady,
    acceptingTCP,
    answeringEcho,
    assertOneErrorLine,
    both,
    run,
    serving,
)

TIMEOUT = 60.0
"""
Seconds a condition polled for may take to come true (generous: the
machine may be busy).
"""

LOCAL = "interface=127.0.0.1"


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


async def _until(
    check: Callable[[], Any], what: str, process: _Process, timeout: float = TIMEOUT
) -> Any:
    """
    Poll C{check} (run in a thread) until it returns something true.

    @return: what it returned.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        assert not process.ended, f"the server ended:\n{process.describe()}"
        last = await inThread(check)
        if last:
            return last
        assert time.monotonic() < deadline, (
            f"no {what} in {timeout}s (last: {last!r}):\n{process.describe()}"
        )
        await deferLater(_reactor(), POLL_INTERVAL, lambda: None)


def _metricsOf(port: int) -> Callable[[Callable[[Samples], bool]], Any]:
    def when(condition: Callable[[Samples], bool]) -> Any:
        def check() -> Samples | None:
            samples = _scrape(port)[1]
            return samples if condition(samples) else None

        return check

    return when


def _workerPids(samples: Samples) -> dict[str, int]:
    """
    @return: the PID of each running worker, by its number.
    """
    return {
        dict(labels)["worker"]: int(dict(labels)["pid"])
        for (name, labels), value in samples.items()
        if name == "netlab_worker_info" and value == 1
    }


def _bothReady(samples: Samples) -> bool:
    """
    @return: whether both workers are running and ready.
    """
    alive = _value(samples, "netlab_workers_alive", worker="parent")
    return len(_workerPids(samples)) == 2 and alive == 2


def _openOn(samples: Samples, worker: str, service: str = "echo") -> float:
    return (
        _value(
            samples,
            "netlab_connections_open",
            service=service,
            transport="tcp",
            worker=worker,
        )
        or 0
    )


@contextlib.contextmanager
def _clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    """
    C{count} blocking connections to 127.0.0.1:C{port}, each of which has
    had a line echoed, closed on the way out.
    """
    clients: list[socket.socket] = []
    try:
        for n in range(count):
            client = socket.create_connection(("127.0.0.1", port), CLIENT_TIMEOUT)
            clients.append(client)
            client.sendall(b"hello %d\n" % n)
            assert _recvAll(client, len(b"hello %d\n" % n)) == b"hello %d\n" % n
        yield clients
    finally:
        for client in clients:
            client.close()


def _recvAll(client: socket.socket, size: int) -> bytes:
    received = b""
    while len(received) < size:
        data = client.recv(size - len(received))
        if not data:
            break
        received += data
    return received


def _echoOnce(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), CLIENT_TIMEOUT) as client:
        client.sendall(b"ping\n")
        return _recvAll(client, 5)


def _echoCommand(port: int, metrics: int, *options: str) -> list[str]:
    return _twistd(
        "echo",
        "--workers",
        "2",
        "--listen",
        f"tcp:{port}:{LOCAL}",
        "--no-udp",
        "--metrics",
        f"tcp:{metrics}:{LOCAL}",
        *options,
    )


@pytest_twisted.ensureDeferred
async def test_connectionsSpreadOverWorkers(tmp_path: Path) -> None:
    """
    C{twistd netlab echo --workers 2} hands connections held open to its
    two workers evenly (each worker's PID in the metrics, its connections
    under its C{worker} label, and its log lines marked with its number);
    the parent's own series count every connection.
    """
    port, metrics = _freePort(), _freePort()
    async with serving(
        _echoCommand(port, metrics), tmp_path, acceptingTCP(metrics)
    ) as server:
        when = _metricsOf(metrics)
        samples = await _until(
            when(
                lambda s: (
                    len(_workerPids(s)) == 2
                    and _value(s, "netlab_workers_alive", worker="parent") == 2
                )
            ),
            "two workers ready",
            server,
        )
        pids = _workerPids(samples)
        assert len(set(pids.values())) == 2, _netlab(samples)
        assert server.transport.pid not in pids.values()

        def fourOpen() -> Any:
            with _clients(port, 4):
                return when(
                    lambda s: (
                        _openOn(s, "1") == 2
                        and _openOn(s, "2") == 2
                        and _openOn(s, "parent") == 4
                    )
                )()

        samples = await _until(fourOpen, "two connections on each worker", server)
        log = server.out
        assert "[worker 1] echo: connection from 127.0.0.1:" in log, log
        assert "[worker 2] echo: connection from 127.0.0.1:" in log, log
    _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_killedWorkerIsRestarted(tmp_path: Path) -> None:
    """
    A worker killed with SIGKILL is started again (logged, counted in
    C{netlab_worker_restarts_total}); meanwhile every connection is
    answered, by the worker left.
    """
    port, metrics = _freePort(), _freePort()
    async with serving(
        _echoCommand(port, metrics), tmp_path, acceptingTCP(metrics)
    ) as server:
        when = _metricsOf(metrics)
        samples = await _until(when(_bothReady), "two workers", server)
        killed = _workerPids(samples)["1"]
        os.kill(killed, signal.SIGKILL)
        answers = []

        def restarted() -> Any:
            answers.append(_echoOnce(port))
            return when(
                lambda s: (
                    _value(s, "netlab_worker_restarts_total", worker="parent") == 1
                    and _value(s, "netlab_workers_alive", worker="parent") == 2
                    and _workerPids(s).get("1") not in (None, killed)
                )
            )()

        await _until(restarted, "worker 1 restarted", server)
        assert answers and all(answer == b"ping\n" for answer in answers), answers
        assert await inThread(_echoOnce, port) == b"ping\n"
        ended = f"worker 1 (pid {killed}) ended unexpectedly (killed by SIGKILL)"
        assert ended in server.out, server.out
    _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_workerDrainingOnItsOwn(tmp_path: Path) -> None:
    """
    A worker sent SIGTERM on its own drains its connections for C{--grace}
    while the parent hands every new connection to the other worker: none
    is reset meanwhile.  Once drained, it is started again.
    """
    port, metrics = _freePort(), _freePort()
    async with serving(
        _echoCommand(port, metrics, "--grace", "20"), tmp_path, acceptingTCP(metrics)
    ) as server:
        when = _metricsOf(metrics)
        samples = await _until(when(_bothReady), "two workers", server)
        draining = _workerPids(samples)["1"]
        with _clients(port, 2):
            await _until(
                when(lambda s: _openOn(s, "1") == 1 and _openOn(s, "2") == 1),
                "a connection on each worker",
                server,
            )
            os.kill(draining, signal.SIGTERM)
            await _until(
                lambda: f"worker 1 (pid {draining}) is draining" in server.out,
                "worker 1 draining",
                server,
            )
            answers = [await inThread(_echoOnce, port) for _ in range(10)]
            assert answers == [b"ping\n"] * 10, (answers, server.describe())
            assert "without its listener" not in server.out, server.out
        await _until(
            when(
                lambda s: (
                    _value(s, "netlab_workers_alive", worker="parent") == 2
                    and _workerPids(s).get("1") not in (None, draining)
                )
            ),
            "worker 1 started again",
            server,
        )
    _assertCleanExit(server)


@pytest.mark.parametrize("signalName", ["TERM", "INT", "TERM to every process"])
@pytest_twisted.ensureDeferred
async def test_sigtermDrainsConnectedClients(signalName: str, tmp_path: Path) -> None:
    """
    On SIGTERM or SIGINT to the parent, or SIGTERM to every process of the
    service at once (as systemd stops a service, and as a terminal's
    Ctrl-C reaches its whole process group), the parent stops listening
    and its workers drain: every connected client gets what it sent
    echoed, then a clean end of file; every worker and the parent exit
    with status 0.  A worker signalled as well as told by its parent takes
    it for one stop, not for a second signal that cuts connections.
    """
    port, metrics = _freePort(), _freePort()
    async with serving(
        _echoCommand(port, metrics), tmp_path, acceptingTCP(metrics)
    ) as server:
        when = _metricsOf(metrics)
        samples = await _until(when(_bothReady), "two workers", server)
        with contextlib.ExitStack() as stack:
            clients = stack.enter_context(_clients(port, 4))
            await _until(
                when(lambda s: _openOn(s, "parent") == 4), "four connections", server
            )
            for n, client in enumerate(clients):
                client.sendall(b"last %d\n" % n)
            # Signalled once the workers have read every last line: one
            # still in flight when the signal lands is not one to drain.
            sent = sum(len(b"hello %d\nlast %d\n" % (n, n)) for n in range(4))
            await _until(
                when(
                    lambda s: (
                        sum(
                            _value(
                                s,
                                "netlab_received_bytes_total",
                                service="echo",
                                transport="tcp",
                                worker=worker,
                            )
                            or 0
                            for worker in ("1", "2")
                        )
                        == sent
                    )
                ),
                "every last line read",
                server,
            )
            if signalName == "TERM to every process":
                for pid in _workerPids(samples).values():
                    os.kill(pid, signal.SIGTERM)
                server.kill("TERM")
            else:
                server.kill(signalName)
            ends = [await inThread(_readToEnd, client) for client in clients]
        await _endedWithin(server, STOP_TIMEOUT + 10)
        for n, (data, error) in enumerate(ends):
            assert error is None, (n, error, server.describe())
            assert data == b"last %d\n" % n, (n, data, server.describe())
    _assertCleanExit(server)
    assert server.out.count("stopped (exit status 0)") == 2, server.out
    assert "closing every connection now" not in server.out, server.out


@pytest_twisted.ensureDeferred
async def test_startupErrorReportedOnce(tmp_path: Path) -> None:
    """
    A port in use ends C{--workers 2} with one line from the parent, exit
    status 1, before any worker starts.
    """
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = await run(
            _twistd("echo", "--workers", "2", "--listen", f"tcp:{port}:{LOCAL}"),
            tmp_path,
        )
    assertOneErrorLine(process, "netlab echo: error: ", f"cannot listen on tcp:{port}")
    assert "worker 1" not in process.out + process.err, process.describe()


@pytest_twisted.ensureDeferred
async def test_chatNeedsBus(tmp_path: Path) -> None:
    """
    C{chat --workers 2} ends with one line saying it needs C{--bus}, exit
    status 1.
    """
    process = await run(
        _twistd("chat", "--workers", "2", "--listen", f"tcp:{_freePort()}:{LOCAL}"),
        tmp_path,
    )
    assertOneErrorLine(
        process, "netlab chat: error: ", "chat cannot run with --workers"
    )
    assert "--bus" in process.out + process.err


def _refusedWith(port: int, wrap: Callable[[socket.socket], socket.socket]) -> bytes:
    with wrap(socket.create_connection(("127.0.0.1", port), CLIENT_TIMEOUT)) as extra:
        return _readToEnd(extra)[0]


def _stamped(client: socket.socket) -> bytes:
    client.sendall(b"hi\n")
    received = b""
    while not received.endswith(b"\n"):
        data = client.recv(4096)
        if not data:
            break
        received += data
    return received


@pytest_twisted.ensureDeferred
async def test_limitsAcrossWorkers(tmp_path: Path) -> None:
    """
    C{--max-per-source 3} holds for the service as a whole: with three
    connections open over two workers, a fourth is refused by the parent
    with the line a single process writes; once one closes, a new one is
    served.
    """
    port, metrics = _freePort(), _freePort()
    command = _twistd(
        "tsserv",
        "--workers",
        "2",
        "--framing",
        "line",
        "--listen",
        f"tcp:{port}:{LOCAL}",
        "--max-per-source",
        "3",
        "--metrics",
        f"tcp:{metrics}:{LOCAL}",
    )
    async with serving(command, tmp_path, acceptingTCP(metrics)) as server:
        when = _metricsOf(metrics)
        await _until(when(_bothReady), "two workers", server)

        def overLimit() -> tuple[list[bytes], bytes, bytes]:
            clients = [
                socket.create_connection(("127.0.0.1", port), CLIENT_TIMEOUT)
                for _ in range(3)
            ]
            try:
                stamps = [_stamped(client) for client in clients]
                refused = _refusedWith(port, lambda s: s)
                clients.pop().close()
                deadline = time.monotonic() + TIMEOUT
                while time.monotonic() < deadline:
                    samples = _scrape(metrics)[1]
                    if _openOn(samples, "parent", "tsserv") == 2:
                        break
                    time.sleep(POLL_INTERVAL)
                with socket.create_connection(
                    ("127.0.0.1", port), CLIENT_TIMEOUT
                ) as again:
                    served = _stamped(again)
                return stamps, refused, served
            finally:
                for client in clients:
                    client.close()

        stamps, refused, served = await inThread(overLimit)
        assert all(stamp.endswith(b"] hi\n") for stamp in stamps), stamps
        assert refused == (
            b"error: too many connections from your address (3); close one and "
            b"try again\n"
        ), refused
        assert served.endswith(b"] hi\n"), served
        samples = _scrape(metrics)[1]
        assert (
            _value(
                samples,
                "netlab_refusals_total",
                service="tsserv",
                transport="tcp",
                reason="max-per-source",
                worker="parent",
            )
            == 1
        ), _netlab(samples)
    _assertCleanExit(server)


@pytest.mark.parametrize("kind", ["ssl", "tls"])
@pytest_twisted.ensureDeferred
async def test_tlsInWorkers(kind: str, tmp_path: Path) -> None:
    """
    An C{ssl:} or C{tls:} endpoint is served by the workers, which do the
    TLS (the parent accepts plain TCP); a connection over the limit is
    refused by the parent, over TLS, with the line a single process writes.
    """
    directory = tmp_path / "certificates"
    directory.mkdir()
    files: CertificateFiles = selfSigned(directory)
    port, metrics = _freePort(), _freePort()
    listen = {
        "ssl": f"ssl:{port}:{LOCAL}:privateKey={files.key}:certKey={files.certificate}",
        "tls": f"tls:{directory}:port={port}:{LOCAL}",
    }[kind]
    command = _twistd(
        "tsserv",
        "--workers",
        "2",
        "--framing",
        "line",
        "--listen",
        listen,
        "--max-per-source",
        "1",
        "--metrics",
        f"tcp:{metrics}:{LOCAL}",
    )
    context = ssl.create_default_context(cafile=str(files.certificate))

    def tls(raw: socket.socket) -> socket.socket:
        return context.wrap_socket(raw, server_hostname="localhost")

    async with serving(command, tmp_path, acceptingTCP(metrics)) as server:
        when = _metricsOf(metrics)
        await _until(when(_bothReady), "two workers", server)

        def overTLS() -> tuple[bytes, bytes]:
            with tls(
                socket.create_connection(("127.0.0.1", port), CLIENT_TIMEOUT)
            ) as c:
                return _stamped(c), _refusedWith(port, tls)

        stamped, refused = await inThread(overTLS)
        assert stamped.endswith(b"] hi\n"), stamped
        assert refused == (
            b"error: too many connections from your address (1); close one and "
            b"try again\n"
        ), refused
        samples = _scrape(metrics)[1]
        assert (
            _value(
                samples,
                "netlab_refusals_total",
                service="tsserv",
                transport="tls",
                reason="max-per-source",
                worker="parent",
            )
            == 1
        ), _netlab(samples)
    _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_udpInWorkers(tmp_path: Path) -> None:
    """
    echo's UDP socket, bound once by the parent, is read by the workers,
    which answer it; their datagrams are counted under their own labels.
    """
    udpPort, metrics = _freePort(socket.SOCK_DGRAM), _freePort()
    command = _twistd(
        "echo",
        "--workers",
        "2",
        "--no-tcp",
        "--udp-port",
        str(udpPort),
        "--udp-interface",
        "127.0.0.1",
        "--metrics",
        f"tcp:{metrics}:{LOCAL}",
    )
    async with serving(
        command, tmp_path, both(acceptingTCP(metrics), answeringEcho(udpPort))
    ) as server:
        samples = await _until(
            _metricsOf(metrics)(
                lambda s: (
                    sum(
                        _value(
                            s,
                            "netlab_messages_total",
                            service="echo",
                            transport="udp",
                            worker=worker,
                        )
                        or 0
                        for worker in ("1", "2")
                    )
                    >= 1
                )
            ),
            "an answered datagram",
            server,
        )
        assert len(_workerPids(samples)) == 2, _netlab(samples)
    _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_unixInWorkers(tmp_path: Path) -> None:
    """
    A C{unix:} endpoint is bound by the parent and its connections served
    by the workers.
    """
    path = tmp_path / "ts.sock"
    metrics = _freePort()
    command = _twistd(
        "tsserv",
        "--workers",
        "2",
        "--framing",
        "line",
        "--listen",
        f"unix:{path}",
        "--metrics",
        f"tcp:{metrics}:{LOCAL}",
    )
    async with serving(command, tmp_path, acceptingTCP(metrics)) as server:
        await _until(_metricsOf(metrics)(_bothReady), "two workers", server)

        def stamp() -> bytes:
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(CLIENT_TIMEOUT)
                client.connect(str(path))
                return _stamped(client)

        assert (await inThread(stamp)).endswith(b"] hi\n")
    _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_severalServicesOnTcp6(tmp_path: Path) -> None:
    """
    C{tsserv} on a C{tcp6:} endpoint (::1) C{+} C{echo} on 127.0.0.1,
    with one C{--workers 2}: one group of two workers serves both, every
    connection going to the least-loaded worker whatever its service.
    """
    tsPort, echoPort, metrics = _freePort(), _freePort(), _freePort()
    command = _twistd(
        "tsserv",
        "--framing",
        "line",
        "--listen",
        f"tcp6:port={tsPort}:interface=\\:\\:1",
        "--workers",
        "2",
        "--metrics",
        f"tcp:{metrics}:{LOCAL}",
        "+",
        "echo",
        "--listen",
        f"tcp:{echoPort}:{LOCAL}",
        "--no-udp",
    )
    async with serving(command, tmp_path, acceptingTCP(metrics)) as server:
        when = _metricsOf(metrics)
        await _until(when(_bothReady), "two workers", server)

        def both() -> Any:
            with contextlib.ExitStack() as stack:
                stamped = stack.enter_context(
                    socket.create_connection(("::1", tsPort), CLIENT_TIMEOUT)
                )
                assert _stamped(stamped).endswith(b"] hi\n")
                stack.enter_context(_clients(echoPort, 1))
                return when(
                    lambda s: (
                        {
                            (_openOn(s, w, "tsserv"), _openOn(s, w, "echo"))
                            for w in ("1", "2")
                        }
                        == {(1, 0), (0, 1)}
                        and _openOn(s, "parent", "tsserv") == 1
                        and _openOn(s, "parent", "echo") == 1
                    )
                )()

        await _until(both, "one connection of each service on each worker", server)
    _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_workersImportWhatTheParentImports(tmp_path: Path) -> None:
    """
    Workers run the netlab the parent runs, even when they start in a
    directory that holds another C{netlab} package (a source tree).
    """
    decoy = tmp_path / "netlab"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy was imported')\n")
    port, metrics = _freePort(), _freePort()
    async with serving(
        _echoCommand(port, metrics), tmp_path, acceptingTCP(metrics)
    ) as server:
        await _until(_metricsOf(metrics)(_bothReady), "two workers", server)
        assert await inThread(_echoOnce, port) == b"ping\n"
    _assertCleanExit(server)
    assert "decoy" not in server.out, server.out


@pytest_twisted.ensureDeferred
async def test_systemdInWorkers(tmp_path: Path) -> None:
    """
    A C{systemd:} socket passed in to the parent is served by its workers
    (which do not see systemd's variables, nor the socket itself).
    """
    from tests.integration.test_endpoints import _spawnWithSocket

    metrics = _freePort()
    command = _twistd(
        "echo",
        "--workers",
        "2",
        "--no-udp",
        "--listen",
        "systemd:domain=INET:name=echo",
        "--metrics",
        f"tcp:{metrics}:{LOCAL}",
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        server = _spawnWithSocket(
            listener, "LISTEN_FDS=1 LISTEN_FDNAMES=echo", command, tmp_path
        )
    try:
        await _untilReady(server, acceptingTCP(metrics))
        await _until(_metricsOf(metrics)(_bothReady), "two workers", server)
        assert await inThread(_echoOnce, port) == b"ping\n"
    finally:
        await server.stop()
    _assertCleanExit(server)


def _belowPrivileged() -> int:
    """
    @return: a TCP port below 1024 free on 127.0.0.1.
    """
    for port in range(1023, 900, -1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port between 901 and 1023 on 127.0.0.1")


def _ids(pid: int) -> tuple[int, int]:
    """
    @return: the real user and group ids of process C{pid}, from C{/proc}.
    """
    status = Path(f"/proc/{pid}/status").read_text()
    ids = {}
    for line in status.splitlines():
        name, _, values = line.partition(":")
        if name in ("Uid", "Gid"):
            real, effective, saved, _ = values.split()
            assert real == effective == saved, (pid, line)
            ids[name] = int(real)
    return ids["Uid"], ids["Gid"]


NOBODY = 65534


def _nobodyMayRunPython() -> bool:
    """
    @return: whether user and group L{NOBODY} may run this Python (which
        may be installed where only root may, as under C{/root}).
    """
    import subprocess

    try:
        subprocess.run(
            [sys.executable, "-c", "pass"],
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            cwd="/",
            check=True,
            capture_output=True,
            timeout=CLIENT_TIMEOUT,
        )
    except (PermissionError, subprocess.CalledProcessError):
        return False
    return True


needsRoot = pytest.mark.skipif(
    os.geteuid() != 0, reason="only root may bind below 1024 and drop privileges"
)


@needsRoot
@pytest_twisted.ensureDeferred
async def test_groupDroppedAfterBinding(tmp_path: Path) -> None:
    """
    Started as root with twistd's C{--gid}, the parent binds a port below
    1024 and its metrics, then runs, and starts every worker, in that
    group: the parent's and the workers' processes all have it, and the
    service answers.
    """
    port, metrics = _belowPrivileged(), _freePort()
    command = _echoCommand(port, metrics)
    command[1:1] = ["--gid", str(NOBODY)]
    async with serving(command, tmp_path, acceptingTCP(metrics)) as server:
        samples = await _until(_metricsOf(metrics)(_bothReady), "two workers", server)
        assert await inThread(_echoOnce, port) == b"ping\n"
        for pid in [server.transport.pid, *_workerPids(samples).values()]:
            assert _ids(pid) == (0, NOBODY), (pid, server.describe())
    _assertCleanExit(server)


@needsRoot
@pytest_twisted.ensureDeferred
async def test_userDroppedAfterBinding(tmp_path: Path) -> None:
    """
    Started as root with twistd's C{--uid} and C{--gid}, the parent binds
    a port below 1024, then runs as that user and group, and so does every
    worker it starts, and the service answers; where that user may not run
    this Python, the parent says so in one line, before any worker starts,
    and exits with status 1.
    """
    port, metrics = _belowPrivileged(), _freePort()
    command = _echoCommand(port, metrics)
    command[1:1] = ["--uid", str(NOBODY), "--gid", str(NOBODY)]
    if not _nobodyMayRunPython():
        process = await run(command, tmp_path)
        assertOneErrorLine(
            process,
            "netlab echo: error: ",
            f"cannot start the workers: this process runs as user {NOBODY} and "
            f"group {NOBODY} (--uid, --gid), which may not run ",
        )
        assert "worker 1" not in process.out + process.err, process.describe()
        return
    async with serving(command, tmp_path, acceptingTCP(metrics)) as server:
        samples = await _until(_metricsOf(metrics)(_bothReady), "two workers", server)
        assert await inThread(_echoOnce, port) == b"ping\n"
        for pid in [server.transport.pid, *_workerPids(samples).values()]:
            assert _ids(pid) == (NOBODY, NOBODY), (pid, server.describe())
    _assertCleanExit(server)


FAILING_IN_WORKERS = """\
import os

from twisted.internet.protocol import Factory, Protocol

# The parent imports this module first, to check the factory before any
# worker starts; every worker after it then fails as it starts.
_MARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imported")
if os.path.exists(_MARK):
    raise RuntimeError("this module fails in every worker")
open(_MARK, "w").close()

factory = Factory.forProtocol(Protocol)
"""


@pytest_twisted.ensureDeferred
async def test_givesUpOnWorkersThatCannotStart(tmp_path: Path) -> None:
    """
    Workers that end every time before they are ready (here, a factory
    whose module fails in each of them): after 5 tries of one, the service
    stops with one line saying so, after the reason in the log, and exit
    status 1.
    """
    (tmp_path / "failing.py").write_text(FAILING_IN_WORKERS)
    command = ["twistd", "-n", "--pidfile=", "netlab", "serve"]
    command += ["--factory", "failing:factory", "--workers", "2"]
    command += ["--listen", f"tcp:{_freePort()}:{LOCAL}"]
    process = await run(command, tmp_path, pythonPath=tmp_path)
    assert process.exitCode == 1, process.describe()
    lines = process.out.splitlines()
    [last] = [line for line in lines if "#critical]" in line]
    assert re.search(
        r"\] netlab serve: error: worker [12] ended 5 times in a row before it "
        r"was ready \(last: exit status 1\); its log lines above say why$",
        last,
    ), process.describe()
    reason = (
        ": netlab serve: error: --factory failing:factory: cannot import "
        "failing: RuntimeError: this module fails in every worker"
    )
    assert any(line.endswith(reason) for line in lines), process.describe()
    assert "Traceback" not in process.out + process.err, process.describe()
