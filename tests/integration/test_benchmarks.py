"""
The benchmark runner, C{benchmarks/run.py}, end to end: a smoke run
(C{--quick}) of a few scenarios builds the C load generator, measures netlab
and its peers on loopback, and prints tables with ratios.

A plain pytest test: everything happens in a subprocess, bounded in time.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.integration._missing import missing

ROOT = Path(__file__).resolve().parents[2]
"""
The project's root directory.
"""

RUNNER = ROOT / "benchmarks" / "run.py"

SCENARIOS = "echo64-c100,udp64-c10,line64-c100,chat-100x10"
"""
The scenarios of the smoke run: every service, a TCP, UDP, line and chat
load.
"""

TIMEOUT = 90.0
"""
Seconds the smoke run may take (it takes about 30).
"""

RATIO = r"\d+\.\d\dx"
"""
A ratio as the tables print it, e.g. C{0.65x}.
"""


def _row(output: str, server: str) -> str:
    """
    @return: the first table row of C{output} for C{server}.
    """
    for line in output.splitlines():
        if line.startswith(f"| {server} |"):
            return line
    raise AssertionError(f"no table row for {server!r} in:\n{output}")


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="no C compiler (cc or gcc) to build the benchmarks' load generator",
)
def test_quickRunComparesNetlabWithPeers(tmp_path: Path) -> None:
    """
    A quick run of four scenarios exits 0 and prints rows for netlab and its
    peers, each peer's with a numeric ratio, and a summary of the ratios.
    """
    done = subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--quick",
            "--no-pin",
            "--scenarios",
            SCENARIOS,
            "--build-dir",
            str(tmp_path / "build"),
            "--output",
            str(tmp_path / "report.md"),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout
    for scenario in SCENARIOS.split(","):
        assert f"### {scenario}: " in output
    assert "| 0 |" in _row(output, "netlab echo")
    assert re.search(rf"\| {RATIO} \|", _row(output, "Twisted wire.Echo"))
    assert re.search(rf"\| {RATIO} \|", _row(output, "asyncio Protocol"))
    assert re.search(
        rf"\| {RATIO} \|", _row(output, "naive Twisted LineReceiver timestamp")
    )
    assert re.search(rf"\| {RATIO} \|", _row(output, "naive Twisted LineReceiver chat"))
    summary = output.split("### Summary")[1]
    assert re.search(
        rf"\| chat-100x10 \| netlab chat \| naive Twisted LineReceiver chat "
        rf"\| {RATIO} \| {RATIO} \|",
        summary,
    )
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "RESULT mode=udp label=udp64-c10@netlab-echo " in report


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="no C compiler (cc or gcc) to build the benchmarks' load generator",
)
def test_quickRunOfChatOverRedis(tmp_path: Path) -> None:
    """
    A quick run of the chat-over-Redis scenario starts Redis and two nodes,
    and reports, beside the single process's, the cross-node latency, the
    nodes' and Redis's CPU per line and the ratios the budget is set on.
    """
    if shutil.which("redis-server", path=os.environ["PATH"] + ":/usr/bin") is None:
        missing(
            "the chat-over-Redis benchmark needs redis-server: "
            "apt-get install redis-server"
        )
    done = subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--quick",
            "--no-pin",
            "--scenarios",
            "chat-bus-1000x10-r50",
            "--build-dir",
            str(tmp_path / "build"),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    row = _row(done.stdout, "netlab chat, 2 nodes over Redis")
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # Cross-node p50 and p99, nodes' and Redis's CPU per line: numbers.
    for cell in cells[4:8]:
        assert re.fullmatch(r"[\d.,]+k?", cell), row
    assert re.fullmatch(RATIO, cells[8]) and re.fullmatch(RATIO, cells[9]), row
    assert cells[10] == "0", row
    assert "| - | - |" in _row(done.stdout, "netlab chat")


def _runner() -> ModuleType:
    """
    @return: C{benchmarks/run.py}, imported as a module.
    """
    name = "_netlab_benchmarks_run"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, RUNNER)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # Before it runs: its dataclasses look themselves up there.
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def test_metricsOnAPortOfTheirOwn() -> None:
    """
    A netlab server in the benchmarks serves its metrics on a port the
    runner chose, never the one it listens on, and never C{tcp:0}: a
    port the kernel picks may be the one just found free for C{--listen},
    which the server binds after its metrics, and the run would then
    measure a server exiting on a port in use.
    """
    run = _runner()
    port = run.freePort()
    command = run.netlabCommand("tsserv")(port)
    metrics = command[command.index("--metrics") + 1]
    chosen = re.fullmatch(rf"tcp:(\d+):interface={re.escape(run.HOST)}", metrics)
    assert chosen is not None, metrics
    assert int(chosen.group(1)) not in (0, port)


def test_freePortBesides(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    C{freePort(besides=N)} never gives N, even when the kernel offers it.
    """
    run = _runner()
    offers = iter([40001, 40001, 40003])
    real = socket.socket

    class Offering(real):  # type: ignore[misc,valid-type]
        def bind(self, address: tuple[str, int]) -> None:
            if self.type == socket.SOCK_STREAM:
                address = (address[0], next(offers))
            super().bind(address)

    monkeypatch.setattr(run.socket, "socket", Offering)
    assert run.freePort(udp=False, besides=40001) == 40003


_PORT_ONCE_TAKEN = """
import socket, sys
from pathlib import Path
attempts = Path(sys.argv[2])
attempts.write_text(attempts.read_text() + "x" if attempts.exists() else "x")
if len(attempts.read_text()) == 1:
    print("OSError: [Errno 98] Address already in use", flush=True)
    sys.exit(1)
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    listener.accept()[0].close()
"""


def _script(tmp_path: Path, text: str) -> Callable[[int], list[str]]:
    """
    @return: a L{Server.command} running C{text} as a Python script with
        the port and a file of C{tmp_path} as its arguments.
    """
    script = tmp_path / "server.py"
    script.write_text(text)
    attempts = tmp_path / "attempts"
    return lambda port: [sys.executable, str(script), str(port), str(attempts)]


def test_serverStartedAgainWhenItsPortWasTaken(tmp_path: Path) -> None:
    """
    A server that exits because a port it was given got taken before it
    bound it is started again on another port, and measured there.
    """
    run = _runner()
    server = run.Server(
        "once", "taken once", False, _script(tmp_path, _PORT_ONCE_TAKEN)
    )
    log = tmp_path / "server.log"
    with run.runningServer(server, False, None, log) as (port, _pid):
        with socket.create_connection((run.HOST, port), timeout=5):
            pass
    assert (tmp_path / "attempts").read_text() == "xx"


def test_serverFailureSaysWhatItsLogSaid(tmp_path: Path) -> None:
    """
    A server that exits at startup for any other reason is not started
    again, and the failure ends with the last line of its log.
    """
    run = _runner()
    text = "import sys\nprint('error: no such certificate', flush=True)\nsys.exit(1)\n"
    server = run.Server("broken", "broken", False, _script(tmp_path, text))
    with pytest.raises(run.ServerFailed) as failed:
        with run.runningServer(server, False, None, tmp_path / "server.log"):
            pass
    assert str(failed.value) == "exited with status 1: error: no such certificate"
