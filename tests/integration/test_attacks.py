"""
The attack suite, C{benchmarks/attack.py}, in its short form: real C{twistd
netlab} servers on loopback under each attack in turn, one test per attack
(and one per defect check), each passing only if every check of its attack
held.

Plain pytest tests, not trial's: the servers are subprocesses, so the
attacks' blocking sockets and threads are fine here.  Each test starts the
servers it needs and stops them by their PID before it ends; every wait is
bounded.  The whole file takes about a minute; the time of each test and of
the whole file is printed at the end (C{--durations=0} for more).
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
"""
The project's root directory.
"""

BENCHMARKS = ROOT / "benchmarks"


def _attackModule() -> ModuleType:
    """
    @return: C{benchmarks/attack.py}, imported with C{benchmarks} on
        C{sys.path}.
    """
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("attack")


attack: Any = _attackModule()

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(),
    reason="the attacks read servers' memory and descriptors from Linux's /proc",
)

_totals = {"checks": 0, "failed": 0, "tests": 0}


@pytest.fixture(scope="module", autouse=True)
def _wallTime(request: pytest.FixtureRequest) -> Iterator[None]:
    """
    Report the whole file's wall time, and its checks, once it is done.
    """
    started = time.monotonic()
    yield
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nattack suite: {_totals['tests']} attacks run, "
                f"{_totals['checks']} checks, {_totals['failed']} failed, "
                f"{time.monotonic() - started:.1f} s in all"
            )


def _attack(name: str, tmp_path: Path, defects: tuple[str, ...] = ()) -> None:
    """
    Run one attack of the short form with its servers' logs in
    C{tmp_path}, and fail with every failed check's line if any did.

    @param defects: for C{defects}, which of its checks to run.
    """
    settings = attack.Settings(defects=defects) if defects else attack.Settings()
    lines: list[str] = []
    report = attack.runAttacks([name], settings, tmp_path, out=lines.append)
    for key, (value, unit) in sorted(report.figures.items()):
        print(f"{key}: {attack.formatFigure(value, unit)}")
    _totals["tests"] += 1
    _totals["checks"] += report.passed + len(report.failures)
    _totals["failed"] += len(report.failures)
    assert not report.failures, "\n".join(
        [*report.failures, f"servers' logs: {tmp_path}"]
    )


def test_rstFloods(tmp_path: Path) -> None:
    """
    Connections reset after half a line free everything on tsserv, echo and chat.
    """
    _attack("rst", tmp_path)


def test_slowloris(tmp_path: Path) -> None:
    """
    Dribblers do not starve a bystander, and unnamed chat dribblers are closed.
    """
    _attack("slowloris", tmp_path)


def test_bigLines(tmp_path: Path) -> None:
    """
    50 MB without a newline costs bounded memory and gets one error line.
    """
    _attack("biglines", tmp_path)


def test_pipeline(tmp_path: Path) -> None:
    """
    100k pipelined requests sent unread get every reply, in order, in bounded memory.
    """
    _attack("pipeline", tmp_path)


def test_nickRaces(tmp_path: Path) -> None:
    """
    Exactly one of two clients racing for a nickname gets it.
    """
    _attack("nickrace", tmp_path)


def test_churn(tmp_path: Path) -> None:
    """
    A listener hears every talker line once, in order, through 1,000 clients' churn.
    """
    _attack("churn", tmp_path)


def test_nonReader(tmp_path: Path) -> None:
    """
    A client that does not read is dropped by the backlog limit, and no one else.
    """
    _attack("nonreader", tmp_path)


def test_sigterm(tmp_path: Path) -> None:
    """
    SIGTERM with 500 chat clients tells each one goodbye and exits 0 in time.
    """
    _attack("sigterm", tmp_path)


def test_udp(tmp_path: Path) -> None:
    """
    UDP edge sizes, privileged source ports and floods are handled as documented.
    """
    _attack("udp", tmp_path)


def test_tls(tmp_path: Path) -> None:
    """
    Stalled TLS handshakes are aborted in time and free their slots.
    """
    _attack("tls", tmp_path)


def test_limits(tmp_path: Path) -> None:
    """
    Connections over the limits are told why, counted, and never let in.
    """
    _attack("limits", tmp_path)


def test_defectTlsChatHandshake(tmp_path: Path) -> None:
    """
    Chat aborts stalled TLS handshakes, so a real user can then register.
    """
    _attack("defects", tmp_path, ("a",))


def test_defectIdleNonReader(tmp_path: Path) -> None:
    """
    An idle chat client that reads nothing is closed within a bounded time.
    """
    _attack("defects", tmp_path, ("b",))


def test_defectReplyOrder(tmp_path: Path) -> None:
    """
    The line-too-long error comes in the order of the lines it answers.
    """
    _attack("defects", tmp_path, ("c",))


def test_defectBlankLines(tmp_path: Path) -> None:
    """
    Blank lines from a chat user are neither said nor answered.
    """
    _attack("defects", tmp_path, ("d",))


def test_defectAcceptBacklog(tmp_path: Path) -> None:
    """
    500 simultaneous connection attempts are all accepted, and all told goodbye.
    """
    _attack("defects", tmp_path, ("e",))


def test_defectSlowConsumerLog(tmp_path: Path) -> None:
    """
    The slow-consumer log line gives the peer as host:port, the limit and the time.
    """
    _attack("defects", tmp_path, ("f",))
