#!/usr/bin/env python3
"""
Attack netlab's servers the way the network will, and check that they hold.

Starts real C{twistd -n netlab ...} servers as subprocesses on free ports of
127.0.0.1 (and ::1), each with C{--metrics} and a log file, attacks them
from this process with plain sockets, selectors and threads, and checks
what must hold: resident memory within a stated bound and not growing from
round to round, connections back to zero afterwards (read from the
metrics), no traceback in the log, a bystander still served, every byte or
line accounted for.  Every loop is bounded by a count and by wall-clock
time; every server is stopped by its PID (SIGTERM, then SIGKILL) on the
way out.

Run from the project's root with the virtualenv's Python::

    .venv/bin/python benchmarks/attack.py                  # every attack once
    .venv/bin/python benchmarks/attack.py --only rst,udp   # some of them
    .venv/bin/python benchmarks/attack.py --soak 30        # for 30 minutes

The exit status is 0 only if every check held; each failed check is one
line starting with C{FAIL}.  See C{benchmarks/README.rst}, "Attack suite".
Importable: L{runAttacks} is what C{tests/integration/test_attacks.py}
calls.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

# The benchmark runner beside this file: its port and child-process helpers.
from run import childSetup, freePort

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
"""
The C{benchmarks} directory.
"""

ROOT = HERE.parent
"""
The project's root (for the test certificates of C{tests/_certificates.py}).
"""

HOST = "127.0.0.1"
"""
Every server listens here, and every attack comes from here.
"""

HOST6 = "::1"
"""
The IPv6 loopback address: a second source address for the per-source
limit, where the machine has it.
"""

KiB = 1024
MiB = 1024 * KiB

READY_TIMEOUT = 20.0
"""
Seconds a server may take to start serving.
"""

STOP_TIMEOUT = 10.0
"""
Seconds a server may take to exit after SIGTERM (its grace is 5 s) before
it gets SIGKILL.
"""

CONNECT_TIMEOUT = 5.0
"""
Seconds a blocking connect or send may take.
"""

REPLY_TIMEOUT = 10.0
"""
Seconds a reply to one request may take.
"""

BYSTANDER_TIMEOUT = 5.0
"""
Seconds a bystander's request may take during an attack.
"""

BYSTANDER_INTERVAL = 0.2
"""
Seconds between two requests of the bystanders.
"""

SETTLE_TIMEOUT = 10.0
"""
Seconds after an attack within which the server's connections must be back
to zero and its file descriptors back to where they were.
"""

ATTACK_SECONDS = 30.0
"""
Wall-clock bound of any one loop of an attack.
"""

GROWTH_TOLERANCE = 4 * MiB
"""
How much more resident memory a server may hold after the last round of an
attack than after its second one.  Allocators rarely give memory back, so a
level proves nothing; a leak is growth from round to round.
"""

FD_SLACK = 1
"""
File descriptors a server may hold after an attack beyond those it held
before (a metrics scrape closing).
"""

POLL_INTERVAL = 0.05
"""
Seconds between two looks of a poll with a deadline.
"""

SAMPLE_INTERVAL = 0.02
"""
Seconds between two samples of a server's resident memory.
"""

ROUNDS = 3
"""
Rounds of each attack against the same servers, in the short form: enough
to compare the second with the last.
"""

SOAK_RSS_SLOPE = 256.0
"""
KiB per soak round a server's resident memory may grow by, by least
squares over the rounds after the first.
"""

SOAK_FD_SLOPE = 0.1
"""
File descriptors per soak round a server's count may grow by.
"""

SOAK_MIN_ROUNDS = 5
"""
Soak rounds needed before the slopes are checked (fewer are only printed).
"""

GOODBYE = b"NOTE the server is shutting down; goodbye"
"""
What every chat user is told when the server stops.
"""

TRACE_WORDS = ("Traceback", "Unhandled")
"""
What must never be in a server's log.
"""


class AttackError(Exception):
    """
    Something an attack needed did not happen (a server did not start, a
    reply did not come in time): the attack stops, and that is a failed
    check.
    """


def monotonic() -> float:
    """
    @return: seconds on the monotonic clock.
    """
    return time.monotonic()


def pollUntil(predicate: Callable[[], bool], timeout: float) -> bool:
    """
    Look at C{predicate} every L{POLL_INTERVAL} seconds until it holds or
    C{timeout} seconds have passed.

    @return: whether it held.
    """
    deadline = monotonic() + timeout
    while True:
        if predicate():
            return True
        if monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)


def pollValue(
    read: Callable[[], T], good: Callable[[T], bool], timeout: float
) -> tuple[bool, T]:
    """
    Read a value every L{POLL_INTERVAL} seconds until it is good or
    C{timeout} seconds have passed.

    @return: whether it became good, and the last value read.
    """
    deadline = monotonic() + timeout
    while True:
        value = read()
        if good(value) or monotonic() >= deadline:
            return good(value), value
        time.sleep(POLL_INTERVAL)


def hasIPv6Loopback() -> bool:
    """
    @return: whether ::1 can be bound here.
    """
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind((HOST6, 0))
    except OSError:
        return False
    return True


# Reports


@dataclass
class Report:
    """
    What a run found: every check's outcome and the figures measured.

    @ivar passed: how many checks held.
    @ivar failures: one line for each check that did not.
    @ivar figures: measured figures, C{"attack: what"} to a value and its
        unit.
    @ivar out: where lines are printed as they come.
    """

    passed: int = 0
    failures: list[str] = field(default_factory=list)
    figures: dict[str, tuple[float, str]] = field(default_factory=dict)
    out: Callable[[str], object] = print

    def check(self, attack: str, ok: bool, what: str, detail: str = "") -> bool:
        """
        Count a check, printing it in one line if it failed.

        @param attack: the attack's name.
        @param ok: whether it held.
        @param what: what must hold, as a sentence.
        @param detail: what was seen instead, if it did not.
        @return: C{ok}.
        """
        if ok:
            self.passed += 1
        else:
            line = f"FAIL {attack}: {what}" + (f" ({detail})" if detail else "")
            self.failures.append(line)
            self.out(line)
        return ok

    def figure(self, attack: str, what: str, value: float, unit: str) -> None:
        """
        Record a measured figure, keeping the largest of repeated ones.
        """
        key = f"{attack}: {what}"
        old = self.figures.get(key)
        if old is None or value > old[0]:
            self.figures[key] = (value, unit)

    def failuresOf(self, attack: str) -> list[str]:
        """
        @return: the failure lines of one attack.
        """
        return [line for line in self.failures if line.startswith(f"FAIL {attack}")]


def formatFigure(value: float, unit: str) -> str:
    """
    @return: C{value} with thousands separators and C{unit}.
    """
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


# Servers


@dataclass(frozen=True)
class ServerSpec:
    """
    A server to start.

    @ivar name: its name in reports and log file names.
    @ivar service: the C{twistd netlab} sub-command.
    @ivar options: the sub-command's options (C{--listen}, the UDP port and
        C{--metrics} are added).
    @ivar stream: whether it listens on a stream port.
    @ivar udp: whether it serves UDP.
    @ivar tls: whether its stream port is C{ssl:}.
    @ivar ipv6: whether it also listens on ::1 (where the machine has it).
    """

    name: str
    service: str
    options: tuple[str, ...] = ()
    stream: bool = True
    udp: bool = False
    tls: bool = False
    ipv6: bool = False


def twistdCommand() -> list[str]:
    """
    @return: the command that runs the C{twistd} next to the running Python
        (the virtualenv's), or, without one, C{twistd} through that Python.
    """
    twistd = Path(sys.executable).parent / "twistd"
    if twistd.exists():
        return [str(twistd)]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def raiseFileLimit() -> None:
    """
    Raise this process's soft limit of open files to its hard limit: the
    attacks hold over a thousand sockets.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


_SAMPLE = re.compile(
    r"^(?P<name>[A-Za-z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)"
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parseMetrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """
    Parse the Prometheus text format, as far as netlab's series need.

    @return: each sample's name, labels and value.
    """
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        samples.append((match["name"], labels, float(match["value"])))
    return samples


class Server:
    """
    A C{twistd -n netlab} server started by this process.

    @ivar spec: what it is.
    @ivar port: its stream port on 127.0.0.1, if any (0 otherwise).
    @ivar port6: its stream port on ::1, if it listens there (0 otherwise).
    @ivar udpPort: its UDP port, if any.
    @ivar metricsPort: where it serves C{GET /metrics}.
    @ivar log: its log file (C{--logfile}).
    @ivar output: its standard output and error.
    """

    def __init__(
        self, spec: ServerSpec, directory: Path, certificate: Any = None
    ) -> None:
        """
        @param spec: what to start.
        @param directory: where its log files go.
        @param certificate: the L{tests._certificates.CertificateFiles} of
            a TLS server.
        """
        self.spec = spec
        self.certificate = certificate
        self.port = freePort(udp=spec.udp) if spec.stream or spec.udp else 0
        self.udpPort = self.port if spec.udp else 0
        self.port6 = (
            freePort(udp=False, host=HOST6) if spec.ipv6 and hasIPv6Loopback() else 0
        )
        self.metricsPort = freePort(udp=False)
        stem = f"{spec.name}-{self.port}"
        self.log = directory / f"{stem}.log"
        self.output = directory / f"{stem}.out"
        self.process: subprocess.Popen[bytes] | None = None
        self.exitCode: int | None = None

    def command(self) -> list[str]:
        """
        @return: the command line that runs it.
        """
        spec = self.spec
        args = [
            *twistdCommand(),
            "-n",
            "--pidfile=",
            "--logfile",
            str(self.log),
            "netlab",
            spec.service,
            *spec.options,
        ]
        if spec.stream:
            if spec.tls:
                files = self.certificate
                args += [
                    "--listen",
                    f"ssl:{self.port}:interface={HOST}:privateKey={files.key}"
                    f":certKey={files.certificate}",
                ]
            else:
                args += ["--listen", f"tcp:{self.port}:interface={HOST}"]
            if self.port6:
                args += ["--listen", f"tcp6:port={self.port6}:interface=\\:\\:1"]
        if spec.udp:
            args += ["--udp-port", str(self.udpPort), "--udp-interface", HOST]
        args += ["--metrics", f"tcp:{self.metricsPort}:interface={HOST}"]
        return args

    def start(self) -> None:
        """
        Start it (without waiting for it to serve).
        """
        with self.output.open("wb") as output:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=childSetup(None),
                cwd=self.log.parent,
            )

    @property
    def pid(self) -> int:
        """
        The server's process id.
        """
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """
        @return: whether it is still running.
        """
        return self.process is not None and self.process.poll() is None

    def _serving(self) -> bool:
        try:
            self.metricsText()
            if self.spec.stream:
                for host, port in ((HOST, self.port), (HOST6, self.port6)):
                    if port:
                        with socket.create_connection((host, port), timeout=0.5):
                            pass
            if self.spec.udp:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    probe.settimeout(0.3)
                    probe.sendto(b"probe", (HOST, self.udpPort))
                    if not probe.recvfrom(2048)[0].endswith(b"probe"):
                        return False
        except OSError:
            return False
        return True

    def waitServing(self, timeout: float = READY_TIMEOUT) -> None:
        """
        Wait until it serves its metrics and each of its ports.

        @raise AttackError: if it exits, or does not serve in time.
        """
        deadline = monotonic() + timeout
        while monotonic() < deadline:
            if not self.alive():
                raise AttackError(
                    f"{self.spec.name} exited with status "
                    f"{self.process.poll() if self.process else None}: "
                    f"{self.tail()}"
                )
            if self._serving():
                return
            time.sleep(POLL_INTERVAL)
        raise AttackError(f"{self.spec.name} did not serve within {timeout:g}s")

    def tail(self, lines: int = 3) -> str:
        """
        @return: the last lines of what it printed, in one line.
        """
        try:
            text = self.output.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def signal(self, number: int) -> None:
        """
        Send it a signal, by its PID.
        """
        if self.alive():
            os.kill(self.pid, number)

    def wait(self, timeout: float) -> int | None:
        """
        @return: its exit status once it has exited, or C{None} if it is
            still running after C{timeout} seconds.
        """
        if self.process is None:
            return None
        try:
            self.exitCode = self.process.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            return None
        return self.exitCode

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """
        Stop it by its PID: SIGTERM, then SIGKILL if it is still running
        after C{timeout} seconds.

        @return: its exit status if it exited by itself after SIGTERM,
            C{None} if it had to be killed.
        """
        if self.process is None:
            return None
        if self.process.poll() is not None:
            self.exitCode = self.process.returncode
            return self.exitCode
        self.signal(signal.SIGTERM)
        status = self.wait(timeout)
        if status is None:
            self.process.kill()
            self.process.wait(timeout=timeout)
        return status

    # What it holds

    def rss(self) -> int:
        """
        @return: its resident memory, in KiB (VmRSS); 0 once it has exited.
        """
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def fds(self) -> int:
        """
        @return: how many file descriptors it has open; 0 once it has
            exited.
        """
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return 0

    def metricsText(self) -> str:
        """
        @return: what C{GET /metrics} answers.
        """
        url = f"http://{HOST}:{self.metricsPort}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode("utf-8")
            return text

    def metric(self, name: str, **labels: str) -> float:
        """
        @return: the sum of the samples of C{name} whose labels include
            C{labels} (C{service} defaults to the server's).
        """
        labels.setdefault("service", self.spec.service)
        total = 0.0
        for sample, sampleLabels, value in parseMetrics(self.metricsText()):
            if sample == name and all(
                sampleLabels.get(k) == v for k, v in labels.items()
            ):
                total += value
        return total

    def openConnections(self) -> int:
        """
        @return: its open stream connections (C{netlab_connections_open}),
            over every transport (a TLS listener's are C{transport="tls"}).
        """
        return int(self.metric("netlab_connections_open"))

    def chatUsers(self) -> int:
        """
        @return: its registered chat users (C{netlab_chat_users}).
        """
        return int(self.metric("netlab_chat_users"))

    def refusals(self, reason: str, transport: str | None = None) -> int:
        """
        @return: its refusals for C{reason} (C{netlab_refusals_total}), of
            C{transport} or of every one.
        """
        labels = {"reason": reason}
        if transport is not None:
            labels["transport"] = transport
        return int(self.metric("netlab_refusals_total", **labels))

    def logSize(self) -> int:
        """
        @return: how many bytes it has logged so far, rotated files
            included.
        """
        return sum(path.stat().st_size for path in self._logFiles())

    def _logFiles(self) -> list[Path]:
        # twistd rotates its log file every megabyte: FILE.1 is the newest
        # rotated one.
        rotated = []
        for path in self.log.parent.glob(self.log.name + ".*"):
            suffix = path.name[len(self.log.name) + 1 :]
            if suffix.isdigit():
                rotated.append((int(suffix), path))
        files = [path for _, path in sorted(rotated, reverse=True)]
        if self.log.exists():
            files.append(self.log)
        return files

    def logSince(self, offset: int) -> str:
        """
        @return: what it logged after the first C{offset} bytes.
        """
        chunks = []
        for path in self._logFiles():
            size = path.stat().st_size
            if offset >= size:
                offset -= size
                continue
            with path.open("rb") as log:
                log.seek(offset)
                chunks.append(log.read())
            offset = 0
        return b"".join(chunks).decode("utf-8", errors="replace")

    def traces(self, offset: int) -> list[str]:
        """
        @return: the lines logged after C{offset} bytes, or printed, that
            say "Traceback" or "Unhandled".
        """
        try:
            printed = self.output.read_text(errors="replace")
        except OSError:
            printed = ""
        return [
            line
            for line in (self.logSince(offset) + "\n" + printed).splitlines()
            if any(word in line for word in TRACE_WORDS)
        ]


class Pool:
    """
    The servers of a run, each started the first time an attack asks for
    it and kept until the run ends, so that a soak's rounds attack the same
    processes.
    """

    def __init__(self, directory: Path, report: Report) -> None:
        self.directory = directory
        self.report = report
        self._servers: dict[str, Server] = {}
        self._certificate: Any = None
        self._stopped: list[Server] = []

    def certificate(self) -> Any:
        """
        @return: a throw-away self-signed certificate for 127.0.0.1 (the
            C{CertificateFiles} of C{tests/_certificates.py}).
        """
        if self._certificate is None:
            if str(ROOT) not in sys.path:
                sys.path.insert(0, str(ROOT))
            from tests._certificates import selfSigned

            directory = self.directory / "tls"
            directory.mkdir(exist_ok=True)
            self._certificate = selfSigned(directory)
        return self._certificate

    def _new(self, spec: ServerSpec) -> Server:
        certificate = self.certificate() if spec.tls else None
        return Server(spec, self.directory, certificate)

    def _startAll(self, specs: Sequence[ServerSpec]) -> list[Server]:
        servers = [self._new(spec) for spec in specs]
        for server in servers:
            server.start()
        for i, server in enumerate(servers):
            for attempt in range(3):
                try:
                    server.waitServing()
                    break
                except AttackError:
                    # A port taken between choosing and binding it: again,
                    # on other ports.
                    server.stop()
                    if attempt == 2 or "is using it" not in server.tail():
                        raise
                    server = servers[i] = self._new(server.spec)
                    server.start()
        return servers

    def get(self, *specs: ServerSpec) -> list[Server]:
        """
        @return: a running server for each of C{specs}, started (all at
            once) if need be.
        @raise AttackError: if one does not start.
        """
        missing = []
        for spec in specs:
            server = self._servers.get(spec.name)
            if server is not None and not server.alive():
                self.report.check(
                    "servers",
                    False,
                    f"{spec.name} keeps running between attacks",
                    f"exited with status {server.process and server.process.poll()}",
                )
                del self._servers[spec.name]
                self._stopped.append(server)
                server = None
            if server is None:
                missing.append(spec)
        if missing:
            for server in self._startAll(missing):
                self._servers[server.spec.name] = server
        return [self._servers[spec.name] for spec in specs]

    def fresh(self, spec: ServerSpec) -> Server:
        """
        @return: a server of its own for one attack, running; the caller
            stops it (it is stopped at the end of the run in any case).
        """
        server = self._startAll([spec])[0]
        self._stopped.append(server)
        return server

    def servers(self) -> list[Server]:
        """
        @return: the pooled servers, running now.
        """
        return list(self._servers.values())

    def stopAll(self) -> None:
        """
        Stop every server, checking that each pooled one exits by itself
        with status 0 on SIGTERM and never logged a traceback.
        """
        for server in self._stopped:
            server.stop()
        for server in self._servers.values():
            status = server.stop()
            self.report.check(
                "servers",
                status == 0,
                f"{server.spec.name} exits with status 0 on SIGTERM",
                f"status {status}" if status is not None else "killed",
            )
            traces = server.traces(0)
            self.report.check(
                "servers",
                not traces,
                f"{server.spec.name} logged no traceback over the whole run",
                "; ".join(traces[:3]),
            )
        self._servers.clear()


# Clients


def connectTCP(
    port: int,
    host: str = HOST,
    receiveBuffer: int = 0,
    timeout: float = CONNECT_TIMEOUT,
) -> socket.socket:
    """
    @param receiveBuffer: if not 0, the receive buffer's size, fixed before
        connecting.
    @return: a blocking TCP connection to C{host}:C{port}.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if receiveBuffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receiveBuffer)
        sock.settimeout(timeout)
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def resetClose(sock: socket.socket) -> None:
    """
    Close C{sock} with a reset (RST) rather than a FIN: SO_LINGER 0.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class LineClient:
    """
    A blocking line client over one socket (plain or TLS), every wait with
    a deadline.

    @ivar sock: its socket.
    @ivar closed: whether the server closed (end of file or reset).
    @ivar reset: whether that was a reset.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed = False
        self.reset = False
        self._buffer = b""

    @classmethod
    def connect(cls, port: int, host: str = HOST, receiveBuffer: int = 0) -> LineClient:
        """
        @return: a client connected to C{host}:C{port}.
        """
        return cls(connectTCP(port, host, receiveBuffer))

    def send(self, data: bytes) -> None:
        """
        Send all of C{data}, within L{ATTACK_SECONDS}.
        """
        self.sock.settimeout(ATTACK_SECONDS)
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> None:
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise AttackError("no reply in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(256 * KiB)
        except TimeoutError:
            raise AttackError("no reply in time") from None
        except ssl.SSLError:
            data = b""
        except OSError as e:
            self.reset = e.errno == errno.ECONNRESET
            data = b""
        if data:
            self._buffer += data
        else:
            self.closed = True

    def readLine(self, deadline: float) -> bytes | None:
        """
        @return: the next line, without its LF or CR LF; C{None} once the
            server has closed.
        @raise AttackError: if no line comes by C{deadline}.
        """
        while b"\n" not in self._buffer:
            if self.closed:
                return None
            self._fill(deadline)
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.removesuffix(b"\r")

    def readUntil(
        self, predicate: Callable[[bytes], bool], deadline: float
    ) -> list[bytes]:
        """
        @return: the lines read up to and including the first for which
            C{predicate} holds.
        @raise AttackError: if the server closes first, or by C{deadline}.
        """
        lines: list[bytes] = []
        while True:
            line = self.readLine(deadline)
            if line is None:
                raise AttackError(f"closed before the reply; read {lines[-3:]!r}")
            lines.append(line)
            if predicate(line):
                return lines

    def readToEnd(self, deadline: float) -> list[bytes] | None:
        """
        @return: every line until the server closes; C{None} if it has not
            closed by C{deadline}.
        """
        lines = []
        try:
            while True:
                line = self.readLine(deadline)
                if line is None:
                    if self._buffer:
                        lines.append(self._buffer)
                        self._buffer = b""
                    return lines
                lines.append(line)
        except AttackError:
            return None

    def close(self) -> None:
        """
        Close the connection.
        """
        with contextlib.suppress(OSError):
            self.sock.close()


def startsWith(prefix: bytes) -> Callable[[bytes], bool]:
    """
    @return: a predicate: whether a line starts with C{prefix}.
    """
    return lambda line: line.startswith(prefix)


def registerChat(
    port: int, nick: str, host: str = HOST, receiveBuffer: int = 0
) -> tuple[LineClient, list[bytes]]:
    """
    Connect to a chat server and choose a nickname.

    @return: the client, and the lines read up to its C{OK nick}.
    @raise AttackError: if the nickname is refused.
    """
    client = LineClient.connect(port, host, receiveBuffer)
    client.send(nick.encode("ascii") + b"\n")
    lines = client.readUntil(
        lambda line: line.startswith((b"OK nick", b"ERR")), monotonic() + REPLY_TIMEOUT
    )
    if not lines[-1].startswith(b"OK nick"):
        client.close()
        raise AttackError(f"registering {nick}: {lines[-1]!r}")
    return client, lines


def clientHello() -> bytes:
    """
    @return: the first flight of a real TLS client: its ClientHello, as
        C{ssl} writes it into a memory BIO.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def connectTLS(port: int, certificate: Path) -> LineClient:
    """
    @return: a client that has finished a TLS handshake with 127.0.0.1
        C{port}, trusting only C{certificate}.
    @raise OSError: if connecting or the handshake fails.
    """
    context = ssl.create_default_context(cafile=str(certificate))
    raw = connectTCP(port)
    try:
        tls = context.wrap_socket(raw, server_hostname=HOST)
    except OSError:
        raw.close()
        raise
    return LineClient(tls)


class Member:
    """
    One connection of a L{Crowd}.

    @ivar index: its place in the crowd.
    @ivar lines: the lines received, without their endings (if the crowd
        keeps lines).
    @ivar received: bytes received.
    @ivar connected: whether it is connected.
    @ivar closed: whether it is closed (by either side).
    @ivar reset: whether the server reset it.
    @ivar closedAt: when the server closed it, on the monotonic clock.
    @ivar openedAt: when it started connecting.
    @ivar note: free for the attack's use.
    """

    def __init__(self, sock: socket.socket, index: int, reading: bool) -> None:
        self.sock = sock
        self.index = index
        self.reading = reading
        self.lines: list[bytes] = []
        self.received = 0
        self.connected = False
        self.closed = False
        self.reset = False
        self.error = ""
        self.closedAt = 0.0
        self.openedAt = monotonic()
        self.note: Any = None
        self._buffer = b""
        self._outbox = b""
        self._mask = 0

    def has(self, prefix: bytes) -> bool:
        """
        @return: whether a line received starts with C{prefix}.
        """
        return any(line.startswith(prefix) for line in self.lines)


class Crowd:
    """
    Many non-blocking connections in one selector, pumped from one thread.

    @ivar members: every connection, in the order they were made.
    @ivar onLine: called with a member and each line it receives (before
        the line is kept).
    @ivar onClose: called with a member when the server closes it.
    @ivar keepLines: whether members keep the lines they receive.
    """

    def __init__(self, keepLines: bool = True) -> None:
        self._selector = selectors.DefaultSelector()
        self.members: list[Member] = []
        self.onLine: Callable[[Member, bytes], None] | None = None
        self.onClose: Callable[[Member], None] | None = None
        self.keepLines = keepLines
        self.splitLines = True

    def connect(
        self,
        port: int,
        count: int = 1,
        host: str = HOST,
        receiveBuffer: int = 0,
        reading: bool = True,
    ) -> list[Member]:
        """
        Start C{count} connections to C{host}:C{port}, at once.

        @param receiveBuffer: if not 0, each one's receive buffer size.
        @param reading: whether they read what the server sends.
        @return: the new members, connecting.
        """
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        new = []
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            if receiveBuffer:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receiveBuffer)
            sock.setblocking(False)
            member = Member(sock, len(self.members), reading)
            self.members.append(member)
            new.append(member)
            code = sock.connect_ex((host, port))
            if code == 0:
                member.connected = True
            elif code not in (errno.EINPROGRESS, errno.EAGAIN):
                member.closed = True
                member.error = os.strerror(code)
                sock.close()
                continue
            self._update(member)
        return new

    def _update(self, member: Member) -> None:
        mask = 0
        if not member.closed:
            if member.reading and member.connected:
                mask |= selectors.EVENT_READ
            if not member.connected or member._outbox:
                mask |= selectors.EVENT_WRITE
        if mask == member._mask:
            return
        if member._mask == 0:
            self._selector.register(member.sock, mask, member)
        elif mask == 0:
            self._selector.unregister(member.sock)
        else:
            self._selector.modify(member.sock, mask, member)
        member._mask = mask

    def send(self, member: Member, data: bytes) -> None:
        """
        Send C{data} on C{member}, now or as soon as it can take it.
        """
        if member.closed:
            return
        member._outbox += data
        self._flush(member)

    def _flush(self, member: Member) -> None:
        if member.connected and member._outbox:
            try:
                sent = member.sock.send(member._outbox)
                member._outbox = member._outbox[sent:]
            except BlockingIOError:
                pass
            except OSError as e:
                self._lost(member, e)
                return
        self._update(member)

    def _lost(self, member: Member, error: OSError | None = None) -> None:
        if member.closed:
            return
        if error is not None:
            member.reset = error.errno == errno.ECONNRESET
            member.error = str(error)
        if self._buffered(member):
            self._line(member, member._buffer)
            member._buffer = b""
        member.closed = True
        member.closedAt = monotonic()
        self._update(member)
        member.sock.close()
        if self.onClose is not None:
            self.onClose(member)

    def _buffered(self, member: Member) -> bool:
        return self.splitLines and bool(member._buffer)

    def _line(self, member: Member, line: bytes) -> None:
        line = line.removesuffix(b"\r")
        if self.onLine is not None:
            self.onLine(member, line)
        if self.keepLines:
            member.lines.append(line)

    def _read(self, member: Member) -> None:
        try:
            data = member.sock.recv(256 * KiB)
        except BlockingIOError:
            return
        except OSError as e:
            self._lost(member, e)
            return
        if not data:
            self._lost(member)
            return
        member.received += len(data)
        if not self.splitLines:
            return
        if b"\n" not in data:
            member._buffer += data
            return
        data = member._buffer + data
        *lines, member._buffer = data.split(b"\n")
        for line in lines:
            self._line(member, line)

    def pump(
        self,
        until: Callable[[], bool],
        timeout: float,
        onTick: Callable[[], object] | None = None,
    ) -> bool:
        """
        Connect, send and read for every member until C{until()} holds or
        C{timeout} seconds have passed.

        @param onTick: called after every look at the sockets (at least
            every 10 ms).
        @return: whether C{until()} held.
        """
        deadline = monotonic() + timeout
        while True:
            if until():
                return True
            now = monotonic()
            if now >= deadline:
                return False
            if self._selector.get_map():
                events = self._selector.select(min(0.01, deadline - now))
            else:
                time.sleep(min(0.01, deadline - now))
                events = []
            for key, mask in events:
                member: Member = key.data
                if member.closed:
                    continue
                if mask & selectors.EVENT_WRITE:
                    if not member.connected:
                        code = member.sock.getsockopt(
                            socket.SOL_SOCKET, socket.SO_ERROR
                        )
                        if code:
                            member.error = os.strerror(code)
                            self._lost(member)
                            continue
                        member.connected = True
                    self._flush(member)
                if mask & selectors.EVENT_READ and not member.closed:
                    self._read(member)
            if onTick is not None:
                onTick()

    def close(self, member: Member, reset: bool = False) -> None:
        """
        Close one member ourselves (with a reset if C{reset}).
        """
        if member.closed:
            return
        member.closed = True
        self._update(member)
        if reset:
            resetClose(member.sock)
        else:
            member.sock.close()

    def closeAll(self) -> None:
        """
        Close every member.
        """
        for member in self.members:
            self.close(member)
        self._selector.close()


