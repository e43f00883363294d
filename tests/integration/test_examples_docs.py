"""
What the how-to guides of the documentation (docs/howto/) show and no other
test runs: the examples written for them (C{embed_services.py},
C{client_tour.py}, C{tls_echo.py}, C{jsonlog.py}), and the shell sessions of the guides
(services joined with C{+}, C{curl} of C{--metrics}, the attack suite's
command line).

pytest-twisted tests: run them with pytest, not trial.  Everything is on
loopback, every wait is bounded, and every process a test starts is stopped
in C{finally}.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import deferLater
from twisted.logger import eventsFromJSONLogFile

from netlab import tap
from netlab.chat import connectChat
from netlab.echo import echo
from netlab.timestamp import Framing, connectTimestamp, getTimestamp, getTimestampUDP
from tests._certificates import CertificateFiles, selfSigned
from tests.integration.test_echo_loopback import _whenListening, inThread
from tests.integration.test_examples_more import (
    STEP,
    assertEndedCleanly,
    runExample,
    started,
)
from tests.integration.test_twistd import (
    POLL_INTERVAL,
    RUNNERS,
    _freePort,
    _spawn,
    _untilReady,
    acceptingTCP,
    answeringEcho,
    answeringUDP,
    both,
    run,
    serving,
)

ROOT = Path(__file__).resolve().parents[2]

LOCAL = "interface=127.0.0.1"


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


@contextlib.asynccontextmanager
async def _running(*args: str) -> AsyncIterator[None]:
    """
    Build C{twistd netlab ARGS...} with L{tap.makeService} on the real
    reactor, start it, wait until its stream services listen, and stop it
    on the way out.
    """
    reactor = _reactor()
    options = tap.Options()
    options.parseOptions(list(args))
    service = tap.makeService(options, reactor)
    service.startService()
    try:
        for child in service:
            if isinstance(child, StreamServerEndpointService):
                await _whenListening(child)
        yield
    finally:
        await service.stopService().addTimeout(STEP, reactor)


def _tcp(port: int) -> TCP4ClientEndpoint:
    return TCP4ClientEndpoint(_reactor(), "127.0.0.1", port, timeout=5)


# embed_services.py


@pytest_twisted.ensureDeferred
async def test_embedServices(tmp_path: Path) -> None:
    """
    embed_services serves line-framed timestamps over TCP, timestamps over
    UDP and echo over TCP on the ports given, and stops cleanly on
    SIGTERM.
    """
    tsPort, echoPort = _sharedPort(), _freePort()
    ready = both(acceptingTCP(tsPort), acceptingTCP(echoPort), answeringUDP(tsPort))
    reactor = _reactor()
    async with started(
        "embed_services.py", tmp_path, str(tsPort), str(echoPort)
    ) as process:
        await _untilReady(process, ready)
        client = await connectTimestamp(_tcp(tsPort), Framing.LINE, 5, reactor)
        try:
            replies = [await client.request(b"one"), await client.request(b"two")]
        finally:
            await client.close()
        assert [reply.data for reply in replies] == [b"one", b"two"]
        assert await echo(_tcp(echoPort), b"ping", 5, reactor) == b"ping"
        reply = await getTimestampUDP("127.0.0.1", tsPort, b"hi", reactor=reactor)
        assert reply.data == b"hi"
        process.kill("TERM")
        await process.whenEnded(STEP)
    assertEndedCleanly(process)


# client_tour.py


@pytest_twisted.ensureDeferred
async def test_clientTour(tmp_path: Path) -> None:
    """
    client_tour against C{tsserv --framing line + tsuserv + echo + chat}
    (TCP and UDP on the same port numbers, as the defaults are) prints two
    pipelined stamps, a UDP stamp, a UDP echo, the byte count of a file
    streamed through the echo server (whose copy is equal), and the chat
    session's events and replies, and exits with status 0.
    """
    ts = _sharedPort()
    echoPort = _sharedPort()
    chat = _freePort()
    data = bytes(range(256)) * 4096  # 1 MiB
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    args = [
        *["tsserv", "--framing", "line", "--listen", f"tcp:{ts}:{LOCAL}"],
        *["+", "tsuserv", "--udp-port", str(ts), "--udp-interface", "127.0.0.1"],
        *["+", "echo", "--listen", f"tcp:{echoPort}:{LOCAL}"],
        *["--udp-port", str(echoPort), "--udp-interface", "127.0.0.1"],
        *["+", "chat", "--listen", f"tcp:{chat}:{LOCAL}"],
    ]
    async with _running(*args):
        process = await runExample(
            "client_tour.py",
            tmp_path,
            str(source),
            "127.0.0.1",
            str(ts),
            str(echoPort),
            str(chat),
        )
    assert process.exitCode == 0, process.describe()
    assert process.err == "", process.describe()
    lines = process.out.splitlines()
    assert [line.split()[-1] for line in lines[:2]] == ["a", "b"], lines
    assert lines[0].startswith("line: ") and lines[1].startswith("line: "), lines
    assert lines[2].startswith("udp: ") and lines[2].endswith(" hi"), lines
    assert lines[3] == "udp echo: ping", lines
    assert lines[4] == f"streamed: {len(data)} bytes", lines
    assert (tmp_path / "data.bin.echo").read_bytes() == data
    assert "who: tourist" in lines, lines
    assert any("Joined(room='#tour', nick='tourist')" in line for line in lines), lines


def _sharedPort() -> int:
    """
    @return: a port of 127.0.0.1 free for both TCP and UDP a moment ago.
    """
    for _ in range(50):
        port = _freePort()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError("no port free for both TCP and UDP")


# tls_echo.py


@pytest.fixture
def certificate(tmp_path: Path) -> CertificateFiles:
    """
    A throw-away self-signed certificate for localhost, 127.0.0.1 and ::1.
    """
    directory = tmp_path / "tls"
    directory.mkdir()
    return selfSigned(directory)


@pytest_twisted.ensureDeferred
async def test_tlsEcho(tmp_path: Path, certificate: CertificateFiles) -> None:
    """
    tls_echo has its message echoed by an C{ssl:} echo server whose
    certificate the CA file holds; with another CA file, it exits with
    status 1 and one line, having printed nothing.
    """
    port = _freePort()
    listen = (
        f"ssl:{port}:{LOCAL}:privateKey={certificate.key}"
        f":certKey={certificate.certificate}"
    )
    other = tmp_path / "other"
    other.mkdir()
    stranger = selfSigned(other)
    async with _running("echo", "--no-udp", "--listen", listen):
        trusted = await runExample(
            "tls_echo.py",
            tmp_path,
            "127.0.0.1",
            str(port),
            str(certificate.certificate),
            "hello over TLS",
        )
        untrusted = await runExample(
            "tls_echo.py", tmp_path, "127.0.0.1", str(port), str(stranger.certificate)
        )
    assert trusted.exitCode == 0, trusted.describe()
    assert trusted.out == "hello over TLS\n", trusted.describe()
    assert untrusted.exitCode == 1, untrusted.describe()
    [line] = untrusted.err.splitlines()
    assert line.startswith("tls_echo: "), untrusted.describe()
    assert untrusted.out == "", untrusted.describe()


# docs/howto/run.rst: several services in one process.


@pytest_twisted.ensureDeferred
async def test_joinedServices(tmp_path: Path) -> None:
    """
    C{twistd -n netlab tsserv --framing line + echo --no-udp + chat
    --history 50} serves the three, each with its own options, and stops
    with status 0 on SIGTERM.
    """
    ts, echoPort, chat = _freePort(), _freePort(), _freePort()
    command = [
        *RUNNERS["twistd"],
        "netlab",
        *["tsserv", "--framing", "line", "--listen", f"tcp:{ts}:{LOCAL}"],
        *["+", "echo", "--no-udp", "--listen", f"tcp:{echoPort}:{LOCAL}"],
        *["+", "chat", "--history", "50", "--listen", f"tcp:{chat}:{LOCAL}"],
    ]
    reactor = _reactor()
    ready = both(acceptingTCP(ts), acceptingTCP(echoPort), acceptingTCP(chat))
    async with serving(command, tmp_path, ready) as server:
        reply = await getTimestamp(_tcp(ts), b"hi", Framing.LINE, 5, reactor)
        assert reply.data == b"hi"
        assert await echo(_tcp(echoPort), b"ping", 5, reactor) == b"ping"
        session = await connectChat(_tcp(chat), "alice", 5, reactor)
        assert await session.who() == ["alice"]
        await session.quit("bye")
    assert server.exitCode == 0, server.describe()
    assert "Traceback" not in server.out + server.err, server.describe()


# docs/howto/metrics.rst: curl.


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl here")
@pytest_twisted.ensureDeferred
async def test_metricsWithCurl(tmp_path: Path) -> None:
    """
    C{twistd -n netlab echo --metrics tcp:PORT:interface=127.0.0.1}, then
    C{curl -s http://127.0.0.1:PORT/metrics}, prints the Prometheus text
    format with netlab's series, labelled by service and transport.
    """
    tcpPort, udpPort, metrics = _freePort(), _freePort(socket.SOCK_DGRAM), _freePort()
    command = [
        *RUNNERS["twistd"],
        "netlab",
        "echo",
        *["--listen", f"tcp:{tcpPort}:{LOCAL}"],
        *["--udp-port", str(udpPort), "--udp-interface", "127.0.0.1"],
        *["--metrics", f"tcp:{metrics}:{LOCAL}"],
    ]
    ready = both(acceptingTCP(tcpPort), answeringEcho(udpPort), acceptingTCP(metrics))
    async with serving(command, tmp_path, ready):
        url = f"http://127.0.0.1:{metrics}/metrics"
        curl = await inThread(
            lambda: subprocess.run(
                ["curl", "-s", url], capture_output=True, text=True, timeout=STEP
            )
        )
    assert curl.returncode == 0, curl
    out = curl.stdout
    assert "# TYPE netlab_connections_total counter" in out, out
    assert 'netlab_connections_total{service="echo",transport="tcp"}' in out, out
    assert 'netlab_messages_total{service="echo",transport="udp"}' in out, out
    assert "process_cpu_seconds_total" in out, out


# docs/howto/benchmarking.rst: the attack suite's command line.


@pytest.mark.skipif(
    not Path("/proc/self/status").exists(),
    reason="the attacks read servers' memory and descriptors from Linux's /proc",
)
@pytest_twisted.ensureDeferred
async def test_attackCommandLine(tmp_path: Path) -> None:
    """
    C{python benchmarks/attack.py --list} lists the attacks, and
    C{python benchmarks/attack.py --only limits --rounds 1} runs one of
    them, every check holding (exit status 0).
    """
    script = str(ROOT / "benchmarks" / "attack.py")
    python = Path(sys.executable).name
    listed = await run([python, script, "--list"], tmp_path, timeout=STEP)
    assert listed.exitCode == 0, listed.describe()
    names = {line.split()[0] for line in listed.out.splitlines() if line.strip()}
    assert {"rst", "slowloris", "udp", "limits", "tls"} <= names, listed.describe()
    once = await run(
        [python, script, "--only", "limits", "--rounds", "1"], tmp_path, timeout=120
    )
    assert once.exitCode == 0, once.describe()
    assert "1 attacks, " in once.out and " 0 failed, " in once.out, once.describe()


# jsonlog.py: docs/howto/logging.rst.


@pytest_twisted.ensureDeferred
async def test_jsonLogObserver(tmp_path: Path) -> None:
    """
    C{twistd -n --logger jsonlog.observer netlab echo}, with C{examples/}
    on C{PYTHONPATH}, writes each connection's events, with their fields,
    as JSON to C{netlab-events.json}, which
    C{twisted.logger.eventsFromJSONLogFile} reads back.
    """
    port = _freePort()
    command = [
        *RUNNERS["twistd"],
        *["--logger", "jsonlog.observer"],
        *["netlab", "echo", "--no-udp", "--listen", f"tcp:{port}:{LOCAL}"],
    ]
    server = _spawn(command, tmp_path, pythonPath=ROOT / "examples")
    closed: list[dict[str, Any]] = []
    try:
        await _untilReady(server, acceptingTCP(port))
        assert await echo(_tcp(port), b"ping", 5, _reactor()) == b"ping"
        # The server logs the close once it has seen it: wait for that.
        deadline = time.monotonic() + STEP
        while not closed:
            assert time.monotonic() < deadline, server.describe()
            await deferLater(_reactor(), POLL_INTERVAL, lambda: None)
            closed = _closedEchoes(tmp_path / "netlab-events.json")
    finally:
        await server.stop()
    assert server.exitCode == 0, server.describe()
    events = _closedEchoes(tmp_path / "netlab-events.json")
    assert len(events) == 1, events
    [event] = events
    assert event["bytesReceived"] == 4, event
    assert event["why"] == "Connection was closed cleanly.", event
    assert isinstance(event["duration"], float), event


def _closedEchoes(path: Path) -> list[dict[str, Any]]:
    """
    @return: the events of the JSON log at C{path} (none if it is not there
        yet) that say an echo connection of 4 bytes each way closed.
    """
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as log:
        return [
            event
            for event in eventsFromJSONLogFile(log)
            if event.get("log_namespace") == "netlab.policies"
            and event.get("service") == "echo"
            and event.get("bytesSent") == 4
        ]


# examples/netlab-quote: docs/howto/writing-a-service.rst.

QUOTE = ROOT / "examples" / "netlab-quote"


@pytest_twisted.ensureDeferred
async def test_quoteUnitTests(tmp_path: Path) -> None:
    """
    C{cd examples/netlab-quote && python -m twisted.trial tests} runs the
    example's unit tests, and they pass.
    """
    python = Path(sys.executable).name
    process = await run(
        [
            python,
            "-B",  # no __pycache__ in examples/
            "-m",
            "twisted.trial",
            f"--temp-directory={tmp_path / '_trial_temp'}",
            "tests",
        ],
        QUOTE,
        timeout=STEP * 3,
    )
    assert process.exitCode == 0, process.describe()
    assert "PASSED" in process.out, process.describe()


def test_quotePyprojectEntryPoints() -> None:
    """
    The entry points that C{examples/netlab-quote/pyproject.toml} declares
    (shown in the guide) name the example's service and client command.
    """
    tomllib = pytest.importorskip("tomllib")
    with open(QUOTE / "pyproject.toml", "rb") as pyproject:
        project = tomllib.load(pyproject)["project"]
    assert project["entry-points"] == {
        "netlab.services": {"quote": "netlab_quote:service"},
        "netlab.clients": {"quote": "netlab_quote:client"},
    }
