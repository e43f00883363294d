"""
netlab's services, unchanged, under every reactor twistd offers here:
C{twistd --reactor R netlab tsserv + echo + chat} for R in epoll, poll,
select, asyncio and netlab's own uvloop, as real processes on loopback.

pytest-twisted tests: run them with pytest, not trial.  Processes are
started and stopped by the helpers of L{tests.integration.test_twistd}; the
clients are plain blocking sockets on 127.0.0.1 (the server is another
process, so the test's own reactor need not run while they wait), each with
a deadline.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer

from tests.integration.test_twistd import (
    RUNNERS,
    STOP_TIMEOUT,
    _freePort,
    _Process,
    acceptingTCP,
    answeringEcho,
    both,
    run,
    serving,
)


def _uvloopMissing() -> str | None:
    """
    @return: why uvloop cannot be imported, or L{None} if it can.
    """
    try:
        import uvloop  # noqa: F401
    except ImportError as e:
        return f"uvloop is not installed: {e}"
    return None


UVLOOP_MISSING = _uvloopMissing()

REACTORS = [
    pytest.param("epoll", "twisted.internet.epollreactor.EPollReactor", id="epoll"),
    pytest.param("poll", "twisted.internet.pollreactor.PollReactor", id="poll"),
    pytest.param("select", "twisted.internet.selectreactor.SelectReactor", id="select"),
    pytest.param(
        "asyncio",
        "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        id="asyncio",
    ),
    pytest.param(
        "uvloop",
        "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        id="uvloop",
        marks=pytest.mark.skipif(
            UVLOOP_MISSING is not None, reason=UVLOOP_MISSING or ""
        ),
    ),
]
"""
Each reactor's name for C{twistd --reactor}, and the class twistd then
logs as C{reactor class: ...} (uvloop runs Twisted's asyncio reactor).
"""

CLIENT_TIMEOUT = 10.0
"""
Seconds each exchange of a blocking client may take.
"""

ECHO_SIZE = 1024 * 1024
"""
Bytes sent through the TCP echo.
"""

REFUSED_SOURCE_PORTS = frozenset({21567, 21568, 21569})
"""
netlab's own service ports, which its UDP services refuse to answer (as
they refuse ports below 1024).
"""

REACTOR_CLASS = re.compile(r"reactor class: (?P<name>[\w.]+?)\.?$", re.MULTILINE)


def _freeTCPAndUDPPort() -> int:
    """
    @return: a port on 127.0.0.1 that was free a moment ago for both TCP
        and UDP, for an echo service listening on both.
    """
    for _ in range(100):
        port = _freePort()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no port on 127.0.0.1 free for both TCP and UDP")


def _remaining(deadline: float, what: str) -> float:
    """
    @return: the seconds left until C{deadline} (a L{time.monotonic} time).
    @raise AssertionError: if it has passed, naming C{what} was awaited.
    """
    left = deadline - time.monotonic()
    assert left > 0, f"timed out waiting for {what}"
    return left


class _LineClient:
    """
    A blocking TCP client on 127.0.0.1 that reads whole lines.

    @ivar lines: every line received so far, without its line ending.
    """

    def __init__(self, port: int) -> None:
        self._socket = socket.create_connection(
            ("127.0.0.1", port), timeout=CLIENT_TIMEOUT
        )
        self._buffer = b""
        self.lines: list[bytes] = []

    def close(self) -> None:
        self._socket.close()

    def send(self, line: bytes) -> None:
        self._socket.sendall(line + b"\r\n")

    def untilLine(self, prefix: bytes) -> bytes:
        """
        Read lines until one starts with C{prefix}, for at most
        L{CLIENT_TIMEOUT} seconds.

        @return: that line, without its line ending.
        """
        deadline = time.monotonic() + CLIENT_TIMEOUT
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if line.startswith(prefix):
                    return line
            seen = len(self.lines)
            what = f"a line starting {prefix!r}; heard {self.lines!r}"
            self._socket.settimeout(_remaining(deadline, what))
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                raise AssertionError(f"timed out waiting for {what}") from None
            assert data, f"connection closed while waiting for {what}"
            *complete, self._buffer = (self._buffer + data).split(b"\n")
            self.lines.extend(line.removesuffix(b"\r") for line in complete)


def _timestampLine(port: int, checkClassicReply: Any, message: bytes) -> None:
    """
    Have one line stamped by tsserv (line framing) on C{port}.
    """
    client = _LineClient(port)
    try:
        client.send(message)
        checkClassicReply(client.untilLine(b"["), message)
    finally:
        client.close()


def _echoStream(port: int, data: bytes) -> bytes:
    """
    Send C{data} to the TCP echo on C{port} from one thread while reading
    the echo in this one (either alone would stall once the socket buffers
    fill), then half-close and read until the server closes.

    @return: everything echoed.
    """
    deadline = time.monotonic() + CLIENT_TIMEOUT
    received = bytearray()
    failures: list[BaseException] = []
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as c:

        def send() -> None:
            try:
                c.sendall(data)
                c.shutdown(socket.SHUT_WR)
            except BaseException as e:
                failures.append(e)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            while True:
                what = f"the echo; {len(received)} of {len(data)} bytes back"
                c.settimeout(_remaining(deadline, what))
                try:
                    chunk = c.recv(65536)
                except TimeoutError:
                    raise AssertionError(f"timed out waiting for {what}") from None
                if not chunk:
                    break
                received += chunk
        finally:
            # Shutting down both ways ends a sendall that is stalled.
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            sender.join(CLIENT_TIMEOUT)
    assert not sender.is_alive(), "the sending thread did not end"
    assert failures == [], failures
    return bytes(received)


def _udpClient() -> socket.socket:
    """
    @return: a UDP socket bound on 127.0.0.1 to a port netlab's UDP
        services answer: 1024 or above, and none of netlab's own.
    """
    for _ in range(100):
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind(("127.0.0.1", 0))
        port = client.getsockname()[1]
        if port >= 1024 and port not in REFUSED_SOURCE_PORTS:
            client.settimeout(CLIENT_TIMEOUT)
            return client
        client.close()
    raise AssertionError("no usable UDP source port on 127.0.0.1")


def _echoDatagram(port: int, message: bytes) -> tuple[bytes, tuple[str, int]]:
    """
    Send one datagram to the UDP echo on C{port}.

    @return: the reply and the address it came from.
    """
    with _udpClient() as client:
        client.sendto(message, ("127.0.0.1", port))
        try:
            reply, source = client.recvfrom(65536)
        except TimeoutError:
            raise AssertionError(
                f"no echo of {message!r} in {CLIENT_TIMEOUT}s"
            ) from None
    return reply, source


def _chat(port: int, text: bytes) -> bytes:
    """
    Register alice and bob with the chat on C{port}; alice says C{text}.

    @return: the line in which bob hears it.
    """
    alice, bob = _LineClient(port), _LineClient(port)
    try:
        for client, nick in ((alice, b"alice"), (bob, b"bob")):
            client.untilLine(b"NOTE Welcome")
            client.send(nick)
            client.untilLine(b"JOIN #lobby " + nick)
        alice.untilLine(b"JOIN #lobby bob")
        alice.send(text)
        return bob.untilLine(b"MSG #lobby alice ")
    finally:
        alice.close()
        bob.close()


def _reactorClass(process: _Process) -> str | None:
    """
    @return: the reactor class twistd says it runs, or L{None}.
    """
    match = REACTOR_CLASS.search(process.out + process.err)
    return match["name"] if match else None


@pytest.mark.parametrize("reactorName, reactorClass", REACTORS)
@pytest_twisted.ensureDeferred
async def test_servicesUnderReactor(
    reactorName: str, reactorClass: str, tmp_path: Path, checkClassicReply: Any
) -> None:
    """
    C{twistd --reactor R} runs tsserv, echo (TCP and UDP) and chat, joined
    with C{+} in one process, serving each as under the default reactor,
    logs the reactor's class, and stops on SIGTERM with exit status 0 and
    no traceback.
    """
    tsPort, echoPort, chatPort = _freePort(), _freeTCPAndUDPPort(), _freePort()
    command = [
        *RUNNERS["twistd"],
        "--reactor",
        reactorName,
        "netlab",
        "tsserv",
        "--framing",
        "line",
        "--listen",
        f"tcp:{tsPort}:interface=127.0.0.1",
        "+",
        "echo",
        "--listen",
        f"tcp:{echoPort}:interface=127.0.0.1",
        "--udp-port",
        str(echoPort),
        "--udp-interface",
        "127.0.0.1",
        "+",
        "chat",
        "--listen",
        f"tcp:{chatPort}:interface=127.0.0.1",
    ]
    ready = both(
        acceptingTCP(tsPort),
        acceptingTCP(echoPort),
        answeringEcho(echoPort),
        acceptingTCP(chatPort),
    )
    tag = reactorName.encode()
    data = os.urandom(ECHO_SIZE)
    async with serving(command, tmp_path, ready) as server:
        try:
            _timestampLine(tsPort, checkClassicReply, b"stamp me under " + tag)
            echoed = _echoStream(echoPort, data)
            datagram = _echoDatagram(echoPort, b"datagram under " + tag)
            heard = _chat(chatPort, b"hello under " + tag)
        except Exception as e:
            # Stopped first, so that its whole log is there to read.
            await server.stop()
            raise AssertionError(f"{e!r}\n{server.describe()}") from e

        server.kill("TERM")
        try:
            await server.whenEnded(STOP_TIMEOUT)
        except defer.TimeoutError:
            raise AssertionError(
                f"still running {STOP_TIMEOUT}s after SIGTERM:\n{server.describe()}"
            ) from None

    description = server.describe()
    assert len(echoed) == len(data), (len(echoed), description)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
    assert datagram == (b"datagram under " + tag, ("127.0.0.1", echoPort))
    assert heard == b"MSG #lobby alice hello under " + tag
    assert _reactorClass(server) == reactorClass, description
    assert server.endSignal is None, description
    assert server.exitCode == 0, description
    assert "Traceback" not in server.out + server.err, description


@pytest_twisted.ensureDeferred
async def test_helpReactorsListsUvloop(tmp_path: Path) -> None:
    """
    C{twistd --help-reactors} lists C{uvloop} among the reactors available.
    """
    process = await run(["twistd", "--help-reactors"], tmp_path)
    assert process.exitCode == 0, process.describe()
    available = process.out.split("reactors not available")[0]
    names = {line.split()[0] for line in available.splitlines() if line.strip()}
    assert "uvloop" in names, process.describe()


UVLOOP_CHECK = """
{install}
import uvloop
from twisted.internet import reactor
reactor.callLater(0, reactor.stop)
reactor.run()
print(type(reactor).__name__)
print(isinstance(reactor._asyncioEventloop, uvloop.Loop))
"""
"""
A program that installs netlab's uvloop reactor with C{{install}}, runs it a
moment and prints its class and whether its event loop is uvloop's.
"""

INSTALLS = {
    "module": "from netlab import uvloopreactor; uvloopreactor.install()",
    "plugin": (
        "from twisted.application.reactors import installReactor; "
        "installReactor('uvloop')"
    ),
}
"""
Two ways to install it: L{netlab.uvloopreactor.install} itself, and by name
through the reactor plugin, as C{twistd --reactor uvloop} does.
"""


@pytest.mark.skipif(UVLOOP_MISSING is not None, reason=UVLOOP_MISSING or "")
@pytest.mark.parametrize("how", sorted(INSTALLS))
@pytest_twisted.ensureDeferred
async def test_uvloopReactorRunsOnUvloop(how: str, tmp_path: Path) -> None:
    """
    Installing netlab's uvloop reactor, from its module or by name through
    the plugin, installs Twisted's asyncio reactor on an event loop of
    uvloop's, which runs.
    """
    program = UVLOOP_CHECK.format(install=INSTALLS[how])
    process = await run(["python", "-c", program], tmp_path)
    assert process.exitCode == 0, process.describe()
    assert process.out.split() == ["AsyncioSelectorReactor", "True"], process.describe()
