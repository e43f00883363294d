#!/usr/bin/env python3
"""
Measure every netlab service against peers doing the same work, in one run.

Builds the C load generator (C{benchmarks/loadgen.c}) with C{cc}; then, for
each scenario and round, starts each server afresh on a free port of
127.0.0.1, pinned to one CPU, drives it with the load generator pinned to
another, and stops it by its PID. Prints, per scenario, a Markdown table of
medians over the rounds (rate, server CPU time per request, latency
percentiles, errors) with the ratio of netlab's server CPU time per request
to each peer's, then a summary of those ratios. Standard library only; see
C{benchmarks/README.rst}.

Exits with status 1 when a load-generator run against netlab failed or
reported errors, 2 when the load generator cannot be built.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import importlib.util
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
"""
The C{benchmarks} directory.
"""

LOADGEN_SOURCE = HERE / "loadgen.c"

PEERS = HERE / "peers"

HOST = "127.0.0.1"
"""
Everything listens and connects here: loopback only.
"""

READY_TIMEOUT = 20.0
"""
Seconds a server may take to start listening.
"""

STOP_TIMEOUT = 5.0
"""
Seconds a server may take to exit after SIGTERM before it gets SIGKILL.
"""

LOADGEN_SLACK = 120.0
"""
Seconds a load-generator run may take beyond its warm-up and measured
window (connecting 10,000 clients, closing them) before it is killed.
"""

BUILD_TIMEOUT = 120.0
"""
Seconds compiling the load generator may take.
"""

SERVER_LIFETIME = 600.0
"""
Seconds after which a peer exits by itself, should it outlive this runner
(every server also gets SIGTERM when the runner dies, on Linux).
"""

UNAVAILABLE = 3
"""
The exit status of a peer whose event loop is not installed (uvloop).
"""

NICK_FIRST_LINE = "/nick user%d\\n"
"""
The first line each chat client sends: the load generator expands C{%d} to
the client's index and C{\\n} to a newline.
"""

PROBE_FIRST_LINE = "p\\n"
"""
The line each idle client sends to an echo or timestamp server, to see the connection
served (the reply) before holding it.
"""


# The servers


@dataclass(frozen=True)
class Server:
    """
    A server to measure.

    @ivar key: its short name, used in labels and log file names.
    @ivar title: its name in the tables.
    @ivar isNetlab: whether it is netlab (the others are its peers).
    @ivar command: makes the command line that runs it on a port.
    @ivar requires: a module it needs, or L{None}; without that module it is
        left out of the run.
    @ivar service: for netlab, the twistd sub-command.
    @ivar options: for netlab, the sub-command's options.
    @ivar reactor: for netlab, the C{--reactor} it runs on (C{None}: the
        default).
    @ivar nodes: for netlab chat, how many nodes of one chat over a Redis
        of the runner's own (L{runningCluster}); 0 for one process.
    """

    key: str
    title: str
    isNetlab: bool
    command: Callable[[int], list[str]]
    requires: str | None = None
    service: str = ""
    options: tuple[str, ...] = ()
    reactor: str | None = None
    nodes: int = 0


def twistdCommand() -> list[str]:
    """
    @return: the command that runs the C{twistd} next to the running Python
        (the virtualenv's), or, without one, C{twistd} through that Python.
    """
    twistd = Path(sys.executable).parent / "twistd"
    if twistd.exists():
        return [str(twistd)]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


SAFETY = (
    # Every limit stays on, set high enough for the biggest scenario (10,000
    # connections, all from 127.0.0.1), and the metrics are served (on a
    # port of their own, see netlabCommand), so that what is measured is
    # what an operator runs.
    "--max-connections",
    "20000",
    "--max-per-source",
    "20000",
)
"""
Options every netlab server gets in the benchmarks.
"""


def netlabCommand(
    service: str, *options: str, reactor: str | None = None
) -> Callable[[int], list[str]]:
    """
    @return: a L{Server.command} for C{twistd -n netlab SERVICE} listening on
        TCP port C{port} of 127.0.0.1, with C{options} (where C{{port}} is
        replaced by the port), on twistd's default reactor or C{reactor}.
    """

    def command(port: int) -> list[str]:
        # The metrics get a port of the runner's choosing, not tcp:0: the
        # server binds them before its --listen, and a port the kernel picks
        # may be the very one just found free for --listen.  The readiness
        # probe would then reach the metrics, and the load generator would
        # run against a server about to exit (port in use).
        metrics = freePort(udp=False, besides=port)
        return [
            *twistdCommand(),
            *(("--reactor", reactor) if reactor else ()),
            "-n",
            "--pidfile=",
            "netlab",
            service,
            "--listen",
            f"tcp:{port}:interface={HOST}",
            *SAFETY,
            "--metrics",
            f"tcp:{metrics}:interface={HOST}",
            *(option.replace("{port}", str(port)) for option in options),
        ]

    return command


def peerCommand(script: str, *options: str) -> Callable[[int], list[str]]:
    """
    @return: a L{Server.command} for C{peers/SCRIPT PORT OPTIONS...} run by
        the running Python.
    """

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            str(PEERS / script),
            str(port),
            *options,
            "--max-seconds",
            f"{SERVER_LIFETIME:.0f}",
        ]

    return command


def netlabServer(key: str, title: str, service: str, *options: str) -> Server:
    """
    @return: netlab's C{service} with C{options}, on twistd's default
        reactor.
    """
    return Server(
        key,
        title,
        True,
        netlabCommand(service, *options),
        service=service,
        options=options,
    )


REACTORS = ("epoll", "poll", "select", "asyncio", "uvloop")
"""
The reactors C{--reactors all} compares: twistd's, and netlab's uvloop.
"""


def onReactor(server: Server, reactor: str) -> Server:
    """
    @return: the netlab C{server} on C{twistd --reactor REACTOR}.
    """
    return Server(
        f"{server.key}@{reactor}",
        f"{server.title} [{reactor}]",
        True,
        netlabCommand(server.service, *server.options, reactor=reactor),
        requires="uvloop" if reactor == "uvloop" else None,
        service=server.service,
        options=server.options,
        reactor=reactor,
    )


def withReactors(scenario: Scenario, reactors: Sequence[str]) -> Scenario:
    """
    @return: C{scenario} with each of its netlab servers measured on each
        of C{reactors} (first), then its peers.
    """
    servers: list[str] = []
    options = dict(scenario.serverOptions)
    for key in scenario.servers:
        server = SERVERS[key]
        if not server.isNetlab:
            continue
        for reactor in reactors:
            variant = onReactor(server, reactor)
            SERVERS[variant.key] = variant
            servers.append(variant.key)
            if key in options:
                options[variant.key] = options[key]
    servers += [key for key in scenario.servers if not SERVERS[key].isNetlab]
    return replace(scenario, servers=tuple(servers), serverOptions=options)


SERVERS = {
    server.key: server
    for server in [
        netlabServer(
            "netlab-echo",
            "netlab echo",
            "echo",
            "--udp-port",
            "{port}",
            "--udp-interface",
            HOST,
            # The guard runs, but never throttles the load generator.
            "--udp-rate",
            "1e9",
            "--udp-global-rate",
            "1e9",
        ),
        netlabServer(
            "netlab-tsserv",
            "netlab tsserv --framing line",
            "tsserv",
            "--framing",
            "line",
        ),
        netlabServer("netlab-chat", "netlab chat", "chat", "--line-rate", "0"),
        replace(
            netlabServer(
                "netlab-chat-bus",
                "netlab chat, 2 nodes over Redis",
                "chat",
                "--line-rate",
                "0",
            ),
            nodes=2,
        ),
        Server("wire", "Twisted wire.Echo", False, peerCommand("echo_wire.py")),
        Server("asyncio", "asyncio Protocol", False, peerCommand("echo_asyncio.py")),
        Server(
            "uvloop",
            "asyncio Protocol + uvloop",
            False,
            peerCommand("echo_asyncio.py", "--uvloop"),
            requires="uvloop",
        ),
        Server(
            "ts-naive",
            "naive Twisted LineReceiver timestamp",
            False,
            peerCommand("ts_naive.py"),
        ),
        Server(
            "chat-naive",
            "naive Twisted LineReceiver chat",
            False,
            peerCommand("chat_naive.py"),
        ),
    ]
}

ECHO_SERVERS = ("netlab-echo", "wire", "asyncio", "uvloop")


def workerCounts(cpus: int | None = None) -> list[int]:
    """
    The C{--workers} values the scaling scenarios measure: 1, 2, ... up to
    the CPUs the servers get (those this runner may use, but the load
    generator's), and at least 1 and 2, so that the parent's hand-over is
    measured even on a machine of two CPUs (where its workers then share
    one).

    @param cpus: the CPUs this runner may use; its affinity's if L{None}.
    """
    if cpus is None:
        cpus = len(os.sched_getaffinity(0))
    return list(range(1, max(2, cpus - 1) + 1))


WORKERS = workerCounts()

for _count in WORKERS:
    for _server in (
        netlabServer(
            f"netlab-echo-w{_count}",
            f"netlab echo --workers {_count}",
            "echo",
            "--no-udp",
            "--workers",
            str(_count),
        ),
        netlabServer(
            f"netlab-tsserv-w{_count}",
            f"netlab tsserv --framing line --workers {_count}",
            "tsserv",
            "--framing",
            "line",
            "--workers",
            str(_count),
        ),
    ):
        SERVERS[_server.key] = _server


# The scenarios


@dataclass(frozen=True)
class Scenario:
    """
    One load, applied in turn to several servers.

    @ivar id: its short name, for C{--scenarios}.
    @ivar title: what it is, in words.
    @ivar kind: what is measured: C{"rate"} (requests per second),
        C{"chat"} (lines delivered per second) or C{"idle"} (memory per
        connection).
    @ivar mode: the load generator's mode.
    @ivar conns: connections (or UDP sockets, or chat clients).
    @ivar quickConns: the same, with C{--quick}.
    @ivar size: bytes per message or line.
    @ivar servers: the keys of the servers compared, netlab first.
    @ivar options: more load-generator options.
    @ivar serverOptions: load-generator options for some servers only.
    @ivar duration: a fixed measured window in seconds, or L{None} for
        C{--duration}.
    @ivar spread: whether the servers get every CPU but the load
        generator's (servers with workers), rather than one.
    """

    id: str
    title: str
    kind: str
    mode: str
    conns: int
    quickConns: int
    size: int
    servers: tuple[str, ...]
    options: tuple[str, ...] = ()
    serverOptions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    duration: float | None = None
    spread: bool = False


def chatScenario(
    id: str, clients: int, quickClients: int, pacing: tuple[str, ...], title: str
) -> Scenario:
    """
    @return: a chat scenario: C{clients} clients named by C{/nick}, of which
        10 send, paced by C{pacing}.
    """
    return Scenario(
        id,
        title,
        "chat",
        "chat",
        clients,
        quickClients,
        64,
        ("netlab-chat", "chat-naive"),
        (
            "--senders",
            "10",
            *pacing,
            "--first-line",
            NICK_FIRST_LINE,
            "--await-reply",
        ),
    )


SCENARIOS = [
    Scenario(
        "echo64-c100",
        "TCP echo, 64 B messages, 100 connections (ping-pong each)",
        "rate",
        "tcp-echo",
        100,
        20,
        64,
        ECHO_SERVERS,
    ),
    Scenario(
        "echo16k-c10",
        "TCP echo, 16 KiB messages, 10 connections",
        "rate",
        "tcp-echo",
        10,
        4,
        16384,
        ECHO_SERVERS,
    ),
    Scenario(
        "udp64-c10",
        "UDP echo, 64 B datagrams, 10 sockets (netlab's guard on, not limiting)",
        "rate",
        "udp",
        10,
        4,
        64,
        ECHO_SERVERS,
    ),
    Scenario(
        "line64-c100",
        "Timestamp, line mode, 64 B lines, 100 connections",
        "rate",
        "tcp-line",
        100,
        20,
        64,
        ("netlab-tsserv", "ts-naive"),
    ),
    chatScenario(
        "chat-100x10",
        100,
        20,
        ("--window", "8"),
        "Chat, 100 clients, 10 senders, bursty (8 lines in flight per sender)",
    ),
    chatScenario(
        "chat-1000x10",
        1000,
        100,
        ("--window", "8"),
        "Chat, 1,000 clients, 10 senders, bursty (8 lines in flight per sender)",
    ),
    chatScenario(
        "chat-1000x10-r50",
        1000,
        100,
        ("--rate", "50"),
        "Chat, 1,000 clients, 10 senders, a fixed light 50 lines/s in all",
    ),
    Scenario(
        "chat-bus-1000x10-r50",
        "Chat, 1,000 clients, 10 senders at 50 lines/s in all: one process, "
        "and two nodes over Redis (senders and half the receivers on one, "
        "the other half on the other)",
        "chat-bus",
        "chat",
        1000,
        100,
        64,
        ("netlab-chat", "netlab-chat-bus"),
        (
            "--senders",
            "10",
            "--rate",
            "50",
            "--first-line",
            NICK_FIRST_LINE,
            "--await-reply",
        ),
    ),
    Scenario(
        "idle-10k",
        "10,000 idle connections held (memory per connection)",
        "idle",
        "idle",
        10000,
        1000,
        0,
        ("netlab-echo", "netlab-tsserv", "netlab-chat", "wire", "asyncio", "uvloop"),
        serverOptions={
            "netlab-chat": ("--first-line", NICK_FIRST_LINE, "--await-reply"),
            "netlab-echo": ("--first-line", PROBE_FIRST_LINE, "--await-reply"),
            "netlab-tsserv": ("--first-line", PROBE_FIRST_LINE, "--await-reply"),
            "wire": ("--first-line", PROBE_FIRST_LINE, "--await-reply"),
            "asyncio": ("--first-line", PROBE_FIRST_LINE, "--await-reply"),
            "uvloop": ("--first-line", PROBE_FIRST_LINE, "--await-reply"),
        },
        duration=2.0,
    ),
    Scenario(
        "echo64-workers",
        "TCP echo, 64 B messages, 100 connections, netlab --workers 1, 2, ...",
        "scaling",
        "tcp-echo",
        100,
        20,
        64,
        tuple(f"netlab-echo-w{n}" for n in WORKERS),
        spread=True,
    ),
    Scenario(
        "line64-workers",
        "Timestamp, line mode, 64 B lines, 100 connections, netlab --workers 1, 2, ...",
        "scaling",
        "tcp-line",
        100,
        20,
        64,
        tuple(f"netlab-tsserv-w{n}" for n in WORKERS),
        spread=True,
    ),
    Scenario(
        "accept-2k",
        "2,000 connections opened (32 at a time), each served one echoed line: "
        "the rate at which they are accepted (and, with workers, handed over)",
        "accept",
        "idle",
        2000,
        200,
        0,
        tuple(f"netlab-echo-w{n}" for n in WORKERS),
        ("--first-line", PROBE_FIRST_LINE, "--await-reply"),
        duration=0.5,
        spread=True,
    ),
]


# Processes


def buildLoadgen(buildDir: Path) -> Path:
    """
    Compile the load generator into C{buildDir} unless the binary there is
    newer than its source.

    @return: the binary.
    @raise SystemExit: (status 2) without a source or a C compiler, or when
        compiling fails.
    """
    binary = buildDir / "loadgen"
    if not LOADGEN_SOURCE.exists():
        sys.exit(f"error: {LOADGEN_SOURCE} is missing")
    if binary.exists() and binary.stat().st_mtime >= LOADGEN_SOURCE.stat().st_mtime:
        return binary
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        print("error: no C compiler (cc or gcc; or set CC)", file=sys.stderr)
        sys.exit(2)
    buildDir.mkdir(parents=True, exist_ok=True)
    command = [
        compiler,
        "-O2",
        "-Wall",
        "-Wextra",
        "-std=gnu11",
        "-o",
        str(binary),
        str(LOADGEN_SOURCE),
        "-lm",
    ]
    progress("building: " + " ".join(command))
    try:
        subprocess.run(command, check=True, timeout=BUILD_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        print(f"error: building the load generator failed: {e}", file=sys.stderr)
        sys.exit(2)
    return binary


def freePort(udp: bool = True, host: str = HOST, besides: int = 0) -> int:
    """
    @param udp: whether the port must be free for UDP too.
    @param host: the loopback address, IPv4 or IPv6, to find it on.
    @param besides: a port not to give (one already given to the same
        server, free until it binds it).
    @return: a port of C{host} free for TCP (and UDP, if C{udp}) right now.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port: int = tcp.getsockname()[1]
            if port == besides:
                continue
            if not udp:
                return port
            with socket.socket(family, socket.SOCK_DGRAM) as datagram:
                try:
                    datagram.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


_PR_SET_PDEATHSIG = 1


def childSetup(cpu: int | set[int] | None) -> Callable[[], None]:
    """
    @return: a C{preexec_fn} that pins the child to C{cpu} (or to a set of
        CPUs; unless L{None}),
        raises its limit of open files to the hard limit, and asks Linux to
        send it SIGTERM should this runner die first.
    """

    def setup() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, cpu if isinstance(cpu, set) else {cpu})
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        try:
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass

    return setup


def stopProcess(process: subprocess.Popen[bytes]) -> None:
    """
    Stop C{process} by its PID: SIGTERM, then SIGKILL if it is still there
    after L{STOP_TIMEOUT} seconds.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


class ServerUnavailable(Exception):
    """
    The server cannot run here (its event loop is not installed).
    """


class ServerFailed(Exception):
    """
    The server did not start listening.
    """


def waitListening(
    process: subprocess.Popen[bytes], port: int, udp: bool, timeout: float
) -> None:
    """
    Wait until C{process} accepts TCP connections on C{port} and, if C{udp},
    answers a probe datagram there.

    @raise ServerUnavailable: if it exits with L{UNAVAILABLE}.
    @raise ServerFailed: if it exits, or is not ready within C{timeout}.
    """
    deadline = time.monotonic() + timeout
    tcpReady = False
    while time.monotonic() < deadline:
        status = process.poll()
        if status == UNAVAILABLE:
            raise ServerUnavailable()
        if status is not None:
            raise ServerFailed(f"exited with status {status}")
        try:
            if not tcpReady:
                with socket.create_connection((HOST, port), timeout=0.5):
                    tcpReady = True
            if not udp:
                return
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.settimeout(0.5)
                probe.sendto(b"probe", (HOST, port))
                if probe.recvfrom(2048)[0] == b"probe":
                    return
        except OSError:
            time.sleep(0.05)
    raise ServerFailed(f"not listening on port {port} after {timeout:.0f} s")


@contextmanager
def runningServer(
    server: Server, udp: bool, cpu: int | set[int] | None, log: Path
) -> Iterator[tuple[int, int]]:
    """
    Start C{server} on a free port, pinned to C{cpu}, its output going to
    C{log}; wait until it listens; stop it on the way out.

    A server that exits because a port it was given was taken between the
    runner finding it free and the server binding it (another program on
    the machine got there first) is started again on other ports, up to
    L{PORT_ATTEMPTS} times in all.

    @return: (as the context's value) its port and PID.
    @raise ServerFailed: if it does not start; the message ends with the
        last line of its log.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = freePort()
        with log.open("wb") as output:
            process = subprocess.Popen(
                server.command(port),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=childSetup(cpu),
            )
        try:
            waitListening(process, port, udp, READY_TIMEOUT)
            break
        except ServerFailed as e:
            stopProcess(process)
            if attempt < PORT_ATTEMPTS and portTaken(log):
                continue
            raise ServerFailed(f"{e}: {logTail(log)}") from None
        except BaseException:
            stopProcess(process)
            raise
    try:
        yield port, process.pid
    finally:
        stopProcess(process)


PORT_ATTEMPTS = 3
"""
Times L{runningServer} starts a server whose port was taken before it bound.
"""

PORT_TAKEN = (b"another program is using it", b"Address already in use")
"""
What a server's log says when a port it was given is taken: netlab's
startup error, and the C{OSError} of the peers.
"""


def portTaken(log: Path) -> bool:
    """
    @return: whether the server that wrote C{log} could not bind a port.
    """
    try:
        text = log.read_bytes()
    except OSError:
        return False
    return any(sign in text for sign in PORT_TAKEN)


def logTail(log: Path, limit: int = 300) -> str:
    """
    @return: the last non-blank line of C{log} (at most C{limit}
        characters), or a note that it has none.
    """
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return "no log line"


@contextmanager
def runningCluster(
    server: Server, cpu: int | set[int] | None, log: Path
) -> Iterator[tuple[int, int, list[str]]]:
    """
    Start C{redis-server} on a free port, saving nothing, in a directory of
    its own, then C{server.nodes} chat nodes on it, every process pinned to
    C{cpu} (the one CPU a single-process server gets); stop them all on
    the way out.

    @return: (as the context's value) the first node's port and PID, and
        the load generator's options for the others: C{--port2} (the
        second node) and C{--extra-pid} for the second node and Redis.
    @raise ServerUnavailable: without C{redis-server} or C{txredisapi}.
    """
    redis = shutil.which("redis-server") or shutil.which(
        "redis-server", path="/usr/sbin:/usr/bin"
    )
    if redis is None or importlib.util.find_spec("txredisapi") is None:
        raise ServerUnavailable()
    log.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redisPort = freePort(udp=False)
        output = stack.enter_context(log.with_suffix(".redis.log").open("wb"))
        process = subprocess.Popen(
            [
                *(redis, "--port", str(redisPort), "--bind", HOST, "--save", ""),
                *("--appendonly", "no", "--dir", str(directory)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=childSetup(cpu),
        )
        stack.callback(stopProcess, process)
        waitListening(process, redisPort, False, READY_TIMEOUT)
        started = []
        for index in range(server.nodes):
            name = "abcdefgh"[index]
            node = replace(
                server,
                command=netlabCommand(
                    server.service,
                    *server.options,
                    "--bus",
                    f"redis://{HOST}:{redisPort}/0",
                    "--node",
                    name,
                    reactor=server.reactor,
                ),
            )
            nodeLog = log.with_suffix(f".{name}.log")
            started.append(
                stack.enter_context(runningServer(node, False, cpu, nodeLog))
            )
        (port, pid), (port2, pid2) = started[:2]
        others = ["--port2", str(port2), "--extra-pid", str(pid2)]
        yield port, pid, [*others, "--extra-pid", str(process.pid)]


@contextmanager
def runningServers(
    server: Server, udp: bool, cpu: int | set[int] | None, log: Path
) -> Iterator[tuple[int, int, list[str]]]:
    """
    L{runningServer}, or L{runningCluster} for a server of several nodes.

    @return: (as the context's value) its port and PID, and the load
        generator's options for its other processes.
    """
    if server.nodes:
        with runningCluster(server, cpu, log) as started:
            yield started
    else:
        with runningServer(server, udp, cpu, log) as (port, pid):
            yield port, pid, []


# Measuring


@dataclass
class Measurement:
    """
    One load-generator run against one server.

    @ivar fields: the fields of its C{RESULT} line (empty without one).
    @ivar line: its C{RESULT} line, or L{None}.
    @ivar failure: why the run failed, or L{None}.
    """

    fields: dict[str, str]
    line: str | None
    failure: str | None = None

    def number(self, key: str) -> float:
        """
        @return: the value of the field C{key} as a number (NaN if missing).
        """
        try:
            return float(self.fields[key])
        except (KeyError, ValueError):
            return float("nan")

    @property
    def errorCounts(self) -> tuple[int, int, int]:
        """
        The errors, content mismatches and connections that failed.
        """

        def count(value: float) -> int:
            return int(value) if value == value else 0

        return (
            count(self.number("errors")),
            count(self.number("mismatches")),
            count(self.number("conns") - self.number("conn_ok")),
        )

    @property
    def bad(self) -> bool:
        """
        Whether the run failed or reported errors.
        """
        return self.failure is not None or any(self.errorCounts)


def parseResult(output: str) -> tuple[dict[str, str], str | None]:
    """
    @return: the fields of the last C{RESULT} line of C{output}, and that
        line (C{({}, None)} without one).
    """
    for line in reversed(output.splitlines()):
        if line.startswith("RESULT "):
            fields = dict(
                item.split("=", 1) for item in line.split()[1:] if "=" in item
            )
            try:
                # Connections established per second of the connect phase.
                rate = float(fields["conn_ok"]) / float(fields["connect_s"])
                fields["accept_rate"] = f"{rate:.1f}"
            except (KeyError, ValueError, ZeroDivisionError):
                pass
            return fields, line
    return {}, None


@dataclass(frozen=True)
class Settings:
    """
    How to run: the options that apply to every measurement.
    """

    loadgen: Path
    logDir: Path
    duration: float
    warmup: float
    quick: bool
    serverCpu: int | None
    loadgenCpu: int | None
    serverCpus: set[int] | None = None


def processCpuSeconds(pid: int) -> float:
    """
    @return: the CPU time (user and system) of the process C{pid} alone,
        in seconds, or -1 if it cannot be read.
    """
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return -1.0


def measure(settings: Settings, scenario: Scenario, server: Server) -> Measurement:
    """
    Start C{server} afresh, run the load generator against it once, stop it.

    @raise ServerUnavailable: if the server cannot run here.
    """
    duration = scenario.duration or settings.duration
    if settings.quick:
        duration = min(duration, settings.duration)
    conns = scenario.quickConns if settings.quick else scenario.conns
    log = settings.logDir / f"{scenario.id}-{server.key}.log"
    try:
        cpu = settings.serverCpus if scenario.spread else settings.serverCpu
        with runningServers(server, scenario.mode == "udp", cpu, log) as (
            port,
            pid,
            others,
        ):
            command = [
                str(settings.loadgen),
                scenario.mode,
                "--port",
                str(port),
                "--host",
                HOST,
                "--conns",
                str(conns),
                "--duration",
                f"{duration:g}",
                "--warmup",
                f"{settings.warmup:g}",
                "--server-pid",
                str(pid),
                "--label",
                f"{scenario.id}@{server.key}",
            ]
            if scenario.size:
                command += ["--size", str(scenario.size)]
            command += [*scenario.options, *scenario.serverOptions.get(server.key, ())]
            command += others
            timeout = duration + settings.warmup + LOADGEN_SLACK
            ownCpu = processCpuSeconds(pid)
            try:
                done = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    preexec_fn=childSetup(settings.loadgenCpu),
                )
            except subprocess.TimeoutExpired:
                timedOut = f"load generator timed out ({timeout:g} s)"
                return Measurement({}, None, timedOut)
            ownCpu = processCpuSeconds(pid) - ownCpu
    except ServerFailed as e:
        return Measurement({}, None, f"server failed: {e} (log: {log})")
    fields, line = parseResult(done.stdout)
    if line is not None:
        # The chat nodes' CPU together (the second node's is the first
        # --extra-pid), and Redis's (the second).
        extra = [float(v) for v in fields.get("extra_cpu", "-").split(",") if v != "-"]
        nodes = float(fields.get("srv_cpu", "nan")) + (extra[0] if extra else 0)
        fields["nodes_cpu"] = f"{nodes:.1f}"
        fields["redis_cpu"] = f"{extra[1]:.1f}" if len(extra) > 1 else "nan"
    if ownCpu >= 0 and line is not None:
        # The server's own process alone (with --workers, the parent),
        # over the whole load-generator run.
        fields["own_cpu_s"] = f"{ownCpu:.3f}"
    failure: str | None = None
    if done.returncode != 0:
        # The load generator's last error and the server's last log line:
        # between them they say which side gave up, and why.
        lastError = (done.stderr.strip().splitlines() or [""])[-1]
        failure = (
            f"load generator exit status {done.returncode} {lastError}".strip()
            + f"; server log ends: {logTail(log)}"
        )
    elif line is None:
        failure = "no RESULT line from the load generator"
    return Measurement(fields, line, failure)


# Figures


def median(values: Sequence[float]) -> float:
    """
    @return: the median of the numbers in C{values} that are not NaN (NaN if
        none is).
    """
    numbers = [v for v in values if v == v]
    return statistics.median(numbers) if numbers else float("nan")


def perRequest(m: Measurement, rateKey: str) -> float:
    """
    @return: the server's CPU time in microseconds per request (or delivered
        line): C{srv_cpu} (% of one core) x 10^4 / rate.
    """
    rate = m.number(rateKey)
    if not rate > 0:
        return float("nan")
    return m.number("srv_cpu") * 1e4 / rate


def formatNumber(value: float) -> str:
    """
    @return: C{value} with three significant digits or so: C{87.6k}, C{1,611k},
        C{11.4}, C{0.61}; C{-} for NaN.
    """
    if value != value:
        return "-"
    size = abs(value)
    if size >= 1e5:
        return f"{value / 1e3:,.0f}k"
    if size >= 1e4:
        return f"{value / 1e3:.1f}k"
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def formatFixed(value: float, digits: int = 0) -> str:
    """
    @return: C{value} with C{digits} decimals; C{-} for NaN.
    """
    return "-" if value != value else f"{value:.{digits}f}"


def formatRatio(value: float) -> str:
    """
    @return: a ratio such as C{0.65x}; C{-} for NaN or infinity.
    """
    if value != value or value in (float("inf"), float("-inf")):
        return "-"
    return f"{value:.2f}x"


def ratio(a: float, b: float) -> float:
    """
    @return: C{a / b}, NaN when C{b} is not positive.
    """
    return a / b if b > 0 else float("nan")


@dataclass(frozen=True)
class Kind:
    """
    What a kind of scenario reports.

    @ivar rateKey: the C{RESULT} field of its main figure.
    @ivar rateTitle: that figure's column title.
    @ivar costTitle: the title of the cost column.
    @ivar cost: the cost of one measurement: the smaller, the better.
    """

    rateKey: str
    rateTitle: str
    costTitle: str
    cost: Callable[[Measurement], float]


KINDS = {
    "scaling": Kind(
        "rps", "req/s (min-max)", "srv µs/req", lambda m: perRequest(m, "rps")
    ),
    "accept": Kind(
        "accept_rate",
        "connections/s (min-max)",
        "parent CPU µs/connection",
        lambda m: (
            m.number("own_cpu_s") * 1e6 / m.number("conn_ok")
            if m.number("conn_ok") > 0
            else float("nan")
        ),
    ),
    "rate": Kind(
        "rps", "req/s (min-max)", "srv µs/req", lambda m: perRequest(m, "rps")
    ),
    "chat": Kind(
        "delivered_lps",
        "delivered lines/s (min-max)",
        "srv µs/line",
        lambda m: perRequest(m, "delivered_lps"),
    ),
    "chat-bus": Kind(
        "delivered_lps",
        "delivered lines/s (min-max)",
        "nodes' CPU µs/line",
        lambda m: (
            m.number("nodes_cpu") * 1e4 / m.number("delivered_lps")
            if m.number("delivered_lps") > 0
            else float("nan")
        ),
    ),
    "idle": Kind(
        "bytes_per_conn",
        "bytes/conn (min-max)",
        "bytes/conn",
        lambda m: m.number("bytes_per_conn"),
    ),
}


@dataclass
class Row:
    """
    The measurements of one server in one scenario, over the rounds.
    """

    server: Server
    runs: list[Measurement] = field(default_factory=list)
    unavailable: bool = False

    def good(self) -> list[Measurement]:
        """
        @return: the runs with a C{RESULT} line.
        """
        return [m for m in self.runs if m.line is not None]

    def median(self, key: str) -> float:
        """
        @return: the median of the field C{key} over the runs.
        """
        return median([m.number(key) for m in self.good()])

    def cost(self, kind: Kind) -> float:
        """
        @return: the median cost over the runs.
        """
        return median([kind.cost(m) for m in self.good()])

    def rateRange(self, key: str) -> str:
        """
        @return: the median of C{key} with its range, e.g. C{87.6k (85.0k-87.9k)}.
        """
        values = [m.number(key) for m in self.good()]
        values = [v for v in values if v == v]
        if not values:
            return "-"
        text = formatNumber(statistics.median(values))
        if len(values) > 1:
            low, high = formatNumber(min(values)), formatNumber(max(values))
            text += f" ({low}-{high})"
        return text

    def errorText(self) -> str:
        """
        @return: the errors of the runs, in words.
        """
        counts = [m.errorCounts for m in self.runs]
        errors, mismatches, failedConns = (sum(c[i] for c in counts) for i in range(3))
        parts = []
        if errors:
            parts.append(f"{errors} err")
        if mismatches:
            parts.append(f"{mismatches} mism")
        if failedConns:
            parts.append(f"{failedConns} conn failed")
        lost = sum(int(m.number("lost")) for m in self.good() if m.number("lost") > 0)
        if lost:
            parts.append(f"{lost} lost")
        failures = [m.failure for m in self.runs if m.failure]
        if failures:
            failed = f"{len(failures)}/{len(self.runs)} runs failed"
            parts.append(f"{failed}: {failures[-1]}")
        return ", ".join(parts) or "0"


def scenarioTable(scenario: Scenario, rows: list[Row], conns: int) -> str:
    """
    @return: the Markdown table of one scenario, run with C{conns}
        connections.
    """
    kind = KINDS[scenario.kind]
    if scenario.kind in ("scaling", "accept"):
        return scalingTable(scenario, rows, conns)
    if scenario.kind == "chat-bus":
        return busTable(scenario, rows, conns)
    netlabRows = [r for r in rows if r.server.isNetlab and not r.unavailable]
    ratioTitles = [f"{r.server.title} {kind.costTitle} ÷ this" for r in netlabRows]
    if scenario.kind == "idle":
        header = ["server", "connected", kind.rateTitle, "RSS before → with (MiB)"]
    elif scenario.kind == "chat":
        header = [
            "server",
            kind.rateTitle,
            "sent lines/s",
            "delivery ratio",
            "srv CPU %",
            "lg CPU %",
            kind.costTitle,
            "p50 ms",
            "p99 ms",
        ]
    else:
        header = [
            "server",
            kind.rateTitle,
            "srv CPU %",
            "lg CPU %",
            kind.costTitle,
            "p50 µs",
            "p99 µs",
        ]
    header += [*ratioTitles, "errors"]
    lines = [
        f"### {scenario.id}: {scenario.title}"
        + ("" if conns == scenario.conns else f" (here with {conns} connections)"),
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 2) + "---|",
    ]
    for row in rows:
        if row.unavailable:
            continue
        if scenario.kind == "idle":
            before = row.median("srv_rss_before_kb") / 1024
            after = row.median("srv_rss_kb") / 1024
            cells = [
                formatFixed(row.median("conn_ok"))
                + "/"
                + formatFixed(row.median("conns")),
                row.rateRange(kind.rateKey),
                f"{formatNumber(before)} → {formatNumber(after)}",
            ]
        elif scenario.kind == "chat":
            cells = [
                row.rateRange(kind.rateKey),
                formatNumber(row.median("sent_lps")),
                formatFixed(row.median("delivery_ratio"), 4),
                formatFixed(row.median("srv_cpu")),
                formatFixed(row.median("lg_cpu")),
                formatNumber(row.cost(kind)),
                formatNumber(row.median("p50_us") / 1000),
                formatNumber(row.median("p99_us") / 1000),
            ]
        else:
            cells = [
                row.rateRange(kind.rateKey),
                formatFixed(row.median("srv_cpu")),
                formatFixed(row.median("lg_cpu")),
                formatNumber(row.cost(kind)),
                formatNumber(row.median("p50_us")),
                formatNumber(row.median("p99_us")),
            ]
        # netlab's cost over this peer's; nothing for netlab's own rows.
        cells += [
            "-"
            if row.server.isNetlab
            else formatRatio(ratio(n.cost(kind), row.cost(kind)))
            for n in netlabRows
        ]
        cells.append(row.errorText())
        lines.append("| " + " | ".join([row.server.title, *cells]) + " |")
    return "\n".join(lines)


def busTable(scenario: Scenario, rows: list[Row], conns: int) -> str:
    """
    @return: the Markdown table of a chat scenario run on one process and
        on nodes over Redis: latency (and, for the nodes, of the lines that
        crossed from one node to the other), CPU per delivered line of the
        nodes together and of Redis, and the ratios to the single process
        that the budget is set on (cross-node p99 at most 2x the single
        process's, the nodes' CPU per line at most 1.3x).
    """
    kind = KINDS[scenario.kind]
    header = [
        "server",
        kind.rateTitle,
        "p50 ms",
        "p99 ms",
        "cross-node p50 ms",
        "cross-node p99 ms",
        kind.costTitle,
        "Redis CPU µs/line",
        "p99 ÷ single (≤ 2)",
        "CPU/line ÷ single (≤ 1.3)",
        "errors",
    ]
    lines = [
        f"### {scenario.id}: {scenario.title}"
        + ("" if conns == scenario.conns else f" (here with {conns} clients)"),
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 2) + "---|",
    ]
    available = [r for r in rows if not r.unavailable]
    single = next((r for r in available if not r.server.nodes), None)

    def redisCost(m: Measurement) -> float:
        rate = m.number("delivered_lps")
        return m.number("redis_cpu") * 1e4 / rate if rate > 0 else float("nan")

    for row in available:
        cluster = bool(row.server.nodes)
        p99 = row.median("far_p99_us" if cluster else "p99_us")
        cells = [
            row.rateRange(kind.rateKey),
            formatNumber(row.median("p50_us") / 1000),
            formatNumber(row.median("p99_us") / 1000),
            formatNumber(row.median("far_p50_us") / 1000) if cluster else "-",
            formatNumber(row.median("far_p99_us") / 1000) if cluster else "-",
            formatNumber(row.cost(kind)),
            formatNumber(median([redisCost(m) for m in row.good()]))
            if cluster
            else "-",
        ]
        if cluster and single is not None:
            cells += [
                formatRatio(ratio(p99, single.median("p99_us"))),
                formatRatio(ratio(row.cost(kind), single.cost(kind))),
            ]
        else:
            cells += ["-", "-"]
        cells.append(row.errorText())
        lines.append("| " + " | ".join([row.server.title, *cells]) + " |")
    return "\n".join(lines)


def scalingTable(scenario: Scenario, rows: list[Row], conns: int) -> str:
    """
    @return: the Markdown table of a scenario that runs netlab with 1, 2, ...
        workers: the rate and cost of each, and its rate over one worker's
        in the same run (the scaling factor).  Server CPU is the parent's
        and every worker's.
    """
    kind = KINDS[scenario.kind]
    available = [r for r in rows if not r.unavailable and r.good()]
    base = available[0].median(kind.rateKey) if available else float("nan")
    if scenario.kind == "accept":
        header = ["server", "connected", kind.rateTitle, "connect phase s"]
    else:
        header = ["server", kind.rateTitle, "srv CPU % (all processes)", "lg CPU %"]
    header += [kind.costTitle, "x 1 worker", "errors"]
    lines = [
        f"### {scenario.id}: {scenario.title}"
        + ("" if conns == scenario.conns else f" (here with {conns} connections)"),
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 2) + "---|",
    ]
    for row in rows:
        if row.unavailable:
            continue
        if scenario.kind == "accept":
            cells = [
                formatFixed(row.median("conn_ok"))
                + "/"
                + formatFixed(row.median("conns")),
                row.rateRange(kind.rateKey),
                formatFixed(row.median("connect_s"), 3),
            ]
        else:
            cells = [
                row.rateRange(kind.rateKey),
                formatFixed(row.median("srv_cpu")),
                formatFixed(row.median("lg_cpu")),
            ]
        cells += [
            formatNumber(row.cost(kind)),
            formatFixed(ratio(row.median(kind.rateKey), base), 2),
            row.errorText(),
        ]
        lines.append("| " + " | ".join([row.server.title, *cells]) + " |")
    return "\n".join(lines)


