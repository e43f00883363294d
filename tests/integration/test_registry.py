"""
The service registry from installed distributions, through a real twistd:
another distribution's entry points in C{netlab.services} are found, and a
broken one is reported in one line and never takes netlab's own services
down.

Each test installs a made-up distribution the way an installer would (a
C{.dist-info} directory with its C{entry_points.txt}) into a directory put
on C{PYTHONPATH}.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest_twisted
from twisted.internet.defer import Deferred

from tests.integration.test_twistd import (
    STOP_TIMEOUT,
    _freePort,
    _Process,
    _reactor,
    _spawn,
    run,
)


def _installFake(root: Path, entryPoints: str, module: str = "") -> None:
    """
    Make C{root} hold a distribution named C{fake-plugin} declaring
    C{entryPoints} (an C{entry_points.txt}), and C{fake_plugin.py}.
    """
    info = root / "fake_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(entryPoints)
    if module:
        (root / "fake_plugin.py").write_text(module)


async def _twistd(root: Path, *words: str) -> _Process:
    """
    Run C{twistd -n --pidfile= netlab WORDS} with C{root} on the path, and
    wait for it to end.
    """
    command = ["twistd", "-n", "--pidfile=", "netlab", *words]
    return await run(command, root, pythonPath=root)


BROKEN = """\
[netlab.services]
wonky = fake_plugin_missing:service
notaservice = fake_plugin:notAService
"""

WARNINGS = [
    "netlab: warning: skipping the service 'notaservice' of fake-plugin, which "
    "is broken: TypeError: str does not provide netlab.service.INetlabService",
    "netlab: warning: skipping the service 'wonky' of fake-plugin, which is "
    "broken: ModuleNotFoundError: No module named 'fake_plugin_missing'",
]


def _lines(process: _Process, prefix: str) -> list[str]:
    return [
        line[line.index(prefix) :]
        for line in (process.out + process.err).splitlines()
        if prefix in line
    ]


@pytest_twisted.ensureDeferred
async def test_brokenSkipped(tmp_path: Path) -> None:
    """
    Broken entry points are each reported in one line naming the
    distribution, and netlab's own services are listed and run.
    """
    _installFake(tmp_path, BROKEN, 'notAService = "a string"\n')
    listing = await _twistd(tmp_path, "--help")
    assert listing.exitCode == 0, listing.describe()
    assert sorted(_lines(listing, "netlab: warning:")) == WARNINGS, listing.describe()
    assert "wonky" not in listing.out.replace("'wonky'", ""), listing.describe()
    assert "Echo server (RFC 862)" in listing.out, listing.describe()
    assert "Traceback" not in listing.out + listing.err, listing.describe()

    help = await _twistd(tmp_path, "echo", "--help")
    assert help.exitCode == 0, help.describe()
    assert "--udp-port" in help.out, help.describe()


@pytest_twisted.ensureDeferred
async def test_brokenAskedFor(tmp_path: Path) -> None:
    """
    Asked for by name, a broken service ends twistd with exit status 1 and
    its import error in one line, not 'unknown command'.
    """
    _installFake(tmp_path, BROKEN, 'notAService = "a string"\n')
    process = await _twistd(tmp_path, "echo", "--no-udp", "+", "wonky")
    assert process.exitCode == 1, process.describe()
    assert _lines(process, "netlab: error:") == [
        "netlab: error: the service 'wonky' of fake-plugin is broken: "
        "ModuleNotFoundError: No module named 'fake_plugin_missing'"
    ], process.describe()
    assert "Unknown command" not in process.out + process.err, process.describe()
    assert "Traceback" not in process.out + process.err, process.describe()


PLUGIN = """\
from twisted.internet.protocol import Factory, Protocol

from netlab.service import NetlabService, StreamOptions


class Greeting(Protocol):
    def connectionMade(self):
        self.transport.write(b"hello from a plugin\\r\\n")
        self.transport.loseConnection()


class GreetOptions(StreamOptions):
    pass


def build(options, context):
    return context.listen(Factory.forProtocol(Greeting), options)


service = NetlabService("Greets.", GreetOptions, build)
"""


@pytest_twisted.ensureDeferred
async def test_pluginRuns(tmp_path: Path) -> None:
    """
    A service another distribution registers runs with C{+} next to
    netlab's own, under the same assembly.
    """
    _installFake(tmp_path, "[netlab.services]\ngreet = fake_plugin:service\n", PLUGIN)
    port = _freePort()
    command = ["twistd", "-n", "--pidfile=", "netlab", "greet", "--listen"]
    command += [f"tcp:{port}:interface=127.0.0.1", "+", "tsuserv", "--udp-port", "0"]
    process = _spawn(command, tmp_path, pythonPath=tmp_path)
    try:
        greeting = b""
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    while chunk := s.recv(100):
                        greeting += chunk
                break
            except ConnectionRefusedError:
                if process.ended:
                    break
                waiter: Deferred[None] = Deferred()
                _reactor().callLater(0.05, waiter.callback, None)
                await waiter
        assert greeting == b"hello from a plugin\r\n", process.describe()
    finally:
        process.kill("TERM")
        await process.whenEnded(STOP_TIMEOUT)
    assert process.exitCode == 0, process.describe()
    assert "greet: connection from 127.0.0.1" in process.out, process.describe()
