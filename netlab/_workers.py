"""
C{--workers N}: one parent process that binds every endpoint and accepts
every connection, and N worker processes that serve them.

The parent (L{ParentRole}) binds each C{--listen} endpoint once, accepts
connections through the service's L{netlab.policies.ConnectionGuard} (so
C{--max-connections} and C{--max-per-source} hold for the service as a
whole, and refused connections are told why by the parent, over TLS for a
TLS endpoint), and hands each admitted connection to the worker with the
fewest open connections over a UNIX socket, as a file descriptor
(C{SCM_RIGHTS}).  Each worker (L{netlab._worker.WorkerRole}) builds the
same services from the same command line, adopts the connections it is
given (doing TLS itself) and says when each has closed, so the parent's
counts stay exact.  UDP services share one socket that the parent binds
and every worker inherits.

L{WorkerSupervisor} starts the workers, restarts one that dies (with a
growing delay; one that keeps dying before it is ready ends the service),
forwards their log events into the parent's log, and drains them on
SIGTERM.  Nothing here names a service.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import signal
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.error import ConnectionDone, ProcessExitedAlready
from twisted.internet.interfaces import (
    IProtocolFactory,
    IReactorTime,
)
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.logger import (
    InvalidLogLevelError,
    Logger,
    LogLevel,
    globalLogPublisher,
)
from twisted.protocols.basic import LineOnlyReceiver
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer

from netlab._ratelog import RateLimitedLog
from netlab._service import _reason
from netlab.errors import StartupError
from netlab.policies import ConnectionGuard, GuardedConnection, _Refused

__all__ = [
    "AUTO",
    "ParentRole",
    "WorkerSupervisor",
    "WorkersMetrics",
    "parseWorkers",
    "usableCPUs",
]

_log = Logger()

AUTO = "auto"
"""
C{--workers auto}: one worker per CPU this process may use.
"""

RESTART_DELAY = 0.5
"""
Seconds before a worker that died is started again, the first time.
"""

MAX_RESTART_DELAY = 30.0
"""
The longest wait before a restart: the delay doubles with each quick death.
"""

STABLE_AFTER = 10.0
"""
Seconds a worker must have run for its death not to count as a quick one
(the restart delay starts again from L{RESTART_DELAY}).
"""

GIVE_UP_AFTER = 5
"""
Deaths in a row before it was ready after which a worker is not restarted
and the service ends, exit status 1.
"""

READY_TIMEOUT = 60.0
"""
Seconds a worker may take to be ready before it is killed (and restarted).
"""

CUT_AFTER = 3.0
"""
Seconds past C{--grace} that draining workers get before they are told to
cut every connection (a second SIGTERM).
"""

KILL_AFTER = 3.0
"""
Seconds after that before a worker still running is killed (SIGKILL).
"""

PENDING_TIMEOUT = 10.0
"""
Seconds an accepted connection may wait for a worker to be ready (every
worker restarting) before it is closed.
"""

SCRAPE_TIMEOUT = 5.0
"""
Seconds a worker may take to send its counters for C{--metrics}.
"""

CONTROL_FD = 3
"""
The file descriptor of a worker's end of its UNIX socket to the parent.
"""

MAX_MESSAGE = 64 * 1024 * 1024
"""
The longest message on a control socket, in bytes (a worker's metrics).
"""


def parseWorkers(value: str) -> int | str:
    """
    Parse C{--workers}: a whole number of at least 1, or C{auto}.

    @raise ValueError: otherwise.
    """
    if value.strip().lower() == AUTO:
        return AUTO
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{value!r} is not a number of workers (1 or more, or auto)")
    return count


def _readText(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def usableCPUs(
    affinity: Callable[[], Iterable[int]] | None = None,
    read: Callable[[str], str | None] = _readText,
) -> int:
    """
    How many CPUs this process may use: those its affinity allows
    (C{os.sched_getaffinity}), fewer if its cgroup has a CPU quota
    (cgroup v2 C{cpu.max}, or v1 C{cpu.cfs_quota_us} over
    C{cpu.cfs_period_us}), rounded up; at least 1.

    @param affinity: gives the CPUs allowed; C{os.sched_getaffinity(0)} if
        C{None}, or C{os.cpu_count()} where there is no such call.
    @param read: reads a file of the cgroup file system, C{None} if it
        cannot.
    """
    if affinity is not None:
        count = len(list(affinity()))
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - not on Linux
        count = os.cpu_count() or 1
    quota = _cgroupQuota(read)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def _cgroupQuota(read: Callable[[str], str | None]) -> float | None:
    """
    @return: the CPUs this process's cgroup may use, or C{None} for no
        quota: the smallest quota of its cgroup and of every cgroup above
        it (systemd sets C{CPUQuota=} on the unit's cgroup, which a process
        in a child cgroup is held to as well), cgroup v2 or v1.
    """
    own = read("/proc/self/cgroup") or ""
    v2Path = v1Path = "/"
    for line in own.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and not controllers:
            v2Path = path.strip() or "/"
        elif "cpu" in controllers.split(","):
            v1Path = path.strip() or "/"
    quotas = [
        quota
        for directory in _upwards("/sys/fs/cgroup", v2Path)
        if (quota := _v2Quota(read(directory + "/cpu.max"))) is not None
    ]
    if not quotas:
        quotas = [
            quota
            for directory in _upwards("/sys/fs/cgroup/cpu", v1Path)
            if (
                quota := _v1Quota(
                    read(directory + "/cpu.cfs_quota_us"),
                    read(directory + "/cpu.cfs_period_us"),
                )
            )
            is not None
        ]
    return min(quotas, default=None)


def _upwards(mount: str, path: str) -> list[str]:
    """
    @return: the directory of the cgroup C{path} under C{mount}, and of each
        cgroup above it, up to C{mount} itself.
    """
    parts = [part for part in path.split("/") if part and part != ".."]
    return ["/".join([mount, *parts[:depth]]) for depth in range(len(parts), -1, -1)]


def _v2Quota(content: str | None) -> float | None:
    parts = (content or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        return int(parts[0]) / int(parts[1])
    except (ValueError, ZeroDivisionError):
        return None


def _v1Quota(quota: str | None, period: str | None) -> float | None:
    try:
        if quota is not None and period is not None and int(quota) > 0:
            return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        pass
    return None


# The control channel: one JSON object a line.


def _message(**fields: Any) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode("utf-8")


class _Control(LineOnlyReceiver):
    """
    One end of a control socket: JSON objects, one a line, handed to
    C{received}.
    """

    delimiter = b"\n"
    MAX_LENGTH = MAX_MESSAGE

    def __init__(self, received: Callable[[dict[str, Any]], None]) -> None:
        self._received = received
        self.lost: Callable[[], None] = lambda: None

    def send(self, **fields: Any) -> None:
        self.sendLine(_message(**fields))

    def lineReceived(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            _log.warn("a control message that is not JSON: {line!r}", line=line[:80])
            return
        if isinstance(message, dict):
            self._received(message)

    def connectionLost(self, reason: Failure | None = None) -> None:  # type: ignore[override]
        self.lost()


# The parent's side.


@attrs.define(eq=False)
class _Worker:
    """
    What the supervisor knows of one worker.

    @ivar index: its number, from 1.
    @ivar open: the connections it serves, by their id.
    @ivar unacknowledged: those it has not yet said it took; the parent
        still holds their sockets, and hands them to another worker if
        this one dies first.
    """

    index: int
    process: Any = None
    control: _Control | None = None
    pid: int = 0
    ready: bool = False
    draining: bool = False
    """
    Whether it said it is stopping on its own: still ready for the
    parent's messages, but handed no new connections.
    """
    started: float = 0.0
    quickDeaths: int = 0
    deathsBeforeReady: int = 0
    open: dict[int, _HandedOver] = attrs.Factory(dict)
    unacknowledged: set[int] = attrs.Factory(set)
    ended: Deferred[None] | None = None
    readyCall: Any = None
    scrapes: dict[int, Deferred[str]] = attrs.Factory(dict)


def _logRecord(line: bytes) -> dict[str, Any] | None:
    """
    @return: the log event a worker wrote as C{line} (see
        L{netlab._worker.logRecords}), or C{None} if it is not one.
    """
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("netlab_text"), str):
        return None
    try:
        level = LogLevel.levelWithName(str(record.get("log_level")))
    except InvalidLogLevelError:
        level = LogLevel.info
    time = record.get("log_time")
    record.update(
        log_level=level,
        log_format="{netlab_text}",
        log_time=time if isinstance(time, (int, float)) else None,
    )
    return record


class _WorkerProcess(ProcessProtocol):
    """
    A worker process as the parent sees it: its log events (JSON lines on
    its standard output) and anything it writes on standard error go into
    the parent's log, marked with the worker's number.
    """

    def __init__(self, supervisor: WorkerSupervisor, worker: _Worker) -> None:
        self.supervisor = supervisor
        self.worker = worker
        self._buffers: dict[int, bytes] = {1: b"", 2: b""}

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        buffered = self._buffers.get(childFD, b"") + data
        *lines, rest = buffered.split(b"\n")
        self._buffers[childFD] = rest
        for line in lines:
            self._line(childFD, line)

    def _line(self, childFD: int, line: bytes) -> None:
        line = line.strip(b"\x1e\r ")
        if not line:
            return
        worker = self.worker
        if childFD == 1:
            event = _logRecord(line)
            if event is not None:
                event["log_system"] = f"worker {worker.index}"
                event["netlab_worker"] = worker.index
                event["netlab_worker_pid"] = worker.pid
                globalLogPublisher(event)
                return
        _log.warn(
            "worker {worker} (pid {pid}): {line}",
            worker=worker.index,
            pid=worker.pid,
            line=line.decode("utf-8", "replace"),
        )

    def processEnded(self, reason: Failure) -> None:
        for childFD, rest in self._buffers.items():
            if rest:
                self._line(childFD, rest)
        self._buffers = {1: b"", 2: b""}
        self.supervisor._ended(self.worker, reason)


@implementer(IProtocolFactory)
class _OneProtocol(Factory):
    """
    Builds the one protocol it was given.
    """

    def __init__(self, protocol: Protocol) -> None:
        self._protocol = protocol

    def buildProtocol(self, addr: Any) -> Protocol:
        return self._protocol


WORKER_MAIN = (
    "import sys; sys.path[:] = [entry for entry in sys.path if entry]; "
    "from netlab._worker import main; sys.exit(main())"
)
"""
What a worker's Python runs: L{netlab._worker.main}, imported as the module
it is (not run as C{__main__}, which would make a second copy of it), from
the parent's import path (see L{workerEnvironment}) without the current
directory that C{-c} puts first.
"""


def workerCommand(spec: dict[str, Any]) -> list[str]:
    """
    @return: the command line of a worker, told C{spec}.
    """
    return [sys.executable, "-c", WORKER_MAIN, json.dumps(spec)]


def workerEnvironment(
    environ: dict[str, str] | None = None, path: Sequence[str] | None = None
) -> dict[str, str]:
    """
    The environment of a worker: the parent's, without systemd's sockets
    (the parent has them), with the parent's import path, so that a worker
    runs the netlab the parent runs whatever directory it starts in (Python
    puts the current directory first on the path of C{-c}).

    @param environ: the parent's environment; C{os.environ} if C{None}.
    @param path: the parent's import path; C{sys.path} if C{None}.
    """
    environ = dict(os.environ if environ is None else environ)
    path = sys.path if path is None else path
    environment = {
        key: value for key, value in environ.items() if not key.startswith("LISTEN_")
    }
    environment["PYTHONPATH"] = os.pathsep.join(
        os.path.abspath(entry) if entry else os.getcwd() for entry in path
    )
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def launchWorker(
    reactor: Any,
    process: _WorkerProcess,
    control: _Control,
    spec: dict[str, Any],
    inherited: Sequence[int],
) -> Any:
    """
    Start a worker process (L{workerCommand}), with its
    control socket as file descriptor L{CONTROL_FD} and the sockets in
    C{inherited} after it.

    @return: the process transport.
    """
    parentEnd, childEnd = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        childFDs: dict[int, Any] = {
            0: "w",
            1: "r",
            2: "r",
            CONTROL_FD: childEnd.fileno(),
        }
        for offset, fd in enumerate(inherited):
            childFDs[CONTROL_FD + 1 + offset] = fd
        transport = reactor.spawnProcess(
            process,
            sys.executable,
            workerCommand(spec),
            env=workerEnvironment(),
            childFDs=childFDs,
        )
        reactor.adoptStreamConnection(
            parentEnd.fileno(), socket.AF_UNIX, _OneProtocol(control)
        )
    finally:
        parentEnd.close()
        childEnd.close()
    return transport


_UID_AT_IMPORT = os.getuid()


def _whyPythonCannotRun() -> str | None:
    """
    @return: why this process cannot run its Python interpreter (which
        every worker is) as the user and group it now has (twistd's
        C{--uid} and C{--gid} change them after the parent has bound its
        ports), or C{None} if it can.
    """
    if os.access(
        sys.executable, os.X_OK, effective_ids=os.access in os.supports_effective_ids
    ):
        return None
    shed = " (--uid, --gid)" if os.geteuid() != _UID_AT_IMPORT else ""
    return (
        f"this process runs as user {os.geteuid()} and group {os.getegid()}"
        f"{shed}, which may not run {sys.executable}: install Python and "
        "netlab where that user may run and read them"
    )


Launcher = Callable[[_WorkerProcess, _Control, dict[str, Any], Sequence[int]], Any]
"""
Starts a worker: given its process protocol, the parent's end of its
control channel (to connect), what to tell it and the file descriptors it
inherits; returns its process transport.
"""


@attrs.define(eq=False)
class _HandedOver:
    """
    A connection the parent accepted, being or been handed to a worker.
    """

    id: int
    listener: int
    protocol: _HandOver
    worker: _Worker | None = None
    expiry: Any = None


class WorkerSupervisor(Service):
    """
    Starts C{count} workers and keeps them running; hands them the
    connections the parent accepts; drains them when the service stops.

    @ivar restarts: how many times a worker was started again.
    @ivar exitStatus: 1 once it has given up on a worker.
    """

    def __init__(
        self,
        reactor: Any,
        count: int,
        arguments: list[str],
        program: str,
        grace: float,
        launch: Launcher | None = None,
        clock: IReactorTime | None = None,
        exit: Callable[[int], None] | None = None,
    ) -> None:
        """
        @param reactor: the reactor workers are spawned with.
        @param count: how many workers.
        @param arguments: the command line of the services (after
            C{netlab}), which each worker builds again.
        @param program: how errors name the program, e.g. C{netlab echo}.
        @param grace: the longest C{--grace} of the services.
        @param launch: starts a worker; L{launchWorker} if C{None}.
        @param clock: times restarts and deadlines; C{reactor} if C{None}.
        @param exit: given the exit status once the process has stopped
            after giving up on a worker; by default the process then ends
            with that status.
        """
        self.reactor = reactor
        self.count = count
        self.arguments = arguments
        self.program = program
        self.grace = grace
        self.clock: IReactorTime = clock if clock is not None else reactor
        self._launch = launch or (
            lambda process, control, spec, fds: launchWorker(
                reactor, process, control, spec, fds
            )
        )
        self._exit = exit if exit is not None else _exitAtEnd
        self.workers = [_Worker(index) for index in range(1, count + 1)]
        self.restarts = 0
        self.exitStatus = 0
        self.ports: dict[Any, int] = {}
        self.datagrams: list[tuple[int, socket.socket]] = []
        self._pending: deque[_HandedOver] = deque()
        self._nextId = 0
        self._nextScrape = 0
        self._turn = 0
        self._restartCalls: dict[int, Any] = {}
        self._draining = False
        self._drained: Deferred[None] | None = None
        self._deadlines: list[Any] = []
        self._waitLog = RateLimitedLog(_log, self.clock)
        self.reactorStop: Callable[[], None] = lambda: _stopReactor(reactor)
        self.preflight: Callable[[], str | None] = (
            _whyPythonCannotRun if launch is None else lambda: None
        )
        """
        Says, before any worker starts, why none could (as the user twistd's
        C{--uid} and C{--gid} made the parent), or C{None}.
        """

    def __repr__(self) -> str:
        return f"<workers of {self.program}>"

    # Starting and restarting

    def startService(self) -> None:
        why = self.preflight()
        if why is not None:
            raise StartupError(f"cannot start the workers: {why}")
        super().startService()
        for worker in self.workers:
            self._start(worker)

    def stopService(self) -> None:
        # No more restarts; the drain (which runs after the listeners have
        # stopped) stops the workers.
        super().stopService()
        for call in self._restartCalls.values():
            if call.active():
                call.cancel()
        self._restartCalls.clear()

    def _start(self, worker: _Worker) -> None:
        worker.ready = worker.draining = False
        worker.started = self.clock.seconds()
        worker.ended = Deferred()
        control = _Control(lambda message: self._received(worker, message))
        control.lost = lambda: self._controlLost(worker)
        worker.control = control
        spec = {
            "arguments": self.arguments,
            "worker": worker.index,
            "workers": self.count,
            "reactor": type(self.reactor).__module__,
            "datagrams": [
                [key, CONTROL_FD + 1 + offset, sock.family]
                for offset, (key, sock) in enumerate(self.datagrams)
            ],
        }
        inherited = [sock.fileno() for _, sock in self.datagrams]
        process = _WorkerProcess(self, worker)
        try:
            worker.process = self._launch(process, control, spec, inherited)
        except Exception as e:
            if isinstance(e, OSError):
                what = (e.strerror or str(e)).lower()
                if e.filename is not None:
                    what += f": {e.filename}"
                how = f"it could not be started: {what}"
            else:
                _log.failure("starting worker {worker}", worker=worker.index)
                how = "it could not be started"
            worker.process = None
            worker.pid = 0
            worker.deathsBeforeReady += 1
            self._died(worker, how)
            return
        worker.pid = getattr(worker.process, "pid", 0) or 0
        worker.readyCall = self.clock.callLater(READY_TIMEOUT, self._notReady, worker)
        _log.info(
            "worker {worker} started (pid {pid})", worker=worker.index, pid=worker.pid
        )

    def _notReady(self, worker: _Worker) -> None:
        worker.readyCall = None
        _log.warn(
            "worker {worker} (pid {pid}) was not ready within {timeout:g}s: killing it",
            worker=worker.index,
            pid=worker.pid,
            timeout=READY_TIMEOUT,
        )
        self._signal(worker, "KILL")

    def _received(self, worker: _Worker, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "ready":
            worker.ready = True
            worker.deathsBeforeReady = 0
            if worker.readyCall is not None and worker.readyCall.active():
                worker.readyCall.cancel()
            worker.readyCall = None
            _log.info(
                "worker {worker} (pid {pid}) is ready",
                worker=worker.index,
                pid=worker.pid,
            )
            if self._draining:
                self._signal(worker, "TERM")
            else:
                self._dispatchPending()
        elif op == "draining":
            # Stopping on its own (a SIGTERM of its own, say): it takes no
            # new connections, so it is handed none; it is restarted once
            # it has drained and ended.
            if not worker.draining:
                _log.info(
                    "worker {worker} (pid {pid}) is draining: new connections "
                    "go to the others",
                    worker=worker.index,
                    pid=worker.pid,
                )
            worker.draining = True
        elif op == "returned":
            # Handed over as it began to drain: another worker takes it.
            handed = worker.open.pop(message.get("id"), None)  # type: ignore[arg-type]
            if handed is not None:
                worker.unacknowledged.discard(handed.id)
                if self._draining:
                    handed.protocol.release()
                else:
                    handed.worker = None
                    self._pending.appendleft(handed)
                    self._dispatchPending()
                    self._startWaiting()
        elif op == "took":
            self._took(worker, message.get("id"))
        elif op == "closed":
            handed = worker.open.pop(message.get("id"), None)  # type: ignore[arg-type]
            if handed is not None:
                worker.unacknowledged.discard(handed.id)
                handed.protocol.release()
        elif op == "metrics":
            waiting = worker.scrapes.pop(message.get("id"), None)  # type: ignore[arg-type]
            if waiting is not None:
                waiting.callback(str(message.get("text", "")))

    def _controlLost(self, worker: _Worker) -> None:
        # The worker's end closed: it is ending (or its socket was cut);
        # its processEnded follows.  Nothing more can be sent to it.
        worker.ready = False

    def _ended(self, worker: _Worker, reason: Failure) -> None:
        status = getattr(reason.value, "exitCode", None)
        signalNumber = getattr(reason.value, "signal", None)
        if worker.readyCall is not None and worker.readyCall.active():
            worker.readyCall.cancel()
        worker.readyCall = None
        wasReady = worker.ready
        worker.ready = False
        worker.process = None
        for waiting in worker.scrapes.values():
            waiting.errback(Failure(ConnectionDone("the worker ended")))
        worker.scrapes.clear()
        # Its connections: those it took are gone with it; those it had
        # not yet taken go to another worker.
        for handed in list(worker.open.values()):
            if handed.id in worker.unacknowledged and not self._draining:
                handed.worker = None
                self._pending.append(handed)
            else:
                handed.protocol.release()
        worker.open.clear()
        worker.unacknowledged.clear()
        ended, worker.ended = worker.ended, None
        if signalNumber is not None:
            how = f"killed by {_signalName(signalNumber)}"
        else:
            how = f"exit status {status}"
        if self._draining or not self.running:
            _log.info(
                "worker {worker} (pid {pid}) stopped ({how})",
                worker=worker.index,
                pid=worker.pid,
                how=how,
            )
        else:
            if not wasReady:
                worker.deathsBeforeReady += 1
            self._died(worker, how)
        if ended is not None:
            ended.callback(None)
        self._dispatchPending()
        self._startWaiting()
        self._checkDrained()

    def _died(self, worker: _Worker, how: str) -> None:
        if worker.deathsBeforeReady >= GIVE_UP_AFTER:
            self._giveUp(
                f"worker {worker.index} ended {worker.deathsBeforeReady} times in "
                f"a row before it was ready (last: {how}); its log lines above "
                "say why"
            )
            return
        lived = self.clock.seconds() - worker.started
        if lived < STABLE_AFTER:
            worker.quickDeaths += 1
        else:
            worker.quickDeaths = 1
        delay = min(RESTART_DELAY * 2 ** (worker.quickDeaths - 1), MAX_RESTART_DELAY)
        _log.warn(
            "worker {worker} (pid {pid}) ended unexpectedly ({how}) after "
            "{lived:.1f}s: restarting it in {delay:g}s",
            worker=worker.index,
            pid=worker.pid,
            how=how,
            lived=lived,
            delay=delay,
        )
        self._restartCalls[worker.index] = self.clock.callLater(
            delay, self._restart, worker
        )

    def _restart(self, worker: _Worker) -> None:
        self._restartCalls.pop(worker.index, None)
        if self._draining or not self.running:
            return
        self.restarts += 1
        self._start(worker)

    def _giveUp(self, why: str) -> None:
        _log.critical("{program}: error: {why}", program=self.program, why=why)
        self.exitStatus = 1
        self._exit(1)
        self.reactorStop()

    # Handing connections over

    def handOver(self, protocol: _HandOver) -> None:
        """
        Hand an accepted connection to the worker with the fewest open
        connections (or keep it until one is ready).
        """
        if self._draining:
            protocol.release()
            return
        self._nextId += 1
        handed = _HandedOver(self._nextId, protocol.listener(self.ports), protocol)
        protocol.handed = handed
        self._pending.append(handed)
        self._dispatchPending()
        self._startWaiting()

    def _startWaiting(self) -> None:
        """
        Give every connection left waiting for a worker its deadline.
        """
        for handed in self._pending:
            if handed.expiry is None:
                handed.expiry = self.clock.callLater(
                    PENDING_TIMEOUT, self._expire, handed
                )

    def _expire(self, handed: _HandedOver) -> None:
        handed.expiry = None
        try:
            self._pending.remove(handed)
        except ValueError:
            return
        self._waitLog.warn(
            "no worker was ready for {timeout:g}s: closed a connection that "
            "waited for one",
            timeout=PENDING_TIMEOUT,
        )
        handed.protocol.release()

    def _dispatchPending(self) -> None:
        while self._pending:
            worker = self._leastLoaded()
            if worker is None:
                return
            self._send(worker, self._pending.popleft())

    def _leastLoaded(self) -> _Worker | None:
        ready = [w for w in self.workers if w.ready and not w.draining]
        if not ready:
            return None
        self._turn = (self._turn + 1) % len(ready)
        turned = ready[self._turn :] + ready[: self._turn]
        return min(turned, key=lambda worker: len(worker.open))

    def _send(self, worker: _Worker, handed: _HandedOver) -> None:
        control = worker.control
        assert control is not None and control.transport is not None
        fd, family = handed.protocol.socketOf()
        if fd < 0:
            handed.protocol.release()
            return
        if handed.expiry is not None:
            if handed.expiry.active():
                handed.expiry.cancel()
            handed.expiry = None
        handed.worker = worker
        worker.open[handed.id] = handed
        worker.unacknowledged.add(handed.id)
        transport: Any = control.transport
        transport.sendFileDescriptor(fd)
        control.send(
            op="connection", id=handed.id, listener=handed.listener, family=family
        )

    def _took(self, worker: _Worker, id: Any) -> None:
        handed = worker.open.get(id)
        if handed is not None and id in worker.unacknowledged:
            worker.unacknowledged.discard(id)
            handed.protocol.handedOver()

    # Stopping

    def drain(self, grace: float, reason: str) -> Deferred[None]:
        """
        Stop every worker gracefully: each is sent SIGTERM and drains its
        connections with its C{--grace}, as a single process does; one still
        running L{CUT_AFTER} seconds past C{grace} is sent SIGTERM again
        (which cuts its connections), and L{KILL_AFTER} seconds after that,
        SIGKILL.

        @return: a Deferred that fires once every worker has ended.
        """
        self._draining = True
        pending, self._pending = self._pending, deque()
        for handed in pending:
            if handed.expiry is not None and handed.expiry.active():
                handed.expiry.cancel()
            handed.protocol.release()
        alive = [w.ended for w in self.workers if w.ended is not None]
        for worker in self.workers:
            if worker.process is not None:
                self._tell(worker, "stop")
        if not alive:
            return succeed(None)
        self._drained = Deferred()
        self._deadlines = [
            self.clock.callLater(self.grace + CUT_AFTER, self.abortAll),
            self.clock.callLater(
                self.grace + CUT_AFTER + KILL_AFTER, self._signalAll, "KILL"
            ),
        ]
        return self._drained

    def abortAll(self) -> None:
        """
        Tell every worker to cut its connections now (as a second SIGTERM
        does).
        """
        if not self._draining:
            self._draining = True
        for worker in self.workers:
            if worker.process is not None:
                self._tell(worker, "cut")

    def _tell(self, worker: _Worker, op: str) -> None:
        """
        Tell a worker to C{stop} (gracefully) or to C{cut} its connections:
        over its control channel once it is ready, which it cannot mistake
        for a signal sent to every process of the service at once; with
        SIGTERM before (it then ends at once).
        """
        control = worker.control
        if worker.ready and control is not None and control.transport is not None:
            control.send(op=op)
        else:
            self._signal(worker, "TERM")

    def _signalAll(self, name: str) -> None:
        for worker in self.workers:
            if worker.process is not None:
                if name == "KILL":
                    _log.warn(
                        "worker {worker} (pid {pid}) is still running: killing it",
                        worker=worker.index,
                        pid=worker.pid,
                    )
                self._signal(worker, name)

    def _signal(self, worker: _Worker, name: str) -> None:
        try:
            worker.process.signalProcess(name)
        except (ProcessExitedAlready, OSError, AttributeError):
            pass

    def _checkDrained(self) -> None:
        if self._drained is None or any(w.process is not None for w in self.workers):
            return
        for call in self._deadlines:
            if call.active():
                call.cancel()
        drained, self._drained = self._drained, None
        drained.callback(None)

    # What the metrics read

    def alive(self) -> int:
        """
        @return: how many workers are ready.
        """
        return sum(1 for worker in self.workers if worker.ready)

    def scrape(self) -> Deferred[list[tuple[_Worker, str]]]:
        """
        Ask every ready worker for its counters.

        @return: a Deferred of each worker that answered in time, with its
            counters in the Prometheus text format.
        """
        asked: list[tuple[_Worker, Deferred[str]]] = []
        for worker in self.workers:
            if not worker.ready or worker.control is None:
                continue
            self._nextScrape += 1
            waiting: Deferred[str] = Deferred()
            worker.scrapes[self._nextScrape] = waiting
            waiting.addTimeout(SCRAPE_TIMEOUT, self.clock)
            worker.control.send(op="metrics", id=self._nextScrape)
            asked.append((worker, waiting))

        def gathered(results: list[tuple[bool, Any]]) -> list[tuple[_Worker, str]]:
            return [
                (worker, text)
                for (worker, _), (ok, text) in zip(asked, results, strict=True)
                if ok
            ]

        return DeferredList([d for _, d in asked], consumeErrors=True).addCallback(
            gathered
        )


def _signalName(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _stopReactor(reactor: Any) -> None:
    if getattr(reactor, "running", False):
        try:
            reactor.stop()
        except Exception:
            pass


def _exitAtEnd(status: int) -> None:
    """
    Make the process end with C{status} once twistd (or twist) is done:
    they end with 0 whenever the reactor stops.
    """

    def leave() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)

    atexit.register(leave)


class _HandOver(Protocol):
    """
    The parent's protocol of an admitted connection (the guard wraps it,
    and counts it until the worker it was handed to says it has closed):
    it stops reading at once and hands the socket to a worker.
    """

    def __init__(self, supervisor: WorkerSupervisor) -> None:
        self.supervisor = supervisor
        self.handed: _HandedOver | None = None
        self._released = False

    def _socket(self) -> Any:
        guarded = self.transport
        return getattr(guarded, "transport", None)

    def connectionMade(self) -> None:
        raw = self._socket()
        raw.stopReading()
        raw.stopWriting()
        self.supervisor.handOver(self)

    def listener(self, ports: dict[Any, int]) -> int:
        return ports.get(getattr(self._socket(), "server", None), -1)

    def socketOf(self) -> tuple[int, int]:
        raw = self._socket()
        try:
            return raw.socket.fileno(), int(raw.socket.family)
        except (AttributeError, OSError):
            return -1, 0

    def handedOver(self) -> None:
        """
        The worker has its own copy: close the parent's, without shutting
        the connection down.
        """
        raw = self._socket()
        try:
            raw.socket.close()
        except (AttributeError, OSError):
            pass

    def release(self) -> None:
        """
        The connection has closed (or was never taken by a worker): close
        the parent's copy if it is still open, and let the guard forget it.
        """
        if self._released:
            return
        self._released = True
        self.handedOver()
        guarded = self.transport
        if isinstance(guarded, GuardedConnection):
            guarded.connectionLost(Failure(ConnectionDone()))

    def dataReceived(self, data: bytes) -> None:  # pragma: no cover - never reads
        pass


class _HandOverFactory(Factory):
    """
    What the parent's guard wraps: every admitted connection is handed to
    a worker.
    """

    noisy = False

    def __init__(self, supervisor: WorkerSupervisor) -> None:
        self.supervisor = supervisor

    def buildProtocol(self, addr: Any) -> Protocol:
        return _HandOver(self.supervisor)


class _GivenFactory(Factory):
    """
    Builds the protocol last given to it: the refusal a TLS factory wraps.
    """

    def __init__(self) -> None:
        self.next: Protocol | None = None

    def buildProtocol(self, addr: Any) -> Protocol | None:
        protocol, self.next = self.next, None
        return protocol


@implementer(IProtocolFactory)
class _PlainWithTLSRefusals:
    """
    The parent's factory for a TLS endpoint: it accepts plain TCP and hands
    admitted connections over untouched (the worker does the TLS), but
    writes refusals over TLS, as a single process does.
    """

    def __init__(self, listener: Any, tls: TLSMemoryBIOFactory) -> None:
        self._listener = listener
        self._given = _GivenFactory()
        tls.wrappedFactory = self._given
        self._tls = tls

    def buildProtocol(self, addr: Any) -> Protocol | None:
        protocol = self._listener.buildProtocol(addr)
        if isinstance(protocol, _Refused):
            self._given.next = protocol
            wrapped: Protocol | None = self._tls.buildProtocol(addr)
            return wrapped
        return protocol  # type: ignore[no-any-return]

    def doStart(self) -> None:
        self._listener.doStart()

    def doStop(self) -> None:
        self._listener.doStop()

    def logPrefix(self) -> str:
        return self._listener.logPrefix()  # type: ignore[no-any-return]


class _SharingReactor:
    """
    The reactor a parent's endpoint listens with: it binds as the endpoint
    asks, but accepts plain connections whatever the endpoint would wrap
    them in (TLS is the workers'), and knows which listener each port is.
    """

    def __init__(
        self, reactor: Any, key: int, ports: dict[Any, int], description: str
    ) -> None:
        self._reactor = reactor
        self._key = key
        self._ports = ports
        self._description = description

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def _plain(self, factory: Any) -> Any:
        if isinstance(factory, TLSMemoryBIOFactory) and not isinstance(
            factory.wrappedFactory, TLSMemoryBIOFactory
        ):
            return _PlainWithTLSRefusals(factory.wrappedFactory, factory)
        if isinstance(factory, _PlainWithTLSRefusals) or hasattr(factory, "guard"):
            return factory
        raise StartupError(
            f"{self._description} cannot be shared by workers: its connections "
            "are not plain or TLS; run it with --workers 1"
        )

    def _record(self, port: Any) -> Any:
        self._ports[port] = self._key
        return port

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> Any:
        plain = self._plain(factory)
        return self._record(self._reactor.listenTCP(port, plain, backlog, interface))

    def listenSSL(
        self,
        port: int,
        factory: Any,
        contextFactory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> Any:
        tls = TLSMemoryBIOFactory(contextFactory, False, factory)
        plain = self._plain(tls)
        return self._record(self._reactor.listenTCP(port, plain, backlog, interface))

    def listenUNIX(
        self,
        address: str,
        factory: Any,
        backlog: int = 50,
        mode: int = 0o666,
        wantPID: int = 0,
    ) -> Any:
        plain = self._plain(factory)
        return self._record(
            self._reactor.listenUNIX(address, plain, backlog, mode, wantPID)
        )

    def adoptStreamPort(
        self, fileDescriptor: int, addressFamily: Any, factory: Any
    ) -> Any:
        plain = self._plain(factory)
        return self._record(
            self._reactor.adoptStreamPort(fileDescriptor, addressFamily, plain)
        )


class _SharedDatagramSocket(Service):
    """
    The parent's UDP socket of a datagram service: bound before any worker
    starts (a problem with it is the parent's startup error), and
    inherited by every worker, which reads from it.
    """

    def __init__(
        self, supervisor: WorkerSupervisor, key: int, port: int, interface: str
    ) -> None:
        self.supervisor = supervisor
        self.key = key
        self.port = port
        self.interface = interface
        self.socket: socket.socket | None = None
        self.description = f"udp:{port}" + (
            f":interface={interface}" if interface else ""
        )

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._bind()

    def startService(self) -> None:
        super().startService()
        # twist starts services without privilegedStartService.
        self._bind()

    def _bind(self) -> None:
        if self.socket is not None:
            return
        family = socket.AF_INET6 if ":" in self.interface else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.interface, self.port))
        except OSError as e:
            sock.close()
            raise StartupError(
                f"cannot listen on {self.description}: {_reason(e)} "
                "(--udp-port, --udp-interface)"
            ) from None
        sock.setblocking(False)
        self.socket = sock
        self.supervisor.datagrams.append((self.key, sock))

    def stopService(self) -> None:
        super().stopService()
        if self.socket is not None:
            self.socket.close()
            self.socket = None


class _SupervisorReading:
    """
    The gauges of the workers for the parent's C{--metrics}.
    """

    def __init__(self, supervisor: WorkerSupervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterable[Metric]:
        supervisor = self.supervisor
        alive = GaugeMetricFamily("netlab_workers_alive", "Workers ready to serve.")
        alive.add_sample("netlab_workers_alive", {}, supervisor.alive())
        configured = GaugeMetricFamily(
            "netlab_workers", "Workers asked for (--workers)."
        )
        configured.add_sample("netlab_workers", {}, supervisor.count)
        restarts = CounterMetricFamily(
            "netlab_worker_restarts", "Times a worker that ended was started again."
        )
        restarts.add_sample("netlab_worker_restarts_total", {}, supervisor.restarts)
        info = GaugeMetricFamily(
            "netlab_worker_info", "One per worker running: its number and PID."
        )
        for worker in supervisor.workers:
            if worker.process is not None:
                info.add_sample(
                    "netlab_worker_info",
                    {"worker": str(worker.index), "pid": str(worker.pid)},
                    1,
                )
        return [alive, configured, restarts, info]


def _labelled(families: Iterable[Metric], worker: str, into: dict[str, Metric]) -> None:
    """
    Add the samples of C{families} to C{into}, by family name, each with a
    C{worker} label (unless it has one).
    """
    for family in families:
        merged = into.get(family.name)
        if merged is None:
            merged = into[family.name] = Metric(
                family.name, family.documentation, family.type, family.unit
            )
        for sample in family.samples:
            labels = dict(sample.labels)
            labels.setdefault("worker", worker)
            merged.samples.append(sample._replace(labels=labels))


class _Merged:
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> list[Metric]:
        return self._families


class WorkersMetrics(Resource):
    """
    C{GET /metrics} of a service with workers: the parent's own series
    (its guard's counts, which are the service's, its refusals, its
    workers) labelled C{worker="parent"}, and every worker's, labelled
    with its number.
    """

    isLeaf = True

    def __init__(self, registry: Any, supervisor: WorkerSupervisor) -> None:
        super().__init__()
        self._registry = registry
        self._supervisor = supervisor

    def render_GET(self, request: Request) -> Any:
        d = self._supervisor.scrape()

        def write(answers: list[tuple[_Worker, str]]) -> None:
            families: dict[str, Metric] = {}
            _labelled(self._registry.collect(), "parent", families)
            _labelled(
                _SupervisorReading(self._supervisor).collect(), "parent", families
            )
            for worker, text in answers:
                try:
                    parsed = list(text_string_to_metric_families(text))
                except Exception:
                    _log.failure(
                        "reading worker {worker}'s counters", worker=worker.index
                    )
                    continue
                _labelled(parsed, str(worker.index), families)
            body = generate_latest(_Merged(families.values()))  # type: ignore[arg-type]
            if request.finished or getattr(request, "_disconnected", False):
                return
            request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
            request.write(body)
            request.finish()

        d.addCallback(write)
        d.addErrback(lambda f: _log.failure("serving --metrics", f))
        return NOT_DONE_YET


@attrs.define
class ParentRole:
    """
    How L{netlab.tap.makeService} builds the parent of workers: its guards
    wrap L{_HandOver} and log no connections (the workers do), its
    listeners accept plain connections, its datagram sockets are shared,
    and nothing else of the services runs in it.

    @ivar services: the services the parent runs, in order.
    """

    supervisor: WorkerSupervisor
    services: list[Any] = attrs.Factory(list)
    _keys: int = 0
    _datagramKeys: int = 0

    def nextKey(self) -> int:
        self._keys += 1
        return self._keys

    def nextDatagramKey(self) -> int:
        self._datagramKeys += 1
        return self._datagramKeys

    def wrap(self, factory: Any) -> Any:
        return _HandOverFactory(self.supervisor)

    def guarded(self, guard: ConnectionGuard) -> ConnectionGuard:
        # The parent's connections never carry a byte here: the workers
        # time out idle ones (and log every connection).
        guard.logConnections = False
        guard.limits = attrs.evolve(guard.limits, idleTimeout=0)
        return guard

    def sharingReactor(self, reactor: Any, description: str) -> _SharingReactor:
        return _SharingReactor(
            reactor, self.nextKey(), self.supervisor.ports, description
        )

    def datagramSocket(self, port: int, interface: str) -> _SharedDatagramSocket:
        return _SharedDatagramSocket(
            self.supervisor, self.nextDatagramKey(), port, interface
        )
