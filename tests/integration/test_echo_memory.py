"""
The echo server's memory bound against a slow reader, measured on a real
C{twistd -n netlab echo} process, so that its resident memory is its own.

pytest-twisted test: run it with pytest, not trial.  The server listens on
127.0.0.1 only; its resident memory is read from C{/proc/PID/status}, so the
test runs only where that exists (Linux).  The client is blocking sockets in
threads; every wait is bounded, and the server is stopped in C{finally}.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from tests.integration.test_twistd import RUNNERS, _freePort, acceptingTCP, serving

MiB = 1024 * 1024

TOTAL = 200 * MiB
"""
How much the client sends, and must get back.
"""

CHUNK = MiB
"""
The size of each generated (and sent) piece of the stream.
"""

SEED = 862
"""
Seeds the pseudo-random stream; the sender and the checker each generate it.
"""

STALL = 4.0
"""
Seconds the client sends without reading.
"""

BOUND = 16 * MiB
"""
How much the server's resident memory may grow while the client stalls.
"""

SAMPLE_INTERVAL = 0.05
"""
Seconds between two readings of the server's resident memory.
"""

SOCKET_TIMEOUT = 30.0
"""
Seconds any one blocking socket operation of the client may take (a send
blocks for the whole stall).
"""

TEST_TIMEOUT = 80.0
"""
Seconds the client may take in all.
"""


def _chunks() -> Any:
    """
    @return: an iterator over the L{TOTAL} bytes of the stream, in
        L{CHUNK}-sized pieces, the same on every call.
    """
    generator = random.Random(SEED)
    for _ in range(TOTAL // CHUNK):
        yield generator.randbytes(CHUNK)


def residentBytes(pid: int) -> int:
    """
    @return: the resident memory of process C{pid} (C{VmRSS}), in bytes.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(value) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class _Sender(threading.Thread):
    """
    Sends the whole stream on a connected socket, then shuts down its
    sending side.

    @ivar sent: how many bytes have been handed to the socket so far.
    @ivar failure: what went wrong, if anything did.
    """

    def __init__(self, client: socket.socket) -> None:
        super().__init__(daemon=True)
        self._client = client
        self.sent = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            for chunk in _chunks():
                self._client.sendall(chunk)
                self.sent += len(chunk)
            self._client.shutdown(socket.SHUT_WR)
        except BaseException as e:
            self.failure = e


def _check(client: socket.socket) -> tuple[int, int | None]:
    """
    Read the echo until the server closes, comparing it with a freshly
    generated copy of the stream, one chunk at a time.

    @return: how many bytes came back, and the offset of the first that
        differed from the stream (L{None} if none did).
    """
    expected = _chunks()
    current = memoryview(b"")
    offset = 0  # into current
    received = 0
    buffer = bytearray(256 * 1024)
    view = memoryview(buffer)
    while count := client.recv_into(buffer):
        got = view[:count]
        while got:
            if offset == len(current):
                current = memoryview(next(expected, b""))
                offset = 0
                if not current:
                    # More came back than was sent.
                    return received + len(got), received
            size = min(len(got), len(current) - offset)
            if got[:size] != current[offset : offset + size]:
                pairs = zip(got[:size], current[offset : offset + size], strict=True)
                return received, received + next(
                    i for i, (a, b) in enumerate(pairs) if a != b
                )
            offset += size
            received += size
            got = got[size:]
    return received, None


def _slowReader(port: int, pid: int) -> dict[str, Any]:
    """
    Connect, take the server's resident memory as a baseline, then send
    the stream while reading nothing for L{STALL} seconds, sampling the
    server's resident memory; then read and check the echo to the end.

    @return: what was measured.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        # A small receive window, so that little of the echo can wait in
        # the client's kernel buffers while it does not read.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.settimeout(SOCKET_TIMEOUT)
        client.connect(("127.0.0.1", port))
        baseline = residentBytes(pid)
        sender = _Sender(client)
        started = time.monotonic()
        sender.start()
        stallPeak = baseline
        while time.monotonic() - started < STALL:
            stallPeak = max(stallPeak, residentBytes(pid))
            time.sleep(SAMPLE_INTERVAL)
            assert sender.failure is None, sender.failure
        sentDuringStall = sender.sent
        received, firstDifference = _check(client)
        sender.join(SOCKET_TIMEOUT)
        assert not sender.is_alive(), "the sender did not finish"
        return {
            "baseline": baseline,
            "stallPeak": stallPeak,
            "sentDuringStall": sentDuringStall,
            "after": residentBytes(pid),
            "sent": sender.sent,
            "sendFailure": sender.failure,
            "received": received,
            "firstDifference": firstDifference,
            "seconds": time.monotonic() - started,
        }


@pytest.mark.skipif(
    not Path("/proc/self/status").exists(),
    reason="reads resident memory from /proc/PID/status (Linux)",
)
@pytest_twisted.ensureDeferred
async def test_slowReaderBoundedMemory(tmp_path: Path) -> None:
    """
    While a client pushes 200 MiB without reading for several seconds, the
    resident memory of C{twistd -n netlab echo} grows by less than 16 MiB;
    then, once the client reads, every byte comes back, in order, and the
    server closes after the client's half-close.
    """
    from twisted.internet import reactor

    port = _freePort()
    command = [
        *RUNNERS["twistd"],
        "netlab",
        "echo",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
        "--no-udp",
    ]
    async with serving(command, tmp_path, acceptingTCP(port)) as server:
        pid = server.transport.pid
        measured = await deferToThread(_slowReader, port, pid).addTimeout(
            TEST_TIMEOUT, reactor
        )
    growth = measured["stallPeak"] - measured["baseline"]
    report = (
        f"server RSS {measured['baseline'] / MiB:.1f} MiB at the start, "
        f"{measured['stallPeak'] / MiB:.1f} MiB at most during the {STALL:g}s "
        f"stall (growth {growth / MiB:.2f} MiB), {measured['after'] / MiB:.1f} "
        f"MiB at the end; {measured['sentDuringStall'] / MiB:.1f} MiB taken "
        f"from the client during the stall; {measured['received'] / MiB:.1f} "
        f"MiB echoed in {measured['seconds']:.1f}s"
    )
    print(report)
    assert growth < BOUND, report
    assert measured["sendFailure"] is None, measured["sendFailure"]
    assert measured["sent"] == TOTAL, report
    assert measured["firstDifference"] is None, (
        f"the echo differs from byte {measured['firstDifference']}; {report}"
    )
    assert measured["received"] == TOTAL, report