# Attacks


@dataclass(frozen=True)
class Settings:
    """
    How to run the attacks.

    @ivar rounds: rounds of each attack against the same servers.
    @ivar defects: which of the defect checks to run (C{"a"} to C{"f"}).
    """

    rounds: int = ROUNDS
    defects: tuple[str, ...] = ("a", "b", "c", "d", "e", "f")


class Context:
    """
    One attack's run: its servers, its checks, and what to clean up.

    @ivar name: the attack's name.
    """

    def __init__(
        self, name: str, pool: Pool, report: Report, settings: Settings
    ) -> None:
        self.name = name
        self.pool = pool
        self.report = report
        self.settings = settings
        self.cleanup = contextlib.ExitStack()

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        """
        Count a check of this attack (see L{Report.check}).
        """
        return self.report.check(self.name, ok, what, detail)

    def figure(self, what: str, value: float, unit: str) -> None:
        """
        Record a figure of this attack (see L{Report.figure}).
        """
        self.report.figure(self.name, what, value, unit)

    def servers(self, *specs: ServerSpec) -> list[Server]:
        """
        @return: a running pooled server for each spec.
        """
        return self.pool.get(*specs)

    def fresh(self, spec: ServerSpec) -> Server:
        """
        @return: a server of this attack's own, stopped when it ends.
        """
        server = self.pool.fresh(spec)
        self.cleanup.callback(server.stop)
        return server

    def own(self, thing: Any) -> Any:
        """
        Close C{thing} (a socket, a L{LineClient} or a L{Crowd}) when the
        attack ends.

        @return: C{thing}.
        """
        if isinstance(thing, Crowd):
            self.cleanup.callback(thing.closeAll)
        else:
            self.cleanup.callback(thing.close)
        return thing

    def watch(self, server: Server, peakBound: int, users: bool = False) -> Watch:
        """
        @return: a L{Watch} of C{server} for this attack, sampling from now.
        """
        watch = Watch(self, server, peakBound, users)
        self.cleanup.callback(watch.stopSampling)
        return watch

    def rounds(self) -> range:
        """
        @return: the rounds of this attack.
        """
        return range(self.settings.rounds)