def summaryTable(results: list[tuple[Scenario, list[Row]]]) -> str:
    """
    @return: the Markdown table of netlab's ratios to every peer.
    """
    lines = [
        "### Summary: netlab ÷ peer",
        "",
        "Cost is server CPU time per request (per delivered line for chat; memory "
        "per connection for idle): below 1 means netlab is cheaper. Rate is "
        "requests (or delivered lines) per second: above 1 means netlab is faster.",
        "",
        "| scenario | netlab | peer | cost ratio | rate ratio |",
        "|---|---|---|---:|---:|",
    ]
    for scenario, rows in results:
        kind = KINDS[scenario.kind]
        available = [r for r in rows if not r.unavailable and r.good()]
        for n in (r for r in available if r.server.isNetlab):
            for p in (r for r in available if not r.server.isNetlab):
                rateRatio = "-"
                if scenario.kind != "idle":
                    rateRatio = formatRatio(
                        ratio(n.median(kind.rateKey), p.median(kind.rateKey))
                    )
                costRatio = formatRatio(ratio(n.cost(kind), p.cost(kind)))
                lines.append(
                    f"| {scenario.id} | {n.server.title} | {p.server.title} "
                    f"| {costRatio} | {rateRatio} |"
                )
    return "\n".join(lines)


def reactorTable(results: list[tuple[Scenario, list[Row]]]) -> str:
    """
    @return: the Markdown table of each netlab service's cost on each
        reactor (with C{--reactors}), the cheapest marked; empty without.
    """
    lines = [
        "### Reactors: netlab's server cost on each",
        "",
        "Cost as above (lower is better), and its ratio to the cheapest "
        "reactor for that service; **bold** is the cheapest.",
        "",
        "| scenario | service | reactor | cost | ÷ cheapest | rate |",
        "|---|---|---|---:|---:|---:|",
    ]
    found = False
    for scenario, rows in results:
        kind = KINDS[scenario.kind]
        byService: dict[str, list[Row]] = {}
        for row in rows:
            if row.server.reactor and not row.unavailable and row.good():
                byService.setdefault(row.server.service, []).append(row)
        for service, serviceRows in byService.items():
            found = True
            cheapest = min(r.cost(kind) for r in serviceRows)
            for row in serviceRows:
                cost = row.cost(kind)
                name = row.server.reactor or ""
                if cost == cheapest:
                    name = f"**{name}**"
                rate = "-" if scenario.kind == "idle" else row.rateRange(kind.rateKey)
                lines.append(
                    f"| {scenario.id} | {service} | {name} | {formatFixed(cost, 2)} "
                    f"| {formatRatio(ratio(cost, cheapest))} | {rate} |"
                )
    return "\n".join(lines) if found else ""


