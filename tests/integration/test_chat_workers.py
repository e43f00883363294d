"""
C{twistd -n netlab chat --workers N --bus ...} with a real C{redis-server}:
the workers are nodes of one chat.

pytest-twisted tests: run them with pytest, not trial.  Like
L{tests.integration.test_chat_cluster}, each starts its own C{redis-server}
(skipped without it unless C{CI} is set, where they fail instead).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest_twisted

from tests.integration.test_chat_cluster import redisServer, until
from tests.integration.test_chat_loopback import user
from tests.integration.test_operations import _assertCleanExit, _value
from tests.integration.test_twistd import (
    RUNNERS,
    _freePort,
    acceptingTCP,
    assertOneErrorLine,
    run,
    serving,
)
from tests.integration.test_workers import _metricsOf, _openOn, _until, _workerPids

NODE_TIMEOUT = 60.0
"""
Far longer than any test here waits: what happens sooner than this does
not wait for the node timeout.
"""


def _chatWorkers(port: int, metrics: int, bus: str, *options: str) -> list[str]:
    return [
        *RUNNERS["twistd"],
        "netlab",
        "chat",
        "--workers",
        "2",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
        "--metrics",
        f"tcp:{metrics}:interface=127.0.0.1",
        "--bus",
        bus,
        "--node-timeout",
        str(NODE_TIMEOUT),
        *options,
    ]


@pytest_twisted.ensureDeferred
async def test_workersAreOneChat(tmp_path: Path) -> None:
    """
    Users handed to different workers are in one chat.  A worker killed
    with SIGKILL is restarted under its node name: its users are seen to
    quit with C{node lost} at once (not after C{--node-timeout}), their
    nicknames are free again, and the restarted worker takes users of its
    own again; SIGTERM drains every worker, exit 0.
    """
    async with redisServer(tmp_path) as redisPort:
        bus = f"redis://127.0.0.1:{redisPort}/0"
        port, metrics = _freePort(), _freePort()
        command = _chatWorkers(port, metrics, bus, "--node", "cw")
        async with serving(command, tmp_path, acceptingTCP(metrics)) as server:
            when = _metricsOf(metrics)

            def bothConnected(s: object) -> bool:
                return len(_workerPids(s)) == 2 and all(  # type: ignore[arg-type]
                    _value(s, "netlab_chat_bus_connected", service="chat", worker=w)
                    == 1
                    for w in ("1", "2")
                )

            samples = await _until(
                when(bothConnected), "two workers on the bus", server
            )
            pids = _workerPids(samples)
            alice = await user(port, "alice")
            bob = await user(port, "bob")
            samples = await _until(
                when(
                    lambda s: (
                        _openOn(s, "1", "chat") == 1 and _openOn(s, "2", "chat") == 1
                    )
                ),
                "a user on each worker",
                server,
            )
            await alice.untilLine(b"JOIN #lobby bob")
            alice.send(b"hello from one worker")
            await bob.untilLine(b"MSG #lobby alice hello from one worker")
            bob.send(b"/who")
            await bob.untilLine(b"OK who #lobby alice bob")

            # Which worker alice is on: the one whose users drop when killed.
            killedAt = time.monotonic()
            os.kill(pids["1"], signal.SIGKILL)
            await until(lambda: alice.isClosed or bob.isClosed, "a user cut", 30)
            gone, stayed = (alice, bob) if alice.isClosed else (bob, alice)
            goneNick = b"alice" if gone is alice else b"bob"
            await stayed.untilLine(b"QUIT " + goneNick + b" node lost", timeout=30)
            assert time.monotonic() - killedAt < NODE_TIMEOUT / 2
            await _until(
                when(
                    lambda s: (
                        _workerPids(s).get("1") not in (None, pids["1"])
                        and bothConnected(s)
                    )
                ),
                "worker 1 restarted, on the bus",
                server,
            )
            assert "node cw-w1 connected" in server.out, server.out
            # The nickname is free, and whichever worker the new user is
            # handed to, it is in the same chat.
            again = await user(port, goneNick.decode())
            await stayed.untilLine(b"JOIN #lobby " + goneNick)
            again.send(b"back")
            await stayed.untilLine(b"MSG #lobby " + goneNick + b" back")
            third = await user(port, "carol")
            await stayed.untilLine(b"JOIN #lobby carol")
            await again.untilLine(b"JOIN #lobby carol")
            server.kill("TERM")
            await stayed.until(lambda: stayed.isClosed, "drained")
            assert any(b"shutting down" in line for line in stayed.lines), stayed.lines
            assert third is not None
        _assertCleanExit(server)


@pytest_twisted.ensureDeferred
async def test_workersNodeNameInUse(tmp_path: Path) -> None:
    """
    A worker's node name held by a live node is reported once, by the
    parent, before any worker starts: one line, exit status 1.
    """
    async with redisServer(tmp_path) as redisPort:
        bus = f"redis://127.0.0.1:{redisPort}/0"
        port, other = _freePort(), _freePort()
        single = [
            *RUNNERS["twistd"],
            "netlab",
            "chat",
            "--listen",
            f"tcp:{other}:interface=127.0.0.1",
            "--bus",
            bus,
            "--node",
            "cw-w2",
        ]
        directory = tmp_path / "single"
        directory.mkdir()
        async with serving(single, directory, acceptingTCP(other)):
            process = await run(
                _chatWorkers(port, _freePort(), bus, "--node", "cw"), tmp_path
            )
        assertOneErrorLine(
            process, "netlab chat: error: ", "--node cw-w2: a node of that name"
        )
        assert "worker 1" not in process.out + process.err, process.describe()


@pytest_twisted.ensureDeferred
async def test_workersRedisUnreachable(tmp_path: Path) -> None:
    """
    Redis unreachable: one line from the parent naming it, exit 1.
    """
    unused = _freePort()
    process = await run(
        _chatWorkers(_freePort(), _freePort(), f"redis://127.0.0.1:{unused}/0"),
        tmp_path,
    )
    assertOneErrorLine(
        process,
        "netlab chat: error: ",
        f"--bus redis://127.0.0.1:{unused}/0: cannot reach Redis",
    )
    assert "worker 1" not in process.out + process.err, process.describe()