class Watch:
    """
    One server under one attack: its baseline, its peak resident memory
    (sampled every L{SAMPLE_INTERVAL} seconds), and its resident memory
    after each round.
    """

    def __init__(
        self, ctx: Context, server: Server, peakBound: int, users: bool
    ) -> None:
        """
        @param peakBound: how much more resident memory than at the start
            the server may hold at any moment of the attack, in bytes.
        @param users: whether to check that its chat users are back to 0.
        """
        self.ctx = ctx
        self.server = server
        self.peakBound = peakBound
        self.users = users
        self.logOffset = server.logSize()
        self.baselineFds = server.fds()
        self.baseline = self.peak = server.rss()
        self.afterRounds: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            self.peak = max(self.peak, self.server.rss())

    def stopSampling(self) -> None:
        """
        Stop sampling.
        """
        self._stop.set()
        self._thread.join(timeout=5)

    def endRound(self) -> None:
        """
        Note the server's resident memory after a round.
        """
        self.afterRounds.append(self.server.rss())

    def finish(self) -> None:
        """
        Check what must hold of the server after the attack: still running,
        peak and growth of its memory within bounds, its connections (and
        chat users) back to zero, its file descriptors back to where they
        were, and no traceback logged.
        """
        self.stopSampling()
        ctx, server, name = self.ctx, self.server, self.server.spec.name
        if not ctx.check(server.alive(), f"{name} is still running after the attack"):
            return
        growth = (self.peak - self.baseline) * KiB
        ctx.figure(f"{name} peak RSS over baseline", growth / KiB, "KiB")
        ctx.check(
            growth <= self.peakBound,
            f"{name}'s resident memory stays within {self.peakBound // MiB} MiB "
            "of its baseline",
            f"peak {growth / MiB:.1f} MiB over {self.baseline / KiB:.1f} MiB",
        )
        rounds = self.afterRounds
        if len(rounds) >= 3:
            grown = (rounds[-1] - rounds[1]) * KiB
            ctx.figure(
                f"{name} RSS growth round 2 to {len(rounds)}", grown / KiB, "KiB"
            )
            ctx.check(
                grown <= GROWTH_TOLERANCE,
                f"{name}'s resident memory does not grow from round 2 to round "
                f"{len(rounds)} by more than {GROWTH_TOLERANCE // MiB} MiB",
                f"grew {grown / MiB:.1f} MiB; after each round (KiB): {rounds}",
            )
        if server.spec.stream:
            ok, left = pollValue(
                server.openConnections, lambda n: n == 0, SETTLE_TIMEOUT
            )
            ctx.check(
                ok,
                f"{name}'s open connections are back to 0 within {SETTLE_TIMEOUT:g}s",
                f"{left} still open",
            )
        if self.users:
            ok, left = pollValue(server.chatUsers, lambda n: n == 0, SETTLE_TIMEOUT)
            ctx.check(
                ok,
                f"{name}'s chat users are back to 0 within {SETTLE_TIMEOUT:g}s",
                f"{left} still registered",
            )
        limit = self.baselineFds + FD_SLACK
        ok, fds = pollValue(server.fds, lambda n: n <= limit, SETTLE_TIMEOUT)
        ctx.check(
            ok,
            f"{name}'s file descriptors are back to {self.baselineFds} (+{FD_SLACK})",
            f"{fds} open",
        )
        traces = server.traces(self.logOffset)
        ctx.check(
            not traces,
            f"{name} logs no traceback during the attack",
            "; ".join(traces[:3]),
        )


class Bystander:
    """
    A client connected before an attack that must be served correctly
    during and after it: a request and its reply, again and again.
    """

    name = ""

    def request(self, n: int) -> None:
        """
        Make the C{n}th request and check its reply.

        @raise AttackError: if it is not answered correctly in time.
        """
        raise NotImplementedError()

    def close(self) -> None:
        """
        Disconnect.
        """


class TimestampBystander(Bystander):
    """
    A line client of C{tsserv --framing line}: each request is stamped.
    """

    def __init__(self, server: Server) -> None:
        self.name = f"{server.spec.name} bystander"
        self.client = LineClient.connect(server.port)

    def request(self, n: int) -> None:
        self.client.send(b"bystander %d\n" % n)
        line = self.client.readLine(monotonic() + BYSTANDER_TIMEOUT)
        if line is None or not (
            line.startswith(b"[") and line.endswith(b"] bystander %d" % n)
        ):
            raise AttackError(f"request {n}: {line!r}")

    def close(self) -> None:
        self.client.close()


class EchoBystander(Bystander):
    """
    An echo client: each request comes back.
    """

    def __init__(self, server: Server) -> None:
        self.name = f"{server.spec.name} bystander"
        self.client = LineClient.connect(server.port)

    def request(self, n: int) -> None:
        self.client.send(b"bystander %d\n" % n)
        line = self.client.readLine(monotonic() + BYSTANDER_TIMEOUT)
        if line != b"bystander %d" % n:
            raise AttackError(f"request {n}: {line!r}")

    def close(self) -> None:
        self.client.close()


class ChatBystander(Bystander):
    """
    A registered chat user: each request is a C{/who} that must list it.
    """

    def __init__(self, server: Server, nick: str) -> None:
        self.name = f"{server.spec.name} bystander {nick}"
        self.nick = nick
        self.client = registerChat(server.port, nick)[0]

    def request(self, n: int) -> None:
        self.client.send(b"/who\n")
        lines = self.client.readUntil(
            lambda line: line.startswith((b"OK who", b"ERR")),
            monotonic() + BYSTANDER_TIMEOUT,
        )
        if (
            not lines[-1].startswith(b"OK who")
            or self.nick.encode() not in lines[-1].split()
        ):
            raise AttackError(f"/who {n}: {lines[-1][:200]!r}")

    def close(self) -> None:
        self.client.close()


@contextlib.contextmanager
def bystanders(ctx: Context, *people: Bystander) -> Iterator[None]:
    """
    Keep C{people} making requests, one after another, in a thread for as
    long as the context lasts; then check that every request was answered
    correctly in time, once more after the attack.
    """
    stop = threading.Event()
    errors: list[str] = []
    latencies: list[float] = []

    def serve() -> None:
        n = 0
        while not stop.is_set():
            for person in people:
                started = monotonic()
                try:
                    person.request(n)
                except (AttackError, OSError) as e:
                    errors.append(f"{person.name}: {e}")
                    return
                latencies.append(monotonic() - started)
                n += 1
            stop.wait(BYSTANDER_INTERVAL)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=BYSTANDER_TIMEOUT * (len(people) + 1))
        for person in people:
            try:
                person.request(-1)
            except (AttackError, OSError) as e:
                errors.append(f"{person.name} after the attack: {e}")
            person.close()
        ctx.check(
            not errors and bool(latencies),
            "every bystander is served correctly during and after the attack",
            "; ".join(errors[:3]) or "no request was made",
        )
        if latencies:
            ctx.figure("bystander slowest reply", max(latencies) * 1000, "ms")


def runRounds(
    ctx: Context, watches: Sequence[Watch], oneRound: Callable[[int], object]
) -> None:
    """
    Run C{oneRound(r)} for each round of the attack, noting each watched
    server's memory after each.
    """
    for r in ctx.rounds():
        oneRound(r)
        for watch in watches:
            watch.endRound()


class Bounded:
    """
    A loop bounded by a count and by wall-clock time::

        loop = Bounded(1000, 30.0)
        for i in loop:
            ...
        ctx.check(loop.complete, ...)

    @ivar done: how many turns were made.
    @ivar complete: whether all of them were made in time.
    """

    def __init__(self, count: int, seconds: float = ATTACK_SECONDS) -> None:
        self.count = count
        self.seconds = seconds
        self.done = 0
        self.complete = False

    def __iter__(self) -> Iterator[int]:
        deadline = monotonic() + self.seconds
        for i in range(self.count):
            if monotonic() > deadline:
                return
            yield i
            self.done = i + 1
        self.complete = True

    def describe(self) -> str:
        """
        @return: how far it got, for a failed check.
        """
        return f"{self.done} of {self.count} in {self.seconds:g}s"


# The servers the attacks use.  Many connections come from 127.0.0.1, hence
# --max-per-source 0 where a limit is not what is attacked.

