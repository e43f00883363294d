"""
C{twistd netlab serve} through a real twistd: a factory or a datagram
protocol from a module on C{PYTHONPATH}, and what a bad one says.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred

from tests.integration.test_twistd import (
    RUN_TIMEOUT,
    STOP_TIMEOUT,
    _freePort,
    _Process,
    _reactor,
    _spawn,
)

MODULE = """\
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol


class Upper(Protocol):
    def dataReceived(self, data):
        self.transport.write(data.upper())


def makeFactory():
    return Factory.forProtocol(Upper)


class Shout(DatagramProtocol):
    def datagramReceived(self, datagram, addr):
        self.transport.write(datagram.upper() + b"!", addr)
"""


def _serve(root: Path, *words: str) -> _Process:
    (root / "served.py").write_text(MODULE)
    command = ["twistd", "-n", "--pidfile=", "netlab", "serve", *words]
    return _spawn(command, root, pythonPath=root)


async def _pause(seconds: float) -> None:
    waiter: Deferred[None] = Deferred()
    _reactor().callLater(seconds, waiter.callback, None)
    await waiter


async def _stop(process: _Process) -> None:
    process.kill("TERM")
    try:
        await process.whenEnded(STOP_TIMEOUT)
    finally:
        if not process.ended:
            process.kill("KILL")
            await process.whenEnded(STOP_TIMEOUT)


@pytest.mark.parametrize(
    "words, line",
    [
        (
            ["--factory", "nosuchmodule:makeFactory", "--listen", "tcp:0"],
            "netlab serve: error: --factory nosuchmodule:makeFactory: cannot "
            "import nosuchmodule: ModuleNotFoundError: No module named "
            "'nosuchmodule'",
        ),
        (
            ["--factory", "served:Upper", "--listen", "tcp:0"],
            "netlab serve: error: --factory served:Upper: it returned Upper, "
            "not a protocol factory; for a Protocol class, name a factory such "
            "as Factory.forProtocol(Upper)",
        ),
        (
            ["--protocol", "served:makeFactory", "--udp-port", "0"],
            "netlab serve: error: --protocol served:makeFactory: it returned "
            "Factory, not a DatagramProtocol",
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_badFactory(words: list[str], line: str, tmp_path: Path) -> None:
    """
    A factory that cannot be imported, or is not a factory, ends twistd
    with exit status 1 and one line naming the problem.
    """
    process = _serve(tmp_path, *words)
    try:
        await process.whenEnded(RUN_TIMEOUT)
    finally:
        await _stop(process)
    assert process.exitCode == 1, process.describe()
    output = process.out + process.err
    assert "Traceback" not in output, process.describe()
    errors = [text[text.index("netlab serve:") :] for text in output.splitlines()]
    assert [text for text in errors if "error:" in text] == [line], process.describe()


@pytest_twisted.ensureDeferred
async def test_servesBoth(tmp_path: Path) -> None:
    """
    A factory and a datagram protocol named on the command line are served,
    under --max-per-source and the UDP guard, and stop cleanly on SIGTERM.
    """
    tcpPort, udpPort = _freePort(), _freePort(socket.SOCK_DGRAM)
    process = _serve(
        tmp_path,
        "--factory",
        "served:makeFactory",
        "--listen",
        f"tcp:{tcpPort}:interface=127.0.0.1",
        "--max-per-source",
        "1",
        "--protocol",
        "served:Shout",
        "--udp-port",
        str(udpPort),
        "--udp-interface",
        "127.0.0.1",
        "--name",
        "shouty",
    )
    try:
        first = None
        for _ in range(400):
            try:
                first = socket.create_connection(("127.0.0.1", tcpPort), timeout=5)
                break
            except ConnectionRefusedError:
                assert not process.ended, process.describe()
                await _pause(0.05)
        assert first is not None, process.describe()
        with first:
            first.sendall(b"hello")
            assert first.recv(100) == b"HELLO"
            # One connection per source: a second is closed without a word.
            with socket.create_connection(("127.0.0.1", tcpPort), timeout=5) as second:
                assert second.recv(100) == b""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(5)
            udp.sendto(b"hey", ("127.0.0.1", udpPort))
            assert udp.recvfrom(100)[0] == b"HEY!"
    finally:
        await _stop(process)
    assert process.exitCode == 0, process.describe()
    assert "shouty: refused a connection from 127.0.0.1" in process.out, (
        process.describe()
    )
    assert "Traceback" not in process.out + process.err, process.describe()