# Running


def progress(message: str) -> None:
    """
    Tell what is going on, on standard error.
    """
    print(message, file=sys.stderr, flush=True)


def describeRun(m: Measurement, kind: Kind) -> str:
    """
    @return: one measurement in a few words, for the progress lines.
    """
    if m.failure:
        return f"FAILED: {m.failure}"
    return (
        f"{formatNumber(m.number(kind.rateKey))} {kind.rateKey}, "
        f"srv CPU {m.number('srv_cpu'):.0f}%, {kind.costTitle} "
        f"{formatNumber(kind.cost(m))}, errors {m.errorCounts}"
    )


def cpuModel() -> str:
    """
    @return: the processor's model name, as Linux tells it, or the machine
        type.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def machineDescription(settings: Settings, rounds: int) -> str:
    """
    @return: the Markdown lines about the machine and the method.
    """
    try:
        twisted = importlib.metadata.version("twisted")
    except importlib.metadata.PackageNotFoundError:
        twisted = "?"
    uvloop = "not installed"
    if importlib.util.find_spec("uvloop") is not None:
        try:
            uvloop = importlib.metadata.version("uvloop")
        except importlib.metadata.PackageNotFoundError:
            uvloop = "installed"
    if settings.serverCpu is None:
        pinning = "not pinned"
    else:
        pinning = (
            f"server pinned to CPU {settings.serverCpu} (with --workers, to "
            f"CPUs {sorted(settings.serverCpus or ())}), "
            f"load generator to CPU {settings.loadgenCpu}"
        )
    return "\n".join(
        [
            "## netlab benchmarks",
            "",
            f"- Machine: {os.cpu_count()} CPUs, {cpuModel()}, "
            f"{platform.system()} {platform.release()}",
            f"- Python {platform.python_version()}, Twisted {twisted}, uvloop {uvloop}",
            f"- {pinning}; loopback only; {rounds} round(s) of "
            f"{settings.warmup:g} s warm-up + {settings.duration:g} s measured, "
            "a fresh server per measurement, servers interleaved within a round; "
            "each cell is the median over the rounds.",
        ]
    )


def chooseCpus(pin: bool) -> tuple[int | None, int | None]:
    """
    @return: the CPU for the servers and the CPU for the load generator, or
        L{None}s when not pinning (asked not to, or fewer than two CPUs).
    """
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return cpus[-1], cpus[0]


def parseArguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark netlab's services against peers (Twisted's "
        "wire.Echo, asyncio, uvloop if installed, naive Twisted servers) "
        "with a C load generator on loopback. See benchmarks/README.rst.",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of every scenario (3)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=5.0,
        help="measured seconds per run (5; idle holds its connections 2 s)",
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="unmeasured seconds first (1)"
    )
    parser.add_argument(
        "--scenarios",
        default="",
        help="comma-separated scenario ids (default: all): "
        + ", ".join(s.id for s in SCENARIOS),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1 round, 2 s, 0.5 s warm-up, fewer connections",
    )
    parser.add_argument(
        "--reactors",
        default="",
        help="also measure netlab on each of these twistd reactors, "
        "comma-separated, or 'all' for " + ",".join(REACTORS) + " (uvloop "
        "if installed); each scenario then runs every netlab server on each",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server and the load generator to CPUs",
    )
    parser.add_argument(
        "--output", type=Path, help="also write the tables and raw RESULT lines here"
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=HERE / "build",
        help="where to build the load generator and keep server logs "
        "(benchmarks/build)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 1
        args.duration = min(args.duration, 2.0)
        args.warmup = min(args.warmup, 0.5)
    if args.rounds < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--rounds and --duration must be positive")
    known = {s.id: s for s in SCENARIOS}
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in known]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    args.scenarioList = [known[s] for s in wanted] if wanted else SCENARIOS
    reactors = REACTORS if args.reactors == "all" else args.reactors.split(",")
    reactors = tuple(r.strip() for r in reactors if r.strip())
    if reactors:
        args.scenarioList = [withReactors(s, reactors) for s in args.scenarioList]
    return args


def runScenario(
    settings: Settings, scenario: Scenario, rounds: int, rawOutput: list[str]
) -> list[Row]:
    """
    Measure every server of C{scenario}, C{rounds} times, interleaved.

    @return: a row per server.
    """
    kind = KINDS[scenario.kind]
    rows = [Row(SERVERS[key]) for key in scenario.servers]
    for row in rows:
        module = row.server.requires
        if module is not None and importlib.util.find_spec(module) is None:
            row.unavailable = True
            progress(f"[{scenario.id}] {row.server.title}: skipped, {module} missing")
    for roundNumber in range(1, rounds + 1):
        for row in rows:
            if row.unavailable:
                continue
            where = f"[{scenario.id} round {roundNumber}/{rounds}] {row.server.title}"
            try:
                m = measure(settings, scenario, row.server)
            except ServerUnavailable:
                row.unavailable = True
                progress(f"{where}: skipped, cannot run here")
                continue
            row.runs.append(m)
            if m.line:
                rawOutput.append(m.line)
            progress(f"{where}: {describeRun(m, kind)}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parseArguments(argv)
    started = time.monotonic()
    serverCpu, loadgenCpu = chooseCpus(not args.no_pin)
    loadgen = buildLoadgen(args.build_dir)
    settings = Settings(
        loadgen=loadgen,
        logDir=args.build_dir / "logs",
        duration=args.duration,
        warmup=args.warmup,
        quick=args.quick,
        serverCpu=serverCpu,
        loadgenCpu=loadgenCpu,
        serverCpus=(
            None if loadgenCpu is None else set(os.sched_getaffinity(0)) - {loadgenCpu}
        ),
    )
    _, hardFiles = resource.getrlimit(resource.RLIMIT_NOFILE)
    if any(s.id == "idle-10k" for s in args.scenarioList) and hardFiles < 10100:
        progress(f"warning: open-file limit {hardFiles} is too low for idle-10k")

    report: list[str] = [machineDescription(settings, args.rounds)]
    print(report[0] + "\n", flush=True)
    raw: list[str] = []
    results: list[tuple[Scenario, list[Row]]] = []
    for scenario in args.scenarioList:
        rows = runScenario(settings, scenario, args.rounds, raw)
        results.append((scenario, rows))
        conns = scenario.quickConns if args.quick else scenario.conns
        table = scenarioTable(scenario, rows, conns)
        report.append(table)
        print(table + "\n", flush=True)
    summary = summaryTable(results)
    reactors = reactorTable(results)
    if reactors:
        summary += "\n\n" + reactors
    report.append(summary)
    elapsed = time.monotonic() - started
    report.append(f"Took {elapsed:.0f} s.")
    print(summary + "\n", flush=True)
    print(report[-1], flush=True)

    if args.output is not None:
        text = "\n\n".join(report)
        text += "\n\n### Raw results\n\n```\n" + "\n".join(raw) + "\n```\n"
        args.output.write_text(text, encoding="utf-8")

    badNetlab = [
        f"{scenario.id}@{row.server.key}"
        for scenario, rows in results
        for row in rows
        if row.server.isNetlab and (not row.runs or any(m.bad for m in row.runs))
    ]
    if badNetlab:
        print(
            "netlab runs failed or reported errors: " + ", ".join(badNetlab),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