TS_LINE = ServerSpec(
    "tsserv-line", "tsserv", ("--framing", "line", "--max-per-source", "0")
)
ECHO = ServerSpec(
    "echo",
    "echo",
    ("--max-per-source", "0", "--udp-rate", "20", "--udp-burst", "50"),
    udp=True,
)
TSUSERV = ServerSpec(
    "tsuserv",
    "tsuserv",
    ("--udp-rate", "20", "--udp-burst", "50"),
    stream=False,
    udp=True,
)
UDP_RATE = 20
UDP_BURST = 50
CHAT = ServerSpec("chat", "chat", ("--max-per-source", "0", "--line-rate", "0"))
REGISTRATION_TIMEOUT = 2.0
CHAT_STRICT = ServerSpec(
    "chat-strict",
    "chat",
    ("--max-per-source", "0", "--registration-timeout", f"{REGISTRATION_TIMEOUT:g}"),
)
BACKLOG_SOFT = 16 * KiB
BACKLOG_HARD = 64 * KiB
CHAT_BACKLOG = ServerSpec(
    "chat-backlog",
    "chat",
    (
        "--max-per-source",
        "0",
        "--line-rate",
        "0",
        "--backlog-soft",
        str(BACKLOG_SOFT),
        "--backlog-soft-seconds",
        "1",
        "--backlog-hard",
        str(BACKLOG_HARD),
    ),
)
TLS_HANDSHAKE_TIMEOUT = 2.0
TLS_MAX_CONNECTIONS = 5
_TLS_OPTIONS = (
    "--max-connections",
    str(TLS_MAX_CONNECTIONS),
    "--max-per-source",
    "0",
    "--tls-handshake-timeout",
    f"{TLS_HANDSHAKE_TIMEOUT:g}",
)
TS_TLS = ServerSpec(
    "tsserv-tls", "tsserv", ("--framing", "line", *_TLS_OPTIONS), tls=True
)
ECHO_TLS = ServerSpec("echo-tls", "echo", ("--no-udp", *_TLS_OPTIONS), tls=True)
CHAT_TLS = ServerSpec("chat-tls", "chat", _TLS_OPTIONS, tls=True)
TS_MAX_CONNECTIONS = 10
TS_LIMITS = ServerSpec(
    "tsserv-limits",
    "tsserv",
    (
        "--framing",
        "line",
        "--max-connections",
        str(TS_MAX_CONNECTIONS),
        "--max-per-source",
        "0",
    ),
)
CHAT_MAX_CONNECTIONS = 8
CHAT_MAX_PER_SOURCE = 5
CHAT_LIMITS = ServerSpec(
    "chat-limits",
    "chat",
    (
        "--max-connections",
        str(CHAT_MAX_CONNECTIONS),
        "--max-per-source",
        str(CHAT_MAX_PER_SOURCE),
    ),
    ipv6=True,
)
SHUTDOWN_GRACE = 3.0
SHUTDOWN_SLACK = 5.0
"""
Seconds a server told to stop may take beyond its C{--grace}.
"""
CHAT_SHUTDOWN = ServerSpec(
    "chat-shutdown",
    "chat",
    ("--max-per-source", "0", "--grace", f"{SHUTDOWN_GRACE:g}", "--notice-limit", "50"),
)
CHAT_DEFAULT = ServerSpec("chat-default", "chat", ("--max-per-source", "0"))
IDLE_TIMEOUT = 2.0
IDLE_CLOSE_BOUND = 15.0
"""
Seconds within which an idle client that reads nothing must be closed.
"""
IDLE_EXTRA = 4 * MiB
"""
Bytes sent to the idle non-reader beyond what the kernel can hold for it.
"""
IDLE_BACKLOG = 64 * MiB
"""
The idle test's --backlog-soft: far above what it sends.
"""
CHAT_IDLE = ServerSpec(
    "chat-idle",
    "chat",
    (
        "--max-per-source",
        "0",
        "--line-rate",
        "0",
        "--idle-timeout",
        f"{IDLE_TIMEOUT:g}",
        "--backlog-soft",
        str(IDLE_BACKLOG),
        "--backlog-hard",
        str(2 * IDLE_BACKLOG),
    ),
)


# 1. rst

RST_COUNT = 500
"""
Connections reset per server per round.
"""


def attackRst(ctx: Context) -> None:
    """
    RST floods after partial data: connect, send half a line, reset; many
    times, against tsserv --framing line, echo and chat.
    """
    ts, echo, chat = ctx.servers(TS_LINE, ECHO, CHAT)
    watches = [
        ctx.watch(ts, 32 * MiB),
        ctx.watch(echo, 32 * MiB),
        ctx.watch(chat, 32 * MiB, users=True),
    ]
    targets = [
        (ts, b"half a line with no end"),
        (echo, b"partial data"),
        (chat, b"alic"),
    ]
    with bystanders(
        ctx,
        TimestampBystander(ts),
        EchoBystander(echo),
        ChatBystander(chat, "rstwatch"),
    ):
        for r in ctx.rounds():
            for server, partial in targets:
                loop = Bounded(RST_COUNT)
                for i in loop:
                    sock = connectTCP(server.port)
                    if server is chat and i % 4 == 0:
                        # A registered user reset in the middle of a line:
                        # the hub must forget it.
                        client = LineClient(sock)
                        client.send(b"rst%dx%d\n" % (r, i))
                        reply = client.readUntil(
                            lambda line: line.startswith((b"OK nick", b"ERR")),
                            monotonic() + REPLY_TIMEOUT,
                        )[-1]
                        if not reply.startswith(b"OK nick"):
                            raise AttackError(f"registering rst{r}x{i}: {reply!r}")
                        sock.sendall(b"half a line to the ro")
                    else:
                        sock.sendall(partial)
                    resetClose(sock)
                ctx.check(
                    loop.complete,
                    f"{RST_COUNT} resets against {server.spec.name} are made in time",
                    loop.describe(),
                )
            for watch in watches:
                watch.endRound()
    for watch in watches:
        watch.finish()


# 2. slowloris

SLOWLORIS_COUNT = 200
"""
Dribbling connections per server per round.
"""

DRIP_INTERVAL = 0.25
"""
Seconds between two bytes of a dribbling connection.
"""

CLOSE_SLACK = 3.0
"""
Seconds a server may take beyond a timeout to close a connection.
"""


def attackSlowloris(ctx: Context) -> None:
    """
    Slowloris: many connections each dribbling a byte every so often, on
    chat registration (closed after --registration-timeout) and on tsserv's
    line framing (still answered, byte for byte).
    """
    chat, ts = ctx.servers(CHAT_STRICT, TS_LINE)
    watches = [ctx.watch(chat, 32 * MiB, users=True), ctx.watch(ts, 32 * MiB)]

    def oneRound(r: int) -> None:
        crowd = ctx.own(Crowd())
        chatters = crowd.connect(chat.port, SLOWLORIS_COUNT)
        liners = crowd.connect(ts.port, SLOWLORIS_COUNT)
        started = monotonic()
        sent = {member.index: b"" for member in liners}
        drips = {"next": started, "count": 0}

        def drip(
            crowd: Crowd = crowd,
            dribblers: list[Member] = chatters + liners,
            sent: dict[int, bytes] = sent,
            drips: dict[str, float] = drips,
        ) -> None:
            if monotonic() < drips["next"]:
                return
            drips["next"] += DRIP_INTERVAL
            drips["count"] += 1
            byte = b"abcdefghijklmnop"[int(drips["count"]) % 16 :][:1]
            for member in dribblers:
                if member.connected and not member.closed:
                    crowd.send(member, byte)
                    if member.index in sent:
                        sent[member.index] += byte

        bound = REGISTRATION_TIMEOUT + CLOSE_SLACK
        closed = crowd.pump(
            lambda: all(member.closed for member in chatters), bound, drip
        )
        took = max((m.closedAt - started for m in chatters if m.closed), default=0)
        ctx.figure("dribblers closed after", took, "s")
        ctx.check(
            closed,
            f"chat closes every dribbler that never finishes a nickname within "
            f"--registration-timeout {REGISTRATION_TIMEOUT:g}s + {CLOSE_SLACK:g}s",
            f"{sum(not m.closed for m in chatters)} of {SLOWLORIS_COUNT} open",
        )
        told = [m for m in chatters if m.has(b"ERR * registration-timeout")]
        ctx.check(
            len(told) == SLOWLORIS_COUNT,
            "every dribbler is told ERR * registration-timeout before the close",
            f"{len(told)} of {SLOWLORIS_COUNT}",
        )
        ctx.check(
            not any(m.closed for m in liners),
            "tsserv keeps every dribbling line connection open (bytes still flow)",
            f"{sum(m.closed for m in liners)} closed",
        )
        for member in liners:
            crowd.send(member, b"\n")
        crowd.pump(lambda: all(m.lines or m.closed for m in liners), REPLY_TIMEOUT)
        wrong = [
            m.index
            for m in liners
            if len(m.lines) != 1 or not m.lines[0].endswith(b"] " + sent[m.index])
        ]
        ctx.check(
            not wrong,
            "each dribbled line is answered once, with every byte dribbled",
            f"{len(wrong)} wrong, e.g. {liners[0].lines[:2]!r}",
        )
        crowd.closeAll()

    with bystanders(ctx, ChatBystander(chat, "slowwatch"), TimestampBystander(ts)):
        runRounds(ctx, watches, oneRound)
    for watch in watches:
        watch.finish()


# 3. biglines

BIG_LINE = 50 * MiB
"""
Bytes sent without a newline.
"""

BIG_CHUNK = 1 * MiB


def _sendBigLine(client: LineClient) -> float:
    """
    Send L{BIG_LINE} bytes without a newline, then one.

    @return: how many seconds that took.
    @raise AttackError: if it takes more than L{ATTACK_SECONDS}.
    """
    chunk = b"x" * BIG_CHUNK
    started = monotonic()
    for _ in Bounded(BIG_LINE // BIG_CHUNK):
        client.send(chunk)
    if monotonic() - started > ATTACK_SECONDS:
        raise AttackError(
            f"sending {BIG_LINE // MiB} MiB took over {ATTACK_SECONDS:g}s"
        )
    return monotonic() - started


def attackBiglines(ctx: Context) -> None:
    """
    50 MB without a newline to tsserv --framing line and to chat: memory
    stays bounded, the line gets its one error line, and the connection
    and the server keep working.
    """
    ts, chat = ctx.servers(TS_LINE, CHAT)
    watches = [ctx.watch(ts, 64 * MiB), ctx.watch(chat, 64 * MiB, users=True)]
    with bystanders(ctx, TimestampBystander(ts), ChatBystander(chat, "bigwatch")):
        for r in ctx.rounds():
            received = ts.metric("netlab_received_bytes_total", transport="tcp")
            client = ctx.own(LineClient.connect(ts.port))
            took = _sendBigLine(client)
            ctx.figure(f"{BIG_LINE // MiB} MiB to tsserv in", took, "s")
            client.send(b"\nafter the big line\n")
            deadline = monotonic() + REPLY_TIMEOUT
            lines = [client.readLine(deadline), client.readLine(deadline)]
            ctx.check(
                lines[0] == b"error: line longer than 8192 bytes; it was discarded"
                and lines[1] is not None
                and lines[1].endswith(b"] after the big line"),
                "tsserv answers the big line with one error line, then the next line",
                repr(lines),
            )
            read = ts.metric("netlab_received_bytes_total", transport="tcp") - received
            ctx.check(
                read >= BIG_LINE,
                "tsserv reads every byte of the big line (netlab_received_bytes_total)",
                f"{read:.0f} of {BIG_LINE}",
            )
            client.close()

            client = ctx.own(registerChat(chat.port, f"big{r}")[0])
            took = _sendBigLine(client)
            ctx.figure(f"{BIG_LINE // MiB} MiB to chat in", took, "s")
            client.send(b"\n/who\n")
            lines = client.readUntil(startsWith(b"OK who"), monotonic() + REPLY_TIMEOUT)
            errors = [line for line in lines if line.startswith(b"ERR")]
            ctx.check(
                len(errors) == 1 and errors[0].startswith(b"ERR * line-too-long "),
                "chat answers the big line with one ERR * line-too-long, and the "
                "connection stays usable",
                repr(errors),
            )
            client.close()
            for watch in watches:
                watch.endRound()
    for watch in watches:
        watch.finish()


# 4. pipeline

PIPELINE_REQUESTS = 100_000
"""
Line requests sent at once, without reading.
"""

PIPELINE_PAD = 56
"""
Bytes padding each request to about 64 bytes (the benchmarks' line64): more
than the kernel's socket buffers hold, so that flow control has to act.
"""

PIPELINE_BUFFER = 64 * KiB
"""
The pipelining client's receive buffer.
"""

STALL = 1.0
"""
Seconds without progress after which a sender is taken to be held back by
flow control.
"""


def attackPipeline(ctx: Context) -> None:
    """
    100k pipelined line requests to tsserv --framing line sent without
    reading, then read: memory bounded (flow control), every reply there,
    in order, one per request.
    """
    (ts,) = ctx.servers(TS_LINE)
    watch = ctx.watch(ts, 32 * MiB)
    expected = [b"%d " % i + b"r" * PIPELINE_PAD for i in range(PIPELINE_REQUESTS)]
    payload = b"\n".join(expected) + b"\n"
    with bystanders(ctx, TimestampBystander(ts)):
        for _ in ctx.rounds():
            before = ts.metric("netlab_messages_total", transport="tcp")
            # A small receive buffer, so that the replies back up into the
            # server rather than into this machine's kernel.
            sock = ctx.own(connectTCP(ts.port, receiveBuffer=PIPELINE_BUFFER))
            progress: dict[str, Any] = {"sent": 0, "at": monotonic(), "error": ""}

            def send(
                sock: socket.socket = sock, progress: dict[str, Any] = progress
            ) -> None:
                sock.settimeout(ATTACK_SECONDS)
                view = memoryview(payload)
                try:
                    while progress["sent"] < len(payload):
                        sent = sock.send(
                            view[progress["sent"] : progress["sent"] + 64 * KiB]
                        )
                        progress["sent"] += sent
                        progress["at"] = monotonic()
                except OSError as e:
                    progress["error"] = str(e)

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            pollUntil(
                lambda p=progress: (
                    p["sent"] == len(payload)  # type: ignore[misc]
                    or monotonic() - p["at"] > STALL
                ),
                ATTACK_SECONDS,
            )
            ctx.figure("bytes taken before the client read", progress["sent"], "B")
            ctx.figure(
                "server RSS over baseline while unread",
                ts.rss() - watch.baseline,
                "KiB",
            )
            chunks = []
            newlines = 0
            deadline = monotonic() + ATTACK_SECONDS
            sock.settimeout(REPLY_TIMEOUT)
            try:
                while newlines < PIPELINE_REQUESTS and monotonic() < deadline:
                    data = sock.recv(256 * KiB)
                    if not data:
                        break
                    chunks.append(data)
                    newlines += data.count(b"\n")
            except OSError as e:
                progress["error"] = progress["error"] or str(e)
            sender.join(timeout=ATTACK_SECONDS)
            replies = b"".join(chunks).split(b"\n")
            if replies and replies[-1] == b"":
                replies.pop()
            data = [reply.rpartition(b"] ")[2] for reply in replies]
            ctx.check(
                len(replies) == PIPELINE_REQUESTS and not progress["error"],
                f"all {PIPELINE_REQUESTS} pipelined requests are answered",
                f"{len(replies)} replies; {progress['error']}",
            )
            firstWrong = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(data, expected, strict=False))
                    if a != b
                ),
                None,
            )
            ctx.check(
                firstWrong is None and all(r.startswith(b"[") for r in replies),
                "the replies come one per request, in order",
                f"reply {firstWrong}: {replies[firstWrong or 0][:80]!r}",
            )
            handled = ts.metric("netlab_messages_total", transport="tcp") - before
            ctx.check(
                handled >= PIPELINE_REQUESTS,
                "the server counts every request line (netlab_messages_total)",
                f"{handled:.0f}",
            )
            sock.close()
            watch.endRound()
    watch.finish()


