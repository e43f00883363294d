"""
The benchmark runner, C{benchmarks/run.py}, end to end: a smoke run
(C{--quick}) of a few scenarios builds the C load generator, measures netlab
and its peers on loopback, and prints tables with ratios.

A plain pytest test: everything happens in a subprocess, bounded in time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

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
