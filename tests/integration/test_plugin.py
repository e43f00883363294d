"""
A service from another distribution, through the entry points: the
example package C{examples/netlab-quote} (Quote of the Day, RFC 865),
installed, run as C{twistd -n netlab quote} alone and joined with echo,
under netlab's limits, metrics and drain; its client command C{netlab
quote}; and its factory served by C{twistd netlab serve --factory}.

pytest-twisted tests: run them with pytest, not trial.  Processes are
started as L{tests.integration.test_twistd} starts them (the installed
netlab and netlab-quote, in a temporary directory); everything listens on
127.0.0.1, every wait is bounded, and every process is ended in
C{finally}.  Blocking sockets run in threads, so that the reactor keeps
going.

The package must be installed (C{pip install ./examples/netlab-quote}, as
CI does): without it these tests fail under CI (C{CI} is set) and are
skipped elsewhere.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.threads import deferToThread

from tests.integration.test_twistd import (
    RUNNERS,
    STOP_TIMEOUT,
    _freePort,
    _Process,
    acceptingTCP,
    answeringEcho,
    assertOneErrorLine,
    both,
    run,
    serving,
)

from ._missing import missing

try:
    import netlab_quote
except ImportError:  # Not installed: the fixture below says what to do.
    netlab_quote = None  # type: ignore[assignment]

INSTALL = "pip install ./examples/netlab-quote"

TIMEOUT = 15.0
"""
Seconds any one step of a test may take.
"""

CLIENT_TIMEOUT = 10.0
"""
Seconds any blocking socket operation of a test client may take.
"""

POLL_INTERVAL = 0.05
"""
Seconds between two scrapes, or two tries of a connection.
"""

GRACE = 1.0
"""
The C{--grace} of the drain test: well under the 5 seconds a lingering
close would wait.
"""

LOCAL = "interface=127.0.0.1"


@pytest.fixture(autouse=True)
def _installed() -> None:
    """
    Fail (under CI) or skip (elsewhere) if netlab-quote is not installed.
    """
    try:
        distribution("netlab-quote")
    except PackageNotFoundError:
        missing(f"the example netlab-quote is not installed: {INSTALL}")
    assert netlab_quote is not None, f"netlab_quote does not import; {INSTALL}"


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _inThread(function: Callable[..., Any], *args: Any) -> Deferred[Any]:
    return deferToThread(function, *args).addTimeout(TIMEOUT, _reactor())


def _quotes() -> set[bytes]:
    """
    @return: every built-in quote, as the server sends it.
    """
    return {netlab_quote.formatQuote(quote) for quote in netlab_quote.QUOTES}


def _quote(port: int, udpPort: int | None = None) -> list[str]:
    """
    @return: C{twistd -n netlab quote} on TCP 127.0.0.1:C{port}, and on UDP
        C{udpPort} if given (else without UDP).
    """
    udp = ["--no-udp"] if udpPort is None else ["--udp-port", str(udpPort)]
    return [
        *RUNNERS["twistd"],
        "netlab",
        "quote",
        "--listen",
        f"tcp:{port}:{LOCAL}",
        *udp,
        "--udp-interface",
        "127.0.0.1",
    ]


def answeringQuoteUDP(port: int) -> Callable[[], Awaitable[object]]:
    """
    @return: a check that gets a quote over UDP from 127.0.0.1:C{port}.
    """

    def attempt() -> Deferred[bytes]:
        return netlab_quote.getQuoteUDP(_reactor(), "127.0.0.1", port, timeout=1.5)

    return attempt


def _tcpQuote(port: int) -> Deferred[bytes]:
    """
    @return: a Deferred of a quote got with netlab-quote's client over TCP.
    """
    reactor = _reactor()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5)
    return netlab_quote.getQuote(endpoint, reactor, timeout=TIMEOUT)


def _readToEnd(client: socket.socket) -> bytes:
    """
    @return: what the server sent before closing (a reset ends it too).
    """
    received = b""
    try:
        while data := client.recv(4096):
            received += data
    except ConnectionResetError:
        pass
    return received


def _held(port: int) -> tuple[socket.socket, bytes]:
    """
    Connect until the server sends a quote (a probe's connection may still
    be counted for a moment), read it to its end, and do not close.

    @return: the open socket, and the quote.
    """
    deadline = time.monotonic() + TIMEOUT
    while True:
        client = socket.create_connection(("127.0.0.1", port), CLIENT_TIMEOUT)
        quote = _readToEnd(client)
        if quote or time.monotonic() > deadline:
            return client, quote
        client.close()
        time.sleep(POLL_INTERVAL)


def _log(process: _Process) -> str:
    return process.out + process.err


def _assertCleanExit(process: _Process) -> None:
    description = process.describe()
    assert process.exitCode == 0, description
    assert process.endSignal is None, description
    assert "Traceback" not in _log(process), description


@pytest_twisted.ensureDeferred
async def test_helpListsQuote(tmp_path: Path) -> None:
    """
    C{twistd netlab --help} lists the quote service, with its description,
    next to netlab's own.
    """
    process = await run(["twistd", "--pidfile=", "netlab", "--help"], tmp_path)
    assert process.exitCode == 0, process.describe()
    commands = {line.split()[0] for line in process.out.splitlines() if line.strip()}
    assert {"quote", "echo", "serve"} <= commands, process.describe()
    assert "Quote of the Day (RFC 865)" in process.out, process.describe()


@pytest_twisted.ensureDeferred
async def test_quoteHelp(tmp_path: Path) -> None:
    """
    C{twistd netlab quote --help} describes its own options and those netlab
    gives every stream and datagram service.
    """
    process = await run(["twistd", "--pidfile=", "netlab", "quote", "--help"], tmp_path)
    assert process.exitCode == 0, process.describe()
    for option in [
        "--listen",
        "--quotes",
        "--no-tcp",
        "--no-udp",
        "--udp-port",
        "--udp-rate",
        "--max-per-source",
        "--metrics",
        "--grace",
        "21517",
    ]:
        assert option in process.out, (option, process.describe())


@pytest_twisted.ensureDeferred
async def test_servesAlone(tmp_path: Path) -> None:
    """
    C{twistd -n netlab quote} sends a quote to each TCP connection and
    answers each datagram with one, then stops on SIGTERM with status 0.
    """
    port, udpPort = _freePort(), _freePort(socket.SOCK_DGRAM)
    ready = both(acceptingTCP(port), answeringQuoteUDP(udpPort))
    async with serving(_quote(port, udpPort), tmp_path, ready) as server:
        assert await _tcpQuote(port) in _quotes(), server.describe()
        assert await answeringQuoteUDP(udpPort)() in _quotes(), server.describe()
        # What a client sends is thrown away; the quote comes all the same.
        client = await _inThread(
            socket.create_connection, ("127.0.0.1", port), CLIENT_TIMEOUT
        )
        with client:
            client.sendall(b"a quote, please\r\n")
            assert await _inThread(_readToEnd, client) in _quotes()
    _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_joinedWithEcho(tmp_path: Path) -> None:
    """
    C{twistd -n netlab quote ... + echo ...} runs both in one process.
    """
    port, udpPort = _freePort(), _freePort(socket.SOCK_DGRAM)
    echoPort, echoUDP = _freePort(), _freePort(socket.SOCK_DGRAM)
    command = [
        *_quote(port, udpPort),
        "+",
        "echo",
        "--listen",
        f"tcp:{echoPort}:{LOCAL}",
        "--udp-port",
        str(echoUDP),
        "--udp-interface",
        "127.0.0.1",
    ]
    ready = both(
        acceptingTCP(port),
        answeringQuoteUDP(udpPort),
        acceptingTCP(echoPort),
        answeringEcho(echoUDP),
    )
    async with serving(command, tmp_path, ready) as server:
        assert await _tcpQuote(port) in _quotes(), server.describe()

        def echoed() -> bytes:
            with socket.create_connection(("127.0.0.1", echoPort), CLIENT_TIMEOUT) as c:
                c.sendall(b"hello")
                c.shutdown(socket.SHUT_WR)
                return _readToEnd(c)

        assert await _inThread(echoed) == b"hello", server.describe()
    _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_maxPerSource(tmp_path: Path) -> None:
    """
    With C{--max-per-source 1}, while one connection from 127.0.0.1 is open
    (it has its quote, and the server waits for it to close), a second is
    refused: closed without a word, which the log says; once the first is
    closed, a new one gets its quote.
    """
    port = _freePort()
    command = [*_quote(port), "--max-per-source", "1"]
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        first, quote = await _inThread(_held, port)
        with first:
            assert quote in _quotes(), server.describe()
            second = await _inThread(
                socket.create_connection, ("127.0.0.1", port), CLIENT_TIMEOUT
            )
            with second:
                assert await _inThread(_readToEnd, second) == b"", server.describe()
        third, again = await _inThread(_held, port)
        third.close()
        assert again in _quotes(), server.describe()
    log = _log(server)
    assert re.search(
        r"quote: refused a connection from 127\.0\.0\.1:\d+: too many connections "
        r"from your address \(1\)",
        log,
    ), server.describe()
    _assertCleanExit(server)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(port: int) -> Samples:
    """
    @return: every sample of GET /metrics on 127.0.0.1:C{port}, by name and
        labels.
    """
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=CLIENT_TIMEOUT) as response:
        text = response.read().decode("utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _quoteSamples(samples: Samples) -> Iterator[str]:
    for (name, labels), value in sorted(samples.items()):
        if ("service", "quote") in labels:
            yield f"{name}{dict(labels)} {value}"


@pytest_twisted.ensureDeferred
async def test_metrics(tmp_path: Path) -> None:
    """
    C{--metrics} reports the quote service under C{service="quote"}: its TCP
    connections and quotes sent, its UDP quotes, and its own gauge.
    """
    port, udpPort, metricsPort = (
        _freePort(),
        _freePort(socket.SOCK_DGRAM),
        _freePort(),
    )
    command = [*_quote(port, udpPort), "--metrics", f"tcp:{metricsPort}:{LOCAL}"]
    ready = both(
        acceptingTCP(port), answeringQuoteUDP(udpPort), acceptingTCP(metricsPort)
    )
    async with serving(command, tmp_path, ready) as server:
        await _tcpQuote(port)
        await answeringQuoteUDP(udpPort)()
        tcp = (("service", "quote"), ("transport", "tcp"))
        udp = (("service", "quote"), ("transport", "udp"))
        # At least: the readiness probes count too.
        wanted: dict[tuple[str, Any], Callable[[float], bool]] = {
            ("netlab_connections_total", tcp): lambda n: n >= 2,
            ("netlab_messages_total", tcp): lambda n: n >= 2,
            ("netlab_messages_total", udp): lambda n: n >= 2,
            ("netlab_connections_open", tcp): lambda n: n == 0,
            ("netlab_quote_quotes", (("service", "quote"),)): lambda n: (
                n == len(_quotes())
            ),
        }
        deadline = time.monotonic() + TIMEOUT
        while True:
            samples: Samples = await _inThread(_scrape, metricsPort)
            if all(
                key in samples and holds(samples[key]) for key, holds in wanted.items()
            ):
                break
            assert time.monotonic() < deadline, "\n".join(
                [server.describe(), "--- metrics ---", *_quoteSamples(samples)]
            )
            await _inThread(time.sleep, POLL_INTERVAL)
    _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_drainsOnSigterm(tmp_path: Path) -> None:
    """
    On SIGTERM, C{twistd netlab quote} stops gracefully: a connection still
    open is closed by the drain once C{--grace} has passed, and it exits
    with status 0.
    """
    port = _freePort()
    command = [*_quote(port), "--grace", str(GRACE)]
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        client, quote = await _inThread(_held, port)
        with client:
            assert quote in _quotes(), server.describe()
            clientPort = client.getsockname()[1]
            started = time.monotonic()
            server.kill("TERM")
            await server.whenEnded(STOP_TIMEOUT)
            elapsed = time.monotonic() - started
    _assertCleanExit(server)
    log = _log(server)
    assert "Received SIGTERM: stopping gracefully" in log, server.describe()
    assert re.search(
        rf"quote: connection from 127\.0\.0\.1:{clientPort} closed after [\d.]+s, "
        r"0 bytes received, \d+ sent \(service stopping",
        log,
    ), server.describe()
    assert elapsed < GRACE + 3, (elapsed, server.describe())


@pytest_twisted.ensureDeferred
async def test_quotesFile(tmp_path: Path) -> None:
    """
    C{--quotes FILE} serves the file's quotes; a file that cannot be read
    ends C{twistd} with one line saying why, and status 1.
    """
    quotes = tmp_path / "quotes.txt"
    quotes.write_text("Only this one.\n  -- the test\n", encoding="utf-8")
    port = _freePort()
    command = [*_quote(port), "--quotes", str(quotes)]
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        assert await _tcpQuote(port) == b"Only this one.\r\n  -- the test\r\n"
    _assertCleanExit(server)

    missing = tmp_path / "missing.txt"
    process = await run([*_quote(_freePort()), "--quotes", str(missing)], tmp_path)
    assertOneErrorLine(
        process,
        "netlab quote: error: ",
        f"--quotes {missing}: cannot read it: No such file or directory",
    )


@pytest_twisted.ensureDeferred
async def test_clientCommand(tmp_path: Path) -> None:
    """
    C{netlab quote} prints a quote, over TCP and with C{--udp}, and exits
    0; with nothing listening it exits 1 with one line on standard error.
    """
    port, udpPort = _freePort(), _freePort(socket.SOCK_DGRAM)
    shown = {netlab_quote.displayQuote(quote) for quote in _quotes()}
    ready = both(acceptingTCP(port), answeringQuoteUDP(udpPort))
    async with serving(_quote(port, udpPort), tmp_path, ready):
        for udp in ([], ["--udp"]):
            peer = str(udpPort if udp else port)
            client = await run(
                ["netlab", "quote", *udp, "-H", "127.0.0.1", "-p", peer], tmp_path
            )
            assert client.exitCode == 0, client.describe()
            assert client.out in shown, client.describe()
            assert client.err == "", client.describe()

    client = await run(
        ["netlab", "quote", "-H", "127.0.0.1", "-p", str(_freePort())], tmp_path
    )
    assert client.exitCode == 1, client.describe()
    assert client.out == "", client.describe()
    [line] = client.err.splitlines()
    assert line.startswith("netlab: error: cannot connect"), client.describe()


@pytest_twisted.ensureDeferred
async def test_serveFactory(tmp_path: Path) -> None:
    """
    C{twistd netlab serve --factory netlab_quote:QuoteFactory} serves the
    example's factory, with no service of its own.
    """
    port = _freePort()
    command = [
        *RUNNERS["twistd"],
        "netlab",
        "serve",
        "--factory",
        "netlab_quote:QuoteFactory",
        "--listen",
        f"tcp:{port}:{LOCAL}",
    ]
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        assert await _tcpQuote(port) in _quotes(), server.describe()
    _assertCleanExit(server)