# 5. nickrace

NICK_PAIRS = 200
"""
Pairs of clients racing for a nickname, per round.
"""


def attackNickrace(ctx: Context) -> None:
    """
    Nick races: pairs of clients each registering the same nickname (or
    the same in another case) at the same time: exactly one of each pair
    wins, the other gets ERR nick nick-taken, and /who lists no nickname
    twice.
    """
    (chat,) = ctx.servers(CHAT)
    watch = ctx.watch(chat, 64 * MiB, users=True)

    def oneRound(r: int) -> None:
        crowd = ctx.own(Crowd())
        members = crowd.connect(chat.port, 2 * NICK_PAIRS)
        ctx.check(
            crowd.pump(
                lambda: all(m.lines or m.closed for m in members), REPLY_TIMEOUT
            ),
            "every racer is greeted",
            f"{sum(not m.lines for m in members)} not greeted",
        )
        replies: dict[int, bytes] = {}

        def onLine(
            member: Member, line: bytes, replies: dict[int, bytes] = replies
        ) -> None:
            if member.index not in replies and line.startswith((b"OK nick", b"ERR")):
                replies[member.index] = line

        crowd.onLine = onLine
        nicks = []
        for i in range(NICK_PAIRS):
            nick = f"race{r}p{i}"
            nicks.append(nick)
            other = nick.upper() if i % 2 else nick
            crowd.send(members[2 * i], nick.encode() + b"\n")
            crowd.send(members[2 * i + 1], other.encode() + b"\n")
        crowd.pump(lambda: len(replies) == len(members), REPLY_TIMEOUT)
        ctx.check(
            len(replies) == len(members),
            "every racer gets a reply to its nickname",
            f"{len(replies)} of {len(members)}",
        )
        badPairs = []
        winners: list[Member] = []
        losers: list[Member] = []
        for i in range(NICK_PAIRS):
            pair = members[2 * i : 2 * i + 2]
            won = [m for m in pair if replies.get(m.index, b"").startswith(b"OK nick")]
            lost = [
                m
                for m in pair
                if replies.get(m.index, b"").startswith(b"ERR nick nick-taken ")
            ]
            if len(won) != 1 or len(lost) != 1:
                badPairs.append((nicks[i], [replies.get(m.index) for m in pair]))
            winners += won
            losers += lost
        ctx.check(
            not badPairs,
            "exactly one of each pair wins and the other gets ERR nick nick-taken",
            f"{len(badPairs)} pairs wrong, e.g. {badPairs[:2]!r}",
        )
        if winners:
            asker = winners[0]
            mark = len(asker.lines)
            crowd.send(asker, b"/who\n")
            crowd.pump(
                lambda a=asker, m=mark: any(
                    line.startswith(b"OK who") for line in a.lines[m:]
                ),
                REPLY_TIMEOUT,
            )
            found = [line for line in asker.lines[mark:] if line.startswith(b"OK who")]
            listed = found[0].decode().split()[3:] if found else []
            folded = [nick.casefold() for nick in listed]
            ctx.check(
                len(folded) == len(set(folded))
                and set(folded) >= {nick.casefold() for nick in nicks},
                "/who lists every winner once and no nickname twice",
                f"{len(listed)} listed, {len(folded) - len(set(folded))} twice",
            )
        # A lost race leaves nothing behind: the loser can register
        # another nickname.
        marks = {m.index: len(m.lines) for m in losers}
        for member in losers:
            crowd.send(member, b"lose%dq%d\n" % (r, member.index))
        crowd.pump(
            lambda: all(
                any(
                    line.startswith((b"OK nick", b"ERR"))
                    for line in m.lines[marks[m.index] :]
                )
                for m in losers
            ),
            REPLY_TIMEOUT,
        )
        ctx.check(
            all(
                any(line.startswith(b"OK nick") for line in m.lines[marks[m.index] :])
                for m in losers
            ),
            "every loser then registers another nickname",
        )
        for member in members:
            crowd.send(member, b"/quit\n")
        ctx.check(
            crowd.pump(lambda: all(m.closed for m in members), REPLY_TIMEOUT),
            "every racer's /quit closes its connection",
        )
        crowd.closeAll()

    with bystanders(ctx, ChatBystander(chat, "racewatch")):
        runRounds(ctx, [watch], oneRound)
    watch.finish()


# 6. churn

CHURNERS = 1000
"""
Clients that connect, register and leave, per round.
"""

CHURN_CONCURRENCY = 50
"""
Churning clients at once.
"""

TALKERS = 3
TALK_LINES = 300
"""
Numbered lines each talker sends during the churn.
"""

TALK_INTERVAL = 0.005


def attackChurn(ctx: Context) -> None:
    """
    1,000-client churn with talkers: clients connect, register and leave
    while a few talkers send numbered lines; a listener that stays gets
    every talker line exactly once and in order, and sees every churner
    come and go.
    """
    (chat,) = ctx.servers(CHAT)
    watch = ctx.watch(chat, 32 * MiB, users=True)

    def oneRound(r: int) -> None:
        crowd = ctx.own(Crowd(keepLines=False))
        listener, *talkers = crowd.connect(chat.port, 1 + TALKERS)
        for member in [listener, *talkers]:
            crowd.send(
                member,
                b"listen%d\n" % r
                if member is listener
                else b"talk%dk%d\n" % (r, member.index),
            )
        heard: dict[int, list[int]] = {k: [] for k in range(TALKERS)}
        joined: set[bytes] = set()
        quitted: set[bytes] = set()
        registered: set[int] = set()
        state = {"started": 0, "done": 0, "ok": 0, "seq": 0, "next": 0.0, "ends": 0}
        churners: list[Member] = []
        msgPrefix = b"MSG #lobby talk%dk" % r

        def onLine(member: Member, line: bytes) -> None:
            if member is listener:
                if line.startswith(msgPrefix):
                    words = line.split()
                    if words[3] == b"end":
                        state["ends"] += 1
                    else:
                        heard[int(words[3][1:])].append(int(words[4]))
                elif line.startswith(b"JOIN #lobby c"):
                    joined.add(line.split()[2])
                elif line.startswith(b"QUIT c"):
                    quitted.add(line.split()[1])
                elif line.startswith(b"OK nick"):
                    registered.add(member.index)
            elif member.note is None:
                if line.startswith(b"OK nick"):
                    registered.add(member.index)
            elif line.startswith(b"OK nick"):
                crowd.send(member, b"/quit churn\n")
            elif line.startswith(b"OK quit"):
                state["ok"] += 1

        def onClose(member: Member) -> None:
            if member.note is not None:
                state["done"] += 1

        crowd.onLine = onLine
        crowd.onClose = onClose
        ready = crowd.pump(lambda: len(registered) == 1 + TALKERS, REPLY_TIMEOUT)
        ctx.check(ready, "the listener and the talkers register")
        deadline = monotonic() + ATTACK_SECONDS

        def tick() -> None:
            while (
                state["started"] < CHURNERS
                and state["started"] - state["done"] < CHURN_CONCURRENCY
            ):
                (member,) = crowd.connect(chat.port)
                member.note = b"c%dn%d" % (r, state["started"])
                crowd.send(member, member.note + b"\n")
                churners.append(member)
                state["started"] += 1
            now = monotonic()
            if state["seq"] <= TALK_LINES and now >= state["next"]:
                state["next"] = now + TALK_INTERVAL
                seq = state["seq"]
                for k, talker in enumerate(talkers):
                    word = b"end" if seq == TALK_LINES else b"t%d %d" % (k, seq)
                    crowd.send(talker, word + b"\n")
                state["seq"] += 1

        finished = crowd.pump(
            lambda: state["done"] == CHURNERS and state["ends"] == TALKERS,
            max(deadline - monotonic(), 0),
            tick,
        )
        ctx.check(
            finished,
            f"{CHURNERS} churners come and go and the talkers finish within "
            f"{ATTACK_SECONDS:g}s",
            f"{state['done']} churners done, {state['ends']} talkers done",
        )
        ctx.check(
            state["ok"] == CHURNERS,
            "every churner registers and gets OK quit",
            f"{state['ok']} of {CHURNERS}",
        )
        wrong = {
            k: seqs[:5] for k, seqs in heard.items() if seqs != list(range(TALK_LINES))
        }
        ctx.check(
            not wrong,
            "the listener gets every talker line exactly once, in order",
            f"talkers {sorted(wrong)} wrong, e.g. {wrong}",
        )
        names = {b"c%dn%d" % (r, i) for i in range(CHURNERS)}
        ctx.check(
            joined == names and quitted == names,
            "the listener sees every churner's JOIN and QUIT",
            f"{len(joined)} joins, {len(quitted)} quits of {CHURNERS}",
        )
        for member in [listener, *talkers]:
            crowd.send(member, b"/quit\n")
        crowd.pump(
            lambda: listener.closed and all(t.closed for t in talkers), REPLY_TIMEOUT
        )
        crowd.closeAll()

    runRounds(ctx, [watch], oneRound)
    watch.finish()


# 7. nonreader

FLOOD_LINE = 200
"""
Bytes of each line of a flood.
"""

FLOOD_BATCH = 50
"""
Lines a flooding talker sends before waiting for the reader to have them.
"""

FLOOD_MAX_LINES = 100_000


@dataclass
class SlowConsumerResult:
    """
    What L{floodSlowConsumer} saw.

    @ivar nick: the non-reader's nickname.
    @ivar port: the non-reader's local port.
    @ivar dropped: whether it was disconnected.
    @ivar lines: lines flooded before it was.
    """

    nick: str
    port: int
    dropped: bool
    lines: int


def floodSlowConsumer(ctx: Context, chat: Server, tag: str) -> SlowConsumerResult:
    """
    Flood a room holding a reader and a non-reader until the non-reader is
    disconnected; check that the reader gets every line and that the
    non-reader got a gapless prefix of them, then its ERR * backlog.
    """
    reader = ctx.own(registerChat(chat.port, f"reader{tag}")[0])
    sloth, _ = registerChat(chat.port, f"sloth{tag}", receiveBuffer=4 * KiB)
    ctx.own(sloth)
    talker = ctx.own(registerChat(chat.port, f"flood{tag}")[0])
    port = sloth.sock.getsockname()[1]
    pad = b"p" * FLOOD_LINE
    prefix = b"MSG #lobby flood%s f" % tag.encode()
    seen: list[int] = []
    dropped = False
    after = 0
    loop = Bounded(FLOOD_MAX_LINES // FLOOD_BATCH)
    sent = 0
    for batch in loop:
        first = batch * FLOOD_BATCH
        sent = first + FLOOD_BATCH
        talker.send(
            b"".join(b"f%d %s\n" % (first + j, pad) for j in range(FLOOD_BATCH))
        )
        last = b"%s%d " % (prefix, first + FLOOD_BATCH - 1)
        for line in reader.readUntil(startsWith(last), monotonic() + REPLY_TIMEOUT):
            if line.startswith(prefix):
                seen.append(int(line[len(prefix) :].split()[0]))
            elif line.startswith(b"QUIT sloth%s " % tag.encode()):
                dropped = True
        if dropped:
            after += 1
            if after > 2:
                break
    ctx.check(
        dropped,
        "the non-reader is disconnected by the backlog limit",
        f"still there after {sent} lines ({sent * FLOOD_LINE // KiB} KiB)",
    )
    ctx.figure(
        "flood before the non-reader was dropped", sent * FLOOD_LINE / KiB, "KiB"
    )
    ctx.check(
        seen == list(range(sent)),
        "the reading bystander gets every flooded line exactly once, in order",
        f"{len(seen)} of {sent}",
    )
    lines = sloth.readToEnd(monotonic() + 4.0)
    got = [
        int(line[len(prefix) :].split()[0])
        for line in lines or ()
        if line.startswith(prefix)
    ]
    ctx.check(
        lines is not None
        and got == list(range(len(got)))
        and bool(lines)
        and lines[-1].startswith(b"ERR * backlog "),
        "the non-reader got a gapless prefix of the flood, then ERR * backlog, "
        "then the close",
        f"{len(got)} lines, last {lines[-1][:60] if lines else None!r}",
    )
    for client in (reader, talker, sloth):
        client.close()
    return SlowConsumerResult(f"sloth{tag}", port, dropped, sent)


def attackNonreader(ctx: Context) -> None:
    """
    A non-reading client in a flooded room is disconnected by the backlog
    limit, while a reading bystander gets every line.
    """
    (chat,) = ctx.servers(CHAT_BACKLOG)
    watch = ctx.watch(chat, 32 * MiB, users=True)
    for r in ctx.rounds():
        floodSlowConsumer(ctx, chat, str(r))
        watch.endRound()
    watch.finish()


# 8. sigterm

SHUTDOWN_CLIENTS = 500
NON_READERS = 3


def shutdownCrowd(
    ctx: Context,
    server: Server,
    crowd: Crowd,
    readers: list[Member],
    what: str,
) -> None:
    """
    SIGTERM C{server} and check that it exits with status 0 within its
    grace plus L{SHUTDOWN_SLACK}, and that every reader gets the shutdown
    NOTE and a close.

    @param what: what starts each check's sentence (e.g. C{"(e) "}).
    """
    started = monotonic()
    server.signal(signal.SIGTERM)
    bound = SHUTDOWN_GRACE + SHUTDOWN_SLACK
    crowd.pump(lambda: all(m.closed for m in readers), bound)
    status = server.wait(bound - (monotonic() - started))
    took = monotonic() - started
    ctx.figure(f"{what}exit after SIGTERM", took, "s")
    ctx.check(
        status == 0,
        f"{what}the server exits with status 0 within --grace {SHUTDOWN_GRACE:g}s "
        f"+ {SHUTDOWN_SLACK:g}s of SIGTERM",
        f"status {status} after {took:.1f}s",
    )
    told = [m for m in readers if m.closed and m.has(GOODBYE)]
    ctx.check(
        len(told) == len(readers),
        f"{what}every reading client gets the shutdown NOTE and a close",
        f"{len(told)} of {len(readers)}; "
        f"{sum(not m.closed for m in readers)} still open, "
        f"{sum(not m.has(GOODBYE) for m in readers)} without the NOTE",
    )
    ctx.figure(
        f"{what}clients reset rather than closed", sum(m.reset for m in readers), ""
    )
    traces = server.traces(0)
    ctx.check(not traces, f"{what}the server logs no traceback", "; ".join(traces[:3]))


def attackSigterm(ctx: Context) -> None:
    """
    SIGTERM with 500 chat clients connected: the server exits with status 0
    within --grace plus a bound, and every client that reads gets the
    shutdown NOTE and a close.
    """
    # One round: a server that is stopped cannot be attacked again, so
    # there is no growth to compare (a soak starts a new one every round).
    server = ctx.fresh(CHAT_SHUTDOWN)
    crowd = ctx.own(Crowd())
    readers = crowd.connect(server.port, SHUTDOWN_CLIENTS)
    for member in readers:
        crowd.send(member, b"s%d\n" % member.index)
    sloths = crowd.connect(
        server.port, NON_READERS, receiveBuffer=4 * KiB, reading=False
    )
    for member in sloths:
        crowd.send(member, b"sloth%d\n" % member.index)
    ok = crowd.pump(lambda: all(m.has(b"OK nick") for m in readers), ATTACK_SECONDS)
    ctx.check(
        ok,
        f"{SHUTDOWN_CLIENTS} chat clients register",
        f"{sum(m.has(b'OK nick') for m in readers)} did",
    )
    everyone = SHUTDOWN_CLIENTS + NON_READERS
    ok, users = pollValue(server.chatUsers, lambda n: n == everyone, REPLY_TIMEOUT)
    ctx.check(ok, "the server counts every user before the signal", f"{users}")
    ctx.figure(f"server RSS with {everyone} users", server.rss(), "KiB")
    shutdownCrowd(ctx, server, crowd, readers, "")


# 9. udp

UDP_SIZES = (0, 1, 65507)
UDP_FLOOD = 1000
UDP_FLOOD_BATCH = 50
UDP_QUIET = 0.2
"""
Seconds to wait, after the server counted a datagram, for a reply that
must not come.
"""

LOW_PORTS = (7, 19)


def _udpSocket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, port))
    return sock


def _drain(sock: socket.socket, timeout: float = 0.0) -> list[bytes]:
    replies = []
    sock.settimeout(timeout)
    while True:
        try:
            replies.append(sock.recv(65536))
        except (BlockingIOError, TimeoutError):
            return replies
        sock.settimeout(0)


def _udpExchange(server: Server, sock: socket.socket, data: bytes) -> bytes | None:
    """
    Send C{data} until it is answered (the rate limit may refuse some).

    @return: the reply, or C{None} if none came within L{REPLY_TIMEOUT}.
    """
    deadline = monotonic() + REPLY_TIMEOUT
    while monotonic() < deadline:
        _drain(sock)
        sock.sendto(data, (HOST, server.udpPort))
        replies = _drain(sock, 0.2)
        if replies:
            return replies[0]
    return None


def _notAnswered(server: Server, sock: socket.socket, data: bytes) -> tuple[bool, str]:
    """
    Send C{data}, which must not be answered: wait until the server has
    read it (its received bytes), then a little for a reply.  A datagram
    the rate limit refused proves nothing, so it is sent again.

    @return: whether it was read and not answered, and what was seen.
    """
    for _ in Bounded(20, REPLY_TIMEOUT):
        _drain(sock)
        before = server.metric("netlab_received_bytes_total", transport="udp")
        limited = server.refusals("source-rate", "udp")
        sock.sendto(data, (HOST, server.udpPort))
        enough = before + len(data)
        read = pollUntil(
            lambda enough=enough: (
                server.metric(  # type: ignore[misc]
                    "netlab_received_bytes_total", transport="udp"
                )
                >= enough
            ),
            REPLY_TIMEOUT,
        )
        replies = _drain(sock, UDP_QUIET)
        if not read:
            return False, "the server did not read it"
        if server.refusals("source-rate", "udp") == limited:
            return not replies, f"{len(replies)} replies"
        time.sleep(1 / UDP_RATE)
    return False, "refused by the rate limit every time"


def _answersAgain(server: Server, sock: socket.socket) -> bool:
    """
    @return: whether a request is answered again within L{REPLY_TIMEOUT}.
    """
    reply = _udpExchange(server, sock, b"again")
    return reply is not None and reply.endswith(b"again")


def _udpSizes(ctx: Context, server: Server, sock: socket.socket) -> None:
    """
    Datagrams of 0, 1 and 65507 bytes: each answered, except by tsuserv
    the one whose reply would not fit in a datagram.
    """
    name = server.spec.name
    echoes = server.spec.service == "echo"
    for size in UDP_SIZES:
        data = bytes(i % 251 for i in range(size))
        if not echoes and size + len(b"[Sun Nov 22 23:46:13 2026] ") > 65507:
            # Too big to answer: the server reads it and says nothing.
            ok, detail = _notAnswered(server, sock, data)
            ctx.check(
                ok,
                f"{name} does not answer a {size}-byte datagram whose reply would "
                "not fit in one",
                detail,
            )
            continue
        reply = _udpExchange(server, sock, data)
        good = (
            reply == data
            if echoes
            else reply is not None
            and reply.startswith(b"[")
            and reply.endswith(b"] " + data)
        )
        ctx.check(good, f"{name} answers a {size}-byte datagram", repr(reply)[:80])


def _udpLowPort(ctx: Context, server: Server) -> None:
    """
    A datagram from a privileged port (7 or 19: echo, chargen) is refused,
    counted and not answered.  Only root can send one.
    """
    if os.geteuid() != 0:
        return
    low = None
    for port in LOW_PORTS:
        with contextlib.suppress(OSError):
            low = ctx.own(_udpSocket(port))
            break
    if low is None:
        return
    before = server.refusals("privileged-port", "udp")
    low.sendto(b"loop?", (HOST, server.udpPort))
    counted, _ = pollValue(
        lambda: server.refusals("privileged-port", "udp"),
        lambda n: n > before,
        REPLY_TIMEOUT,
    )
    replies = _drain(low, UDP_QUIET)
    ctx.check(
        counted and not replies,
        f"{server.spec.name} refuses, and does not answer, a datagram from port "
        f"{low.getsockname()[1]}",
        f"counted {counted}, {len(replies)} replies",
    )
    low.close()


def _udpAccounts(server: Server) -> tuple[int, int]:
    """
    @return: the datagrams the server answered and those its rate limits
        refused, so far.
    """
    answered = server.metric("netlab_messages_total", transport="udp")
    refused = server.refusals("source-rate", "udp") + server.refusals(
        "global-rate", "udp"
    )
    return int(answered), refused


def _udpFlood(ctx: Context, server: Server, sock: socket.socket) -> None:
    """
    A flood past --udp-rate: part refused, the rest answered and arrived,
    every datagram accounted for; answered again after the rate window.
    """
    name = server.spec.name
    answered, refused = _udpAccounts(server)
    replies = []
    flooding = monotonic()
    for batch in Bounded(UDP_FLOOD // UDP_FLOOD_BATCH):
        for j in range(UDP_FLOOD_BATCH):
            sock.sendto(
                b"flood %d" % (batch * UDP_FLOOD_BATCH + j), (HOST, server.udpPort)
            )
        replies += _drain(sock, 0.002)
    flooded = monotonic() - flooding
    _, (nowAnswered, nowRefused) = pollValue(
        lambda: _udpAccounts(server),
        lambda counts: counts[0] - answered + counts[1] - refused >= UDP_FLOOD,
        REPLY_TIMEOUT,
    )
    nowAnswered -= answered
    nowRefused -= refused
    replies += _drain(sock, UDP_QUIET)
    ctx.figure(f"{name} flood answered", nowAnswered, "datagrams")
    ctx.check(
        nowAnswered + nowRefused == UDP_FLOOD,
        f"{name} accounts for every flooded datagram, answered or refused",
        f"{nowAnswered} answered, {nowRefused} refused of {UDP_FLOOD}",
    )
    ctx.check(
        nowRefused > 0 and 0 < nowAnswered <= UDP_BURST + UDP_RATE * (flooded + 1),
        f"{name} refuses part of a flood past --udp-rate and answers the rest",
        f"{nowAnswered} answered, {nowRefused} refused in {flooded:.2f}s",
    )
    ctx.check(
        len(replies) == nowAnswered,
        f"{name}: every datagram answered arrives",
        f"{len(replies)} arrived, {nowAnswered} answered",
    )
    ctx.check(
        _answersAgain(server, sock),
        f"{name} answers again after the rate window",
    )


def attackUdp(ctx: Context) -> None:
    """
    UDP against tsuserv and echo: sizes 0, 1 and 65507, a privileged source
    port (not answered), and floods past the rate limit (some refused,
    every datagram accounted for, answered again after the rate window).
    """
    servers = ctx.servers(TSUSERV, ECHO)
    watches = [ctx.watch(server, 16 * MiB) for server in servers]

    def oneRound(r: int) -> None:
        for server in servers:
            sock = ctx.own(_udpSocket())
            _udpSizes(ctx, server, sock)
            _udpLowPort(ctx, server)
            _udpFlood(ctx, server, sock)
            ctx.check(server.alive(), f"{server.spec.name} stays up")
            sock.close()

    runRounds(ctx, watches, oneRound)
    for watch in watches:
        watch.finish()


# 10. tls

GARBAGE = b"GET / HTTP/1.0\r\nHost: attack\r\n\r\n" + bytes(range(256)) * 4


def stallHandshakes(
    ctx: Context, crowd: Crowd, server: Server, hello: bytes, kinds: Sequence[str]
) -> list[Member]:
    """
    Open one stalled TLS connection per kind: C{"silent"} sends nothing,
    C{"partial"} half a ClientHello, C{"hello"} a whole one; then nothing.

    @return: the connections, once the server counts them all.
    """
    members = crowd.connect(server.port, len(kinds))
    for member, kind in zip(members, kinds, strict=True):
        member.note = kind
        if kind == "partial":
            crowd.send(member, hello[: len(hello) // 2])
        elif kind == "hello":
            crowd.send(member, hello)
    crowd.pump(lambda: all(m.connected or m.closed for m in members), CONNECT_TIMEOUT)
    ctx.check(
        pollUntil(lambda: server.openConnections() >= len(kinds), REPLY_TIMEOUT),
        f"{server.spec.name} accepts {len(kinds)} stalled TLS connections",
    )
    return members


def checkStalledAborted(
    ctx: Context, crowd: Crowd, server: Server, stalled: list[Member]
) -> None:
    """
    Check that the server closes every stalled connection within
    --tls-handshake-timeout plus L{CLOSE_SLACK}.
    """
    bound = TLS_HANDSHAKE_TIMEOUT + CLOSE_SLACK
    first = min(m.openedAt for m in stalled)
    crowd.pump(
        lambda: all(m.closed for m in stalled), max(first + bound - monotonic(), 0)
    )
    open_ = [m.note for m in stalled if not m.closed]
    took = max((m.closedAt - m.openedAt for m in stalled if m.closed), default=0.0)
    ctx.figure(f"{server.spec.name} stalled handshakes aborted after", took, "s")
    ctx.check(
        not open_,
        f"{server.spec.name} aborts stalled TLS handshakes within "
        f"--tls-handshake-timeout {TLS_HANDSHAKE_TIMEOUT:g}s + {CLOSE_SLACK:g}s",
        f"still open: {open_}",
    )


def _tlsRequest(client: LineClient) -> bytes | None:
    """
    @return: the reply to one line request, C{None} if the server closed.
    """
    client.send(b"tls request\n")
    return client.readLine(monotonic() + REPLY_TIMEOUT)


def attackTls(ctx: Context) -> None:
    """
    TLS: stalled handshakes (nothing sent, half a ClientHello, a whole one)
    take every slot of --max-connections 5 until --tls-handshake-timeout
    aborts them, after which a real TLS client is served; plaintext garbage
    on the TLS port is closed.
    """
    servers = ctx.servers(TS_TLS, ECHO_TLS)
    watches = [ctx.watch(server, 32 * MiB) for server in servers]
    certificate = ctx.pool.certificate().certificate
    hello = clientHello()
    kinds = ["silent", "silent", "partial", "partial", "hello"]
    for _ in ctx.rounds():
        crowd = ctx.own(Crowd())
        crowd.splitLines = False
        stalled = {
            s.spec.name: stallHandshakes(ctx, crowd, s, hello, kinds) for s in servers
        }
        # While they hold every slot, a real client is refused (told why,
        # by tsserv, once its handshake is done).
        for server in servers:
            try:
                client = connectTLS(server.port, certificate)
                line = _tlsRequest(client)
                client.close()
            except (OSError, AttackError):
                line = None
            ctx.check(
                line is None
                or line.startswith(b"error: the server has too many connections"),
                f"{server.spec.name} refuses a real client while the stalled ones hold "
                "every slot",
                repr(line),
            )
        for server in servers:
            checkStalledAborted(ctx, crowd, server, stalled[server.spec.name])
        for server in servers:
            try:
                client = connectTLS(server.port, certificate)
                reply = _tlsRequest(client)
                client.close()
            except (OSError, AttackError) as e:
                reply = str(e).encode()
            good = reply is not None and (
                reply == b"tls request"
                if server.spec.service == "echo"
                else reply.startswith(b"[") and reply.endswith(b"] tls request")
            )
            ctx.check(
                good,
                f"{server.spec.name} serves a real TLS client once the stalled ones "
                "are gone",
                repr(reply),
            )
            garbage = crowd.connect(server.port)[0]
            crowd.send(garbage, GARBAGE)
            crowd.pump(lambda g=garbage: g.closed, CLOSE_SLACK)
            ctx.check(
                garbage.closed,
                f"{server.spec.name} closes a connection that sends plaintext garbage "
                f"within {CLOSE_SLACK:g}s",
            )
        crowd.closeAll()
        for watch in watches:
            watch.endRound()
    for watch in watches:
        watch.finish()


# 11. limits

LIMIT_BURST = 30
"""
Connections over a limit, at once, per round.
"""


class MetricSampler:
    """
    Samples a server's open connections in a thread, keeping the highest.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.highest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.highest = max(self.highest, self.server.openConnections())
            self._stop.wait(0.01)

    def stop(self) -> int:
        """
        @return: the highest count seen.
        """
        self._stop.set()
        self._thread.join(timeout=5)
        return self.highest


def _burstRefused(
    ctx: Context,
    server: Server,
    host: str,
    port: int,
    reason: str,
    line: bytes,
    limit: int,
) -> None:
    """
    Open L{LIMIT_BURST} connections at once over a limit: each must get one
    line starting with C{line}, then a close; the count of open
    connections must never pass C{limit}; the refusals must be counted
    under C{reason}.
    """
    name = server.spec.name
    before = server.refusals(reason)
    sampler = MetricSampler(server)
    crowd = ctx.own(Crowd())
    burst = crowd.connect(port, LIMIT_BURST, host=host)
    crowd.pump(lambda: all(m.closed for m in burst), REPLY_TIMEOUT)
    highest = sampler.stop()
    told = [
        m
        for m in burst
        if m.closed and len(m.lines) == 1 and m.lines[0].startswith(line)
    ]
    ctx.check(
        len(told) == LIMIT_BURST,
        f"{name}: each connection over --{reason} gets one line saying why, then "
        "a close",
        f"{len(told)} of {LIMIT_BURST}; e.g. {burst[0].lines[:2]!r}",
    )
    ctx.check(
        highest <= limit,
        f"{name}: open connections never pass {limit} during the burst",
        f"{highest} seen",
    )
    refused = server.refusals(reason) - before
    ctx.check(
        refused == LIMIT_BURST,
        f"{name}: netlab_refusals_total{{reason={reason!r}}} counts every refusal",
        f"{refused} counted",
    )
    crowd.closeAll()


def attackLimits(ctx: Context) -> None:
    """
    Bursts against --max-connections and --max-per-source: every refused
    connection is told why in one line, the open count never passes the
    limit, the refusals are counted, and everything is released after.
    """
    ts, chat = ctx.servers(TS_LIMITS, CHAT_LIMITS)
    watches = [ctx.watch(ts, 16 * MiB), ctx.watch(chat, 16 * MiB, users=True)]
    for r in ctx.rounds():
        held = [ctx.own(LineClient.connect(ts.port)) for _ in range(TS_MAX_CONNECTIONS)]
        for i, client in enumerate(held):
            client.send(b"held %d\n" % i)
            reply = client.readLine(monotonic() + REPLY_TIMEOUT)
            if reply is None or not reply.endswith(b"] held %d" % i):
                raise AttackError(f"held connection {i}: {reply!r}")
        _burstRefused(
            ctx,
            ts,
            HOST,
            ts.port,
            "max-connections",
            b"error: the server has too many connections (%d)" % TS_MAX_CONNECTIONS,
            TS_MAX_CONNECTIONS,
        )
        for client in held:
            client.close()
        ctx.check(
            pollUntil(lambda: ts.openConnections() == 0, SETTLE_TIMEOUT),
            f"{ts.spec.name} releases every held connection",
        )
        client = LineClient.connect(ts.port)
        client.send(b"released\n")
        reply = client.readLine(monotonic() + REPLY_TIMEOUT)
        client.close()
        ctx.check(
            reply is not None and reply.endswith(b"] released"),
            f"{ts.spec.name} serves a new connection once the held ones are gone",
            repr(reply),
        )

        users = [
            ctx.own(registerChat(chat.port, f"lim{r}n{i}")[0])
            for i in range(CHAT_MAX_PER_SOURCE)
        ]
        _burstRefused(
            ctx,
            chat,
            HOST,
            chat.port,
            "max-per-source",
            b"ERR * max-per-source ",
            CHAT_MAX_PER_SOURCE,
        )
        if chat.port6:
            others = []
            try:
                for i in range(CHAT_MAX_CONNECTIONS - CHAT_MAX_PER_SOURCE):
                    client = registerChat(chat.port6, f"six{r}n{i}", host=HOST6)[0]
                    others.append(ctx.own(client))
                detail = ""
            except (AttackError, OSError) as e:
                detail = str(e)
            ctx.check(
                not detail,
                f"{chat.spec.name} accepts another source address (::1) at the "
                "per-source limit",
                detail,
            )
            _burstRefused(
                ctx,
                chat,
                HOST6,
                chat.port6,
                "max-connections",
                b"ERR * max-connections ",
                CHAT_MAX_CONNECTIONS,
            )
            users += others
        for client in users:
            client.close()
        ctx.check(
            pollUntil(lambda: chat.openConnections() == 0, SETTLE_TIMEOUT),
            f"{chat.spec.name} releases every held connection",
        )
        client, _ = registerChat(chat.port, f"after{r}")
        client.close()
        for watch in watches:
            watch.endRound()
    for watch in watches:
        watch.finish()


# 12. defects


def defectTlsChat(ctx: Context) -> None:
    """
    (a) Chat over TLS with --max-connections 5: five clients that send a
    ClientHello and stop are aborted within --tls-handshake-timeout plus
    slack, and a real user can then connect and register.
    """
    (chat,) = ctx.servers(CHAT_TLS)
    crowd = ctx.own(Crowd())
    crowd.splitLines = False
    stalled = stallHandshakes(
        ctx, crowd, chat, clientHello(), ["hello"] * TLS_MAX_CONNECTIONS
    )
    checkStalledAborted(ctx, crowd, chat, stalled)
    try:
        client = connectTLS(chat.port, ctx.pool.certificate().certificate)
        client.send(b"tlsuser\n")
        reply = client.readUntil(
            lambda line: line.startswith((b"OK nick", b"ERR")),
            monotonic() + REPLY_TIMEOUT,
        )[-1]
        client.close()
    except (OSError, AttackError) as e:
        reply = str(e).encode()
    ctx.check(
        reply == b"OK nick tlsuser",
        "(a) a real TLS user registers once the stalled handshakes are aborted",
        repr(reply),
    )


def _tcpState(sock: socket.socket) -> int:
    # The first byte of struct tcp_info is the state: 1 ESTABLISHED, 7 CLOSE.
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def kernelSendBuffer() -> int:
    """
    @return: the most a TCP socket's send buffer grows to here
        (C{net.ipv4.tcp_wmem}), 4 MiB if unknown.
    """
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 * MiB


def defectIdleNonReader(ctx: Context) -> None:
    """
    (b) Chat with --idle-timeout 2: a registered client that stops reading
    while it is sent less than --backlog-soft is closed within the idle
    timeout plus a bounded close deadline.
    """
    (chat,) = ctx.servers(CHAT_IDLE)
    sloth, _ = registerChat(chat.port, "idlesloth", receiveBuffer=4 * KiB)
    ctx.own(sloth)
    since = monotonic()
    talker = ctx.own(registerChat(chat.port, "idletalker")[0])
    # More for the non-reader than the kernel's socket buffers hold, so that
    # some stays in the server waiting for it; far less than --backlog-soft.
    line = b"q" * 1000 + b"\n"
    for _ in Bounded((kernelSendBuffer() + IDLE_EXTRA) // (64 * len(line)) + 1):
        talker.send(line * 64)
    talker.readToEnd(monotonic() + IDLE_TIMEOUT + CLOSE_SLACK + 10)
    bound = IDLE_CLOSE_BOUND - (monotonic() - since)
    closed = pollUntil(lambda: chat.openConnections() == 0, max(bound, 0))
    took = monotonic() - since
    ctx.figure("(b) idle non-reader closed after", took, "s")
    ctx.check(
        closed,
        f"(b) an idle client that reads nothing is closed within {IDLE_CLOSE_BOUND:g}s "
        f"(--idle-timeout {IDLE_TIMEOUT:g})",
        f"still open after {took:.1f}s (TCP state {_tcpState(sloth.sock)})",
    )


def defectReplyOrder(ctx: Context) -> None:
    """
    (c) One write of a nickname, thirty /rooms, a 3,000-byte line and /who
    is answered in the order of the lines, the line-too-long error in its
    place.
    """
    (chat,) = ctx.servers(CHAT_DEFAULT)
    client = ctx.own(LineClient.connect(chat.port))
    client.send(b"ordered\n" + b"/rooms\n" * 30 + b"y" * 3000 + b"\n/who\n")
    lines = client.readUntil(startsWith(b"OK who"), monotonic() + REPLY_TIMEOUT + 10)
    replies = [line.split()[:3] for line in lines if line.startswith((b"OK ", b"ERR "))]
    expected = (
        [[b"OK", b"nick", b"ordered"]]
        + [[b"OK", b"rooms", b"#lobby"]] * 30
        + [[b"ERR", b"*", b"line-too-long"]]
        + [[b"OK", b"who", b"#lobby"]]
    )
    ctx.check(
        replies == expected,
        "(c) the replies come in the order of the lines, ERR * line-too-long in "
        "its place",
        f"ERR at {[i for i, r in enumerate(replies) if r[0] == b'ERR']} of "
        f"{len(replies)} replies (expected at 31)",
    )
    client.close()


def defectBlankLines(ctx: Context) -> None:
    """
    (d) Empty or whitespace-only lines from a registered user are neither
    said to the room nor answered.
    """
    (chat,) = ctx.servers(CHAT_DEFAULT)
    alice = ctx.own(registerChat(chat.port, "blankalice")[0])
    bob, _ = registerChat(chat.port, "blankbob")
    ctx.own(bob)
    alice.readUntil(startsWith(b"JOIN #lobby blankbob"), monotonic() + REPLY_TIMEOUT)
    alice.send(b"\n   \n\r\n/who\n")
    lines = alice.readUntil(startsWith(b"OK who"), monotonic() + REPLY_TIMEOUT)
    ctx.check(
        not any(line.startswith(b"ERR") for line in lines),
        "(d) blank lines get no reply",
        repr(lines),
    )
    alice.send(b"after the blanks\n")
    heard = bob.readUntil(
        startsWith(b"MSG #lobby blankalice after the blanks"),
        monotonic() + REPLY_TIMEOUT,
    )
    said = [line for line in heard if line.startswith(b"MSG #lobby blankalice")]
    ctx.check(
        len(said) == 1,
        "(d) blank lines are not said to the room",
        repr(said),
    )
    alice.close()
    bob.close()


ACCEPT_BURST = 500
CHAT_BURST = ServerSpec(
    "chat-burst",
    "chat",
    ("--max-per-source", "0", "--grace", f"{SHUTDOWN_GRACE:g}", "--notice-limit", "50"),
)


def _listenOverflows() -> int | None:
    """
    @return: the kernel's count of connections dropped because an accept
        queue was full (TcpExt ListenOverflows + ListenDrops), machine-wide.
    """
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(
                zip(names.split()[1:], map(int, values.split()[1:]), strict=True)
            )
            return table.get("ListenOverflows", 0) + table.get("ListenDrops", 0)
    return None


def _listenBacklog(port: int) -> int | None:
    """
    @return: the accept backlog of the socket listening on 127.0.0.1
        C{port}, as C{ss} reports it, or C{None} without C{ss}.
    """
    ss = shutil.which("ss")
    if ss is None:
        return None
    done = subprocess.run(
        [ss, "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=10
    )
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3].endswith(f":{port}"):
            return int(fields[2])
    return None


def defectAcceptBacklog(ctx: Context) -> None:
    """
    (e) A burst of 500 simultaneous connection attempts to chat: all are
    accepted at once (the listen backlog is 1024), and on SIGTERM all get
    the shutdown notice and a close.
    """
    server = ctx.fresh(CHAT_BURST)
    backlog = _listenBacklog(server.port)
    if backlog is not None:
        ctx.figure("(e) listen backlog", backlog, "")
        ctx.check(
            backlog >= 1024, "(e) chat listens with a backlog of 1024", f"{backlog}"
        )
    overflows = _listenOverflows()
    crowd = ctx.own(Crowd())
    started = monotonic()
    burst = crowd.connect(server.port, ACCEPT_BURST)
    greeted = crowd.pump(lambda: all(m.lines or m.closed for m in burst), REPLY_TIMEOUT)
    took = max((monotonic() - started), 0)
    ctx.figure("(e) all 500 greeted after", took, "s")
    after = _listenOverflows()
    ctx.check(
        greeted and all(m.lines and m.lines[0].startswith(b"NOTE ") for m in burst),
        f"(e) all {ACCEPT_BURST} connections are accepted and greeted",
        f"{sum(bool(m.lines) for m in burst)} greeted",
    )
    if overflows is not None and after is not None:
        ctx.check(
            after == overflows,
            "(e) no connection attempt overflowed the accept queue (TcpExt "
            "ListenOverflows, machine-wide)",
            f"{after - overflows} dropped",
        )
    shutdownCrowd(ctx, server, crowd, burst, "(e) ")


_PEER = re.compile(r"IPv[46]Address|Address\(")


def defectSlowConsumerLog(ctx: Context) -> None:
    """
    (f) The slow-consumer log line writes the peer as host:port, and says
    which limit tripped and for how long the backlog was held.
    """
    (chat,) = ctx.servers(CHAT_BACKLOG)
    offset = chat.logSize()
    result = floodSlowConsumer(ctx, chat, "f")
    if not result.dropped:
        return

    def logged() -> list[str]:
        return [
            line
            for line in chat.logSince(offset).splitlines()
            if "disconnecting" in line and result.nick in line
        ]

    _, found = pollValue(logged, bool, REPLY_TIMEOUT)
    line = found[0] if found else ""
    ctx.check(bool(line), "(f) the slow consumer's disconnection is logged")
    ctx.check(
        f"{HOST}:{result.port}" in line and not _PEER.search(line),
        "(f) the log line writes the peer as host:port",
        line[-160:],
    )
    ctx.check(
        re.search(r"backlog-(hard|soft)|\b(hard|soft) (limit|backlog)", line)
        is not None,
        "(f) the log line says which backlog limit tripped",
        line[-160:],
    )
    ctx.check(
        re.search(r"(for|held|backlogged)[^0-9]{0,20}\d+(\.\d+)?\s?s\b", line)
        is not None,
        "(f) the log line says for how long the backlog was held",
        line[-160:],
    )


DEFECTS: dict[str, Callable[[Context], None]] = {
    "a": defectTlsChat,
    "b": defectIdleNonReader,
    "c": defectReplyOrder,
    "d": defectBlankLines,
    "e": defectAcceptBacklog,
    "f": defectSlowConsumerLog,
}


def attackDefects(ctx: Context) -> None:
    """
    The defects being fixed: each checked against the behaviour after its
    fix (see L{DEFECTS}).
    """
    for letter in ctx.settings.defects:
        try:
            DEFECTS[letter](ctx)
        except (AttackError, OSError) as e:
            ctx.check(False, f"({letter}) runs to the end", str(e))
        finally:
            ctx.cleanup.close()


@dataclass(frozen=True)
class Attack:
    """
    One attack of the suite.

    @ivar name: its name for C{--only}.
    @ivar run: what it does.
    """

    name: str
    run: Callable[[Context], None]

    @property
    def summary(self) -> str:
        """
        The first sentence of its docstring.
        """
        doc = " ".join((self.run.__doc__ or "").split())
        return doc.split(": ")[0] if doc else self.name


ATTACKS = {
    attack.name: attack
    for attack in [
        Attack("rst", attackRst),
        Attack("slowloris", attackSlowloris),
        Attack("biglines", attackBiglines),
        Attack("pipeline", attackPipeline),
        Attack("nickrace", attackNickrace),
        Attack("churn", attackChurn),
        Attack("nonreader", attackNonreader),
        Attack("sigterm", attackSigterm),
        Attack("udp", attackUdp),
        Attack("tls", attackTls),
        Attack("limits", attackLimits),
        Attack("defects", attackDefects),
    ]
}
"""
Every attack, by name, in the order they run.
"""


def runAttack(name: str, pool: Pool, report: Report, settings: Settings) -> float:
    """
    Run one attack against the pool's servers, recording its checks.

    @return: how many seconds it took.
    """
    ctx = Context(name, pool, report, settings)
    started = monotonic()
    failed = len(report.failures)
    try:
        with ctx.cleanup:
            ATTACKS[name].run(ctx)
    except (AttackError, OSError) as e:
        ctx.check(False, "runs to the end", f"{type(e).__name__}: {e}")
    except Exception as e:
        # A bug of the attack's own: say where, and go on with the others.
        report.out(traceback.format_exc())
        ctx.check(False, "runs to the end", f"{type(e).__name__}: {e}")
    took = monotonic() - started
    report.figure(name, "seconds", took, "s")
    report.out(
        f"{name}: {'ok' if len(report.failures) == failed else 'FAILED'} ({took:.1f} s)"
    )
    return took


def runAttacks(
    names: Sequence[str],
    settings: Settings | None = None,
    directory: Path | None = None,
    out: Callable[[str], object] = print,
) -> Report:
    """
    Run attacks once each (the short form), each against servers started
    for the run, and stop the servers.

    @param names: which attacks, in order (see L{ATTACKS}).
    @param directory: where the servers' logs go; a new temporary
        directory if C{None}.
    @param out: where progress and failures are printed.
    @return: what was found.
    """
    raiseFileLimit()
    settings = settings or Settings()
    report = Report(out=out)
    directory = directory or Path(tempfile.mkdtemp(prefix="netlab-attack-"))
    pool = Pool(directory, report)
    try:
        for name in names:
            runAttack(name, pool, report, settings)
    finally:
        pool.stopAll()
    return report


def slope(values: Sequence[float]) -> float:
    """
    @return: the least-squares slope of C{values} over their indices.
    """
    n = len(values)
    if n < 2:
        return 0.0
    meanX = (n - 1) / 2
    meanY = sum(values) / n
    num = sum((i - meanX) * (y - meanY) for i, y in enumerate(values))
    den = sum((i - meanX) ** 2 for i in range(n))
    return num / den


def soak(
    names: Sequence[str],
    minutes: float,
    settings: Settings,
    directory: Path,
    out: Callable[[str], object] = print,
) -> Report:
    """
    Repeat the attacks for C{minutes} against the same servers, printing
    each server's resident memory and open file descriptors after every
    round, then the least-squares slope of each per round.

    @return: what was found.
    """
    raiseFileLimit()
    report = Report(out=out)
    pool = Pool(directory, report)
    history: dict[str, list[tuple[int, int]]] = {}
    started = monotonic()
    rounds = 0
    try:
        while monotonic() - started < minutes * 60:
            for name in names:
                runAttack(name, pool, report, settings)
            rounds += 1
            elapsed = (monotonic() - started) / 60
            for server in pool.servers():
                figures = (server.rss(), server.fds())
                history.setdefault(server.spec.name, []).append(figures)
                out(
                    f"round {rounds} ({elapsed:.1f} min): {server.spec.name}: "
                    f"rss {figures[0]:,} KiB, fds {figures[1]}"
                )
    finally:
        pool.stopAll()
    out(f"soak: {rounds} rounds in {(monotonic() - started) / 60:.1f} min")
    for name, perRound in history.items():
        # The first round warms the server up (caches, pools, arenas).
        later = perRound[1:]
        rssSlope = slope([rss for rss, _ in later])
        fdSlope = slope([fds for _, fds in later])
        out(
            f"slope {name}: {rssSlope:+.1f} KiB per round, {fdSlope:+.2f} fds per "
            f"round over rounds 2 to {len(perRound)}"
        )
        report.figure("soak", f"{name} KiB per round", rssSlope, "KiB")
        if len(later) >= SOAK_MIN_ROUNDS:
            report.check(
                "soak",
                rssSlope <= SOAK_RSS_SLOPE,
                f"{name}'s resident memory grows by at most {SOAK_RSS_SLOPE:g} KiB "
                "per round",
                f"{rssSlope:+.1f} KiB per round",
            )
            report.check(
                "soak",
                fdSlope <= SOAK_FD_SLOPE,
                f"{name}'s open file descriptors grow by at most {SOAK_FD_SLOPE:g} "
                "per round",
                f"{fdSlope:+.2f} per round",
            )
    return report


def parseArguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """
    @return: the command line's options.
    """
    parser = argparse.ArgumentParser(
        description="Attack netlab's servers on loopback and check that they hold."
    )
    parser.add_argument(
        "--only",
        default=",".join(ATTACKS),
        help="comma-separated attacks to run (default: all): " + ", ".join(ATTACKS),
    )
    parser.add_argument(
        "--defects",
        default=",".join(DEFECTS),
        help="comma-separated defect checks of the 'defects' attack (default: all)",
    )
    parser.add_argument(
        "--soak",
        type=float,
        metavar="MINUTES",
        help="repeat the attacks for this long, printing memory and descriptors "
        "per round and their slopes",
    )
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help=f"rounds per attack ({ROUNDS})"
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        help="keep the servers' logs here (default: a temporary directory, "
        "removed unless a check failed)",
    )
    parser.add_argument("--list", action="store_true", help="list the attacks")
    options = parser.parse_args(argv)
    options.names = [name for name in options.only.split(",") if name]
    unknown = [name for name in options.names if name not in ATTACKS]
    if unknown:
        parser.error(f"unknown attack(s): {', '.join(unknown)}")
    options.defectLetters = tuple(d for d in options.defects.split(",") if d)
    if any(d not in DEFECTS for d in options.defectLetters):
        parser.error(f"--defects takes letters among {', '.join(DEFECTS)}")
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the suite from the command line.

    @return: the exit status: 0 only if every check held.
    """
    options = parseArguments(argv)
    if options.list:
        for attack in ATTACKS.values():
            print(f"{attack.name:10} {attack.summary}")
        return 0
    settings = Settings(rounds=options.rounds, defects=options.defectLetters)
    directory = options.log_dir or Path(tempfile.mkdtemp(prefix="netlab-attack-"))
    directory.mkdir(parents=True, exist_ok=True)
    started = monotonic()
    if options.soak is not None:
        report = soak(options.names, options.soak, settings, directory)
    else:
        report = runAttacks(options.names, settings, directory)
    took = monotonic() - started
    for key, (value, unit) in sorted(report.figures.items()):
        print(f"  {key}: {formatFigure(value, unit)}")
    print(
        f"{len(options.names)} attacks, {report.passed + len(report.failures)} checks, "
        f"{len(report.failures)} failed, {took:.1f} s in all"
    )
    for line in report.failures:
        print(line)
    if report.failures or options.log_dir:
        print(f"servers' logs: {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
