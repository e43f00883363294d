"""
Tests for L{netlab._workers}: the supervisor of C{--workers} with fake
processes and a L{Clock} (restarts and their delays, giving up, handing
connections over, the drain and the signals it forwards), the worker's
side of the control channel, C{--workers} on the command line, and the
count of CPUs C{auto} uses.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from prometheus_client.core import CounterMetricFamily
from twisted.application.service import IService, MultiService
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import LogLevel, capturedLogs
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from netlab import _workers, tap
from netlab._lifecycle import DrainService, StopGracefullyOnSignals
from netlab._service import EndpointService
from netlab._worker import Ready, WorkerRole, _WorkerControl
from netlab._workers import (
    CUT_AFTER,
    GIVE_UP_AFTER,
    KILL_AFTER,
    MAX_RESTART_DELAY,
    PENDING_TIMEOUT,
    RESTART_DELAY,
    STABLE_AFTER,
    WorkerSupervisor,
    _labelled,
    _SharedDatagramSocket,
    _whyPythonCannotRun,
    parseWorkers,
    usableCPUs,
)
from netlab.errors import StartupError
from netlab.policies import ConnectionGuard
from netlab.service import ServiceOptions


class _FakeUNIXTransport(StringTransport):
    """
    A control socket's transport that keeps the file descriptors sent.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fds: list[int] = []

    def sendFileDescriptor(self, fd: int) -> None:
        self.fds.append(fd)


class _FakeProcess:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.signals: list[str] = []

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)


class _Launched:
    def __init__(self, process: Any, control: Any, spec: dict[str, Any]) -> None:
        self.process = process
        self.control = control
        self.spec = spec
        self.transport = _FakeUNIXTransport()
        control.makeConnection(self.transport)
        self.fake = _FakeProcess(1000 + len(spec))

    def say(self, **message: Any) -> None:
        self.control.dataReceived(json.dumps(message).encode() + b"\n")

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.transport.value().splitlines()]

    def end(self, status: int | None = 0, signalNumber: int | None = None) -> None:
        reason: Any = (
            ProcessDone(0) if status == 0 else ProcessTerminated(status, signalNumber)
        )
        self.process.processEnded(Failure(reason))


class _FakeConnection:
    """
    What the supervisor is handed: an accepted connection's protocol.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.handed: Any = None
        self.handedOverCalls = 0
        self.released = 0

    def listener(self, ports: dict[Any, int]) -> int:
        return 1

    def socketOf(self) -> tuple[int, int]:
        return self.fd, 2

    def handedOver(self) -> None:
        self.handedOverCalls += 1

    def release(self) -> None:
        self.released += 1


class SupervisorTests(SynchronousTestCase):
    """
    L{WorkerSupervisor} with fake processes.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.launched: list[_Launched] = []
        self.exits: list[int] = []
        self.stops = 0

        def launch(process: Any, control: Any, spec: Any, fds: Any) -> Any:
            launched = _Launched(process, control, spec)
            self.launched.append(launched)
            return launched.fake

        self.supervisor = WorkerSupervisor(
            self.clock,
            2,
            ["echo", "--workers", "2"],
            "netlab echo",
            grace=5.0,
            launch=launch,
            clock=self.clock,
            exit=self.exits.append,
        )

        def stop() -> None:
            self.stops += 1

        self.supervisor.reactorStop = stop

    def ready(self) -> None:
        self.supervisor.startService()
        for launched in self.launched:
            launched.say(op="ready", pid=launched.fake.pid)

    def test_startsEveryWorker(self) -> None:
        """
        Starting the supervisor starts each worker with the command line,
        its number and the number of workers.
        """
        self.supervisor.startService()
        self.assertEqual([w.spec["worker"] for w in self.launched], [1, 2])
        self.assertEqual(self.launched[0].spec["workers"], 2)
        self.assertEqual(self.launched[0].spec["arguments"], ["echo", "--workers", "2"])
        self.assertEqual(self.supervisor.alive(), 0)
        self.launched[0].say(op="ready", pid=1)
        self.assertEqual(self.supervisor.alive(), 1)

    def test_restartBackoff(self) -> None:
        """
        A worker that dies is started again after L{RESTART_DELAY} seconds,
        twice that if it dies again soon, and so on up to
        L{MAX_RESTART_DELAY}; each restart is counted and logged.
        """
        self.ready()
        delays = []
        with capturedLogs() as events:
            for _ in range(8):
                before = len(self.launched)
                self.launched[-2 if len(self.launched) == 2 else -1].end(
                    None, signal.SIGKILL
                )
                waited = 0.0
                while len(self.launched) == before:
                    self.clock.advance(0.25)
                    waited += 0.25
                delays.append(waited)
                # Ready again, so that it never counts as dying at startup.
                self.launched[-1].say(op="ready", pid=1)
        self.assertEqual(
            delays,
            [min(RESTART_DELAY * 2**n, MAX_RESTART_DELAY) for n in range(8)],
        )
        self.assertEqual(self.supervisor.restarts, 8)
        warnings = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertIn("killed by SIGKILL", warnings[0]["how"])
        self.assertEqual(self.exits, [])

    def test_stableWorkerRestartsAtOnce(self) -> None:
        """
        A worker that ran for L{STABLE_AFTER} seconds before it died is
        restarted after L{RESTART_DELAY} again.
        """
        self.ready()
        for _ in range(3):
            self.launched[0 if len(self.launched) == 2 else -1].end(1)
            self.clock.advance(MAX_RESTART_DELAY)
            self.launched[-1].say(op="ready", pid=1)
        self.clock.advance(STABLE_AFTER)
        before = len(self.launched)
        self.launched[-1].end(1)
        self.clock.advance(RESTART_DELAY)
        self.assertEqual(len(self.launched), before + 1)

    def test_givesUp(self) -> None:
        """
        A worker that ends L{GIVE_UP_AFTER} times in a row before it is
        ready is not started again: the service ends with one line, exit
        status 1.
        """
        self.supervisor.startService()
        self.launched[1].say(op="ready", pid=2)
        with capturedLogs() as events:
            current = self.launched[0]
            for _ in range(GIVE_UP_AFTER):
                current.end(1)
                self.clock.advance(MAX_RESTART_DELAY)
                current = self.launched[-1]
        critical = [e for e in events if e["log_level"] == LogLevel.critical]
        self.assertEqual(len(critical), 1)
        self.assertEqual(critical[0]["program"], "netlab echo")
        self.assertIn(
            f"worker 1 ended {GIVE_UP_AFTER} times in a row before it was ready",
            critical[0]["why"],
        )
        self.assertEqual(self.exits, [1])
        self.assertEqual(self.stops, 1)
        self.assertEqual(len(self.launched), 2 + GIVE_UP_AFTER - 1)

    def test_cannotLaunch(self) -> None:
        """
        A worker that cannot be started (the process cannot be spawned) is
        tried again with the same backoff, each failure logged in one line
        with its reason, and counts towards giving up.
        """
        failures = []

        def launch(process: Any, control: Any, spec: Any, fds: Any) -> Any:
            failures.append(spec["worker"])
            raise PermissionError(13, "Permission denied", "/opt/python3")

        supervisor = WorkerSupervisor(
            self.clock,
            1,
            ["echo"],
            "netlab echo",
            grace=5.0,
            launch=launch,
            clock=self.clock,
            exit=self.exits.append,
        )
        supervisor.reactorStop = lambda: None
        with capturedLogs() as events:
            supervisor.startService()
            for _ in range(GIVE_UP_AFTER):
                self.clock.advance(MAX_RESTART_DELAY)
        self.assertEqual(failures, [1] * GIVE_UP_AFTER)
        self.assertEqual(self.exits, [1])
        warnings = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), GIVE_UP_AFTER - 1)
        self.assertEqual(
            warnings[0]["how"],
            "it could not be started: permission denied: /opt/python3",
        )
        self.assertNotIn("log_failure", warnings[0])
        [critical] = [e for e in events if e["log_level"] == LogLevel.critical]
        self.assertIn("permission denied", critical["why"])

    def test_preflight(self) -> None:
        """
        When no worker could start (L{WorkerSupervisor.preflight} says why),
        starting is a L{StartupError} saying so, and nothing is launched.
        """
        self.supervisor.preflight = lambda: "no Python"
        with self.assertRaises(StartupError) as e:
            self.supervisor.startService()
        self.assertEqual(str(e.exception), "cannot start the workers: no Python")
        self.assertEqual(self.launched, [])

    def test_pythonCannotRun(self) -> None:
        """
        By default the check is that this process may run its Python (as
        the user twistd's C{--uid} made it); the reason names the user, the
        group and the interpreter.
        """
        supervisor = WorkerSupervisor(self.clock, 1, ["echo"], "netlab echo", 5.0)
        self.assertIs(supervisor.preflight, _whyPythonCannotRun)
        self.assertIsNone(_whyPythonCannotRun())
        self.patch(_workers.os, "access", lambda *a, **k: False)
        why = _whyPythonCannotRun()
        assert why is not None
        self.assertIn(f"user {os.geteuid()} and group {os.getegid()}", why)
        self.assertIn(f"may not run {sys.executable}", why)

    def test_handsOverToLeastLoaded(self) -> None:
        """
        Each connection goes to the worker with the fewest open, with its
        file descriptor and a line saying which it is; the parent's copy is
        closed once the worker took it, and the guard lets go of it once
        the worker says it closed.
        """
        self.ready()
        connections = [_FakeConnection(fd) for fd in (10, 11, 12)]
        for connection in connections[:2]:
            self.supervisor.handOver(connection)
        first, second = self.launched
        self.assertEqual(len(first.transport.fds) + len(second.transport.fds), 2)
        self.assertEqual(len(first.transport.fds), 1)
        message = (first.messages() + second.messages())[0]
        self.assertEqual(message["op"], "connection")
        self.assertEqual(message["listener"], 1)
        self.assertEqual(message["family"], 2)
        # The first worker's closes: the third goes to it.
        busy = first if connections[0].fd in first.transport.fds else second
        idle = second if busy is first else first
        taken = busy.messages()[0]["id"]
        busy.say(op="took", id=taken)
        self.assertEqual(connections[0].handedOverCalls, 1)
        busy.say(op="closed", id=taken)
        self.assertEqual(connections[0].released, 1)
        idle.say(op="took", id=idle.messages()[0]["id"])
        self.supervisor.handOver(connections[2])
        self.assertEqual(busy.transport.fds, [10, 12])

    def test_keptUntilReady(self) -> None:
        """
        A connection accepted before any worker is ready waits for one.
        """
        self.supervisor.startService()
        connection = _FakeConnection(10)
        self.supervisor.handOver(connection)
        self.assertEqual([w.transport.fds for w in self.launched], [[], []])
        self.launched[1].say(op="ready", pid=2)
        self.assertEqual(self.launched[1].transport.fds, [10])

    def test_waitingHasADeadline(self) -> None:
        """
        A connection that no worker is ready to take within
        L{PENDING_TIMEOUT} seconds is closed; one taken in time is not.
        """
        self.supervisor.startService()
        late, inTime = _FakeConnection(10), _FakeConnection(11)
        self.supervisor.handOver(late)
        with capturedLogs() as events:
            self.clock.advance(PENDING_TIMEOUT)
        self.assertEqual(late.released, 1)
        self.assertIn("no worker was ready", events[0]["log_format"])
        self.supervisor.handOver(inTime)
        self.launched[0].say(op="ready", pid=1)
        self.clock.advance(PENDING_TIMEOUT)
        self.assertEqual(inTime.released, 0)
        self.assertEqual(self.launched[0].transport.fds, [11])

    def test_notTakenGoesToAnother(self) -> None:
        """
        A connection handed to a worker that dies before taking it goes to
        another worker; the ones it had taken are let go of.
        """
        self.supervisor.startService()
        first, second = self.launched
        first.say(op="ready", pid=1)
        taken, notTaken = _FakeConnection(10), _FakeConnection(11)
        self.supervisor.handOver(taken)
        self.supervisor.handOver(notTaken)
        self.assertEqual(first.transport.fds, [10, 11])
        first.say(op="took", id=first.messages()[0]["id"])
        second.say(op="ready", pid=2)
        first.end(None, signal.SIGKILL)
        self.assertEqual(taken.released, 1)
        self.assertEqual(notTaken.released, 0)
        self.assertEqual(second.transport.fds, [11])

    def test_drainingWorkerIsHandedNone(self) -> None:
        """
        A worker that says it drains (stopping on a signal of its own) is
        handed no new connections; one handed to it as it began and given
        back goes to another worker, not closed.
        """
        self.ready()
        first, second = self.launched
        inFlight = _FakeConnection(10)
        self.supervisor.handOver(inFlight)
        handedTo = first if first.transport.fds else second
        other = second if handedTo is first else first
        with capturedLogs() as events:
            handedTo.say(op="draining")
        self.assertIn("is draining", events[0]["log_format"])
        handedTo.say(op="returned", id=handedTo.messages()[0]["id"])
        self.assertEqual(inFlight.released, 0)
        self.assertEqual(other.transport.fds, [10])
        for fd in (11, 12, 13):
            self.supervisor.handOver(_FakeConnection(fd))
        self.assertEqual(handedTo.transport.fds, [10])
        self.assertEqual(other.transport.fds, [10, 11, 12, 13])
        # The service stopping meanwhile (SIGTERM to every process at once)
        # tells it to stop as it tells the others, rather than signal it,
        # which it would take for a second signal, to cut.
        self.supervisor.stopService()
        self.supervisor.drain(5.0, "bye")
        self.assertEqual(handedTo.messages()[-1], {"op": "stop"})
        self.assertEqual(handedTo.fake.signals, [])

    def test_drainTellsWorkers(self) -> None:
        """
        The drain tells every ready worker to stop, over its control
        channel rather than by a signal (which it could not tell from one
        sent to every process of the service at once), and fires once
        every one has ended; one still running C{grace} + L{CUT_AFTER}
        seconds later is told to cut its connections, then sent SIGKILL
        after L{KILL_AFTER} more.  No worker is restarted meanwhile.
        """
        self.ready()
        self.supervisor.stopService()
        drained = self.supervisor.drain(5.0, "bye")
        first, second = self.launched
        for launched in self.launched:
            self.assertEqual(launched.messages()[-1], {"op": "stop"})
            self.assertEqual(launched.fake.signals, [])
        first.end(0)
        self.assertNoResult(drained)
        self.clock.advance(5.0 + CUT_AFTER)
        self.assertEqual(second.messages()[-1], {"op": "cut"})
        self.assertEqual(first.messages()[-1], {"op": "stop"})
        self.clock.advance(KILL_AFTER)
        self.assertEqual(second.fake.signals, ["KILL"])
        second.end(None, signal.SIGKILL)
        self.successResultOf(drained)
        self.clock.advance(MAX_RESTART_DELAY)
        self.assertEqual(len(self.launched), 2)
        self.assertEqual(first.fake.signals, [])

    def test_drainSignalsWorkersStarting(self) -> None:
        """
        A worker not ready yet (its control channel not yet answered) is
        sent SIGTERM, which ends a worker still starting at once.
        """
        self.supervisor.startService()
        first, second = self.launched
        first.say(op="ready", pid=1)
        self.supervisor.drain(5.0, "bye")
        self.assertEqual(first.fake.signals, [])
        self.assertEqual(second.fake.signals, ["TERM"])
        self.assertEqual(second.messages(), [])

    def test_drainLetsGoOfWaitingConnections(self) -> None:
        """
        Connections no worker has taken when the drain begins are let go
        of, and any accepted after it too.
        """
        self.supervisor.startService()
        waiting, late = _FakeConnection(10), _FakeConnection(11)
        self.supervisor.handOver(waiting)
        self.supervisor.drain(5.0, "bye")
        self.supervisor.handOver(late)
        self.assertEqual((waiting.released, late.released), (1, 1))

    def test_abortAllTellsWorkersToCut(self) -> None:
        """
        L{WorkerSupervisor.abortAll} (a second SIGTERM to the parent) tells
        every worker to cut its connections.
        """
        self.ready()
        self.supervisor.drain(5.0, "bye")
        self.supervisor.abortAll()
        for launched in self.launched:
            self.assertEqual(launched.messages()[-2:], [{"op": "stop"}, {"op": "cut"}])
            self.assertEqual(launched.fake.signals, [])

    def test_scrape(self) -> None:
        """
        L{WorkerSupervisor.scrape} asks every ready worker for its
        counters and gives those that answered.
        """
        self.ready()
        scraped = self.supervisor.scrape()
        first = self.launched[0]
        first.say(op="metrics", id=first.messages()[0]["id"], text="one")
        self.assertNoResult(scraped)
        self.clock.advance(60)
        answers = self.successResultOf(scraped)
        self.assertEqual([(w.index, text) for w, text in answers], [(1, "one")])


class LabelledTests(SynchronousTestCase):
    """
    L{_labelled} merges families of several processes.
    """

    def test_workerLabel(self) -> None:
        """
        Each sample gets a C{worker} label; families of one name are merged.
        """
        merged: dict[str, Any] = {}
        for worker in ("parent", "1"):
            family = CounterMetricFamily("netlab_x", "X.", labels=["service"])
            family.add_metric(["echo"], 3)
            _labelled([family], worker, merged)
        samples = merged["netlab_x"].samples
        self.assertEqual(
            [(s.labels["worker"], s.value) for s in samples], [("parent", 3), ("1", 3)]
        )


class _AdoptingReactor(MemoryReactorClock):
    """
    Adopts a connection by building its protocol over a L{StringTransport}.
    """

    def adoptStreamConnection(self, fd: int, family: Any, factory: Any) -> None:
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())
        self.adopted = protocol


def _workerRole() -> tuple[_AdoptingReactor, WorkerRole, Any, Any]:
    """
    @return: a worker's role with its control channel over a fake UNIX
        transport, and a guard of its own.
    """
    reactor = _AdoptingReactor()
    role = WorkerRole(reactor, 1, 2)
    transport = _FakeUNIXTransport()
    role.control = _WorkerControl(role)
    role.control.makeConnection(transport)
    guard = role.newGuard(Factory.forProtocol(Protocol), reactor)
    return reactor, role, transport, guard


def _handOver(role: WorkerRole, transport: Any, id: int) -> list[Any]:
    """
    Hand C{role} a connection (a pipe's end) for its first listener.

    @return: every message the worker has sent its parent.
    """
    assert role.control is not None
    read, write = os.pipe()
    os.close(write)
    role.control.fileDescriptorReceived(read)
    message = {"op": "connection", "id": id, "listener": 1, "family": 2}
    role.control.dataReceived(json.dumps(message).encode() + b"\n")
    return [json.loads(line) for line in transport.value().splitlines()]


class WorkerRoleTests(SynchronousTestCase):
    """
    L{WorkerRole}: the worker's end of the control channel.
    """

    def test_adoptsAndReportsClose(self) -> None:
        """
        A connection handed over is adopted with its listener's factory;
        the worker says it took it, and once it closes, that it closed.
        """
        reactor, role, transport, guard = _workerRole()
        listener = role.listener(role.nextKey(), "tcp:0", guard.listenerFactory("tcp"))
        listener.startService()
        sent = _handOver(role, transport, 7)
        self.assertEqual(sent, [{"op": "took", "id": 7}])
        self.assertEqual(guard.openConnections(), 1)
        reactor.adopted.connectionLost(Failure(Exception("gone")))
        sent = [json.loads(line) for line in transport.value().splitlines()]
        self.assertEqual(sent[-1], {"op": "closed", "id": 7})

    def test_drainingGivesBack(self) -> None:
        """
        As a worker begins to stop, it tells the parent it drains, before
        its listeners stop; a connection handed over after they stopped
        goes back to the parent instead of being closed.
        """
        _, role, transport, guard = _workerRole()
        top = MultiService()
        role.listener(
            role.nextKey(), "tcp:0", guard.listenerFactory("tcp")
        ).setServiceParent(top)
        Ready(role).setServiceParent(top)
        top.startService()
        top.stopService()
        sent = [json.loads(line) for line in transport.value().splitlines()]
        self.assertEqual(sent[-1], {"op": "draining"})
        sent = _handOver(role, transport, 8)
        self.assertEqual(sent[-1], {"op": "returned", "id": 8})

    def test_stopAndCut(self) -> None:
        """
        The parent's C{stop} and C{cut} messages go to the worker's
        L{StopGracefullyOnSignals}.
        """
        told: list[tuple[str, str]] = []

        class Stopper:
            def stop(self, why: str) -> None:
                told.append(("stop", why))

            def cut(self, why: str) -> None:
                told.append(("cut", why))

        role = WorkerRole(MemoryReactorClock(), 1, 2)
        role.stopper = Stopper()
        role.control = _WorkerControl(role)
        role.control.makeConnection(_FakeUNIXTransport())
        role.control.dataReceived(b'{"op":"stop"}\n{"op":"cut"}\n')
        self.assertEqual(
            told,
            [("stop", "the parent is stopping"), ("cut", "the parent's grace is over")],
        )

    def test_stopperIsTheWorkers(self) -> None:
        """
        A worker's services give its role their L{StopGracefullyOnSignals}.
        """
        options = tap.Options()
        options.parseOptions(["echo", "--listen", "tcp:0", "--udp-port", "0"])
        reactor = MemoryReactorClock()
        role = WorkerRole(reactor, 1, 2, {1: (-1, 2)})
        top = tap.makeService(options, reactor, role=role)
        [stopper] = [s for s in top if isinstance(s, StopGracefullyOnSignals)]
        self.assertIs(role.stopper, stopper)

    def test_shares(self) -> None:
        """
        Rates are split evenly among the workers; a burst is at least 1.
        """
        role = WorkerRole(MemoryReactorClock(), 1, 4)
        self.assertEqual(role.share(100.0), 25.0)
        self.assertEqual(role.shareBurst(2.0), 1.0)
        self.assertEqual(role.shareBurst(40.0), 10.0)


class ParseWorkersTests(SynchronousTestCase):
    """
    L{parseWorkers} and L{usableCPUs}.
    """

    def test_values(self) -> None:
        """
        A whole number of at least 1, or C{auto}.
        """
        self.assertEqual(parseWorkers("3"), 3)
        self.assertEqual(parseWorkers("AUTO"), "auto")
        for bad in ("0", "-1", "two", ""):
            self.assertRaises(ValueError, parseWorkers, bad)

    def _cpus(self, files: dict[str, str], allowed: int = 8) -> int:
        return usableCPUs(lambda: range(allowed), files.get)

    def test_affinity(self) -> None:
        """
        Without a cgroup quota, the CPUs the affinity allows.
        """
        self.assertEqual(self._cpus({}, 3), 3)
        self.assertEqual(self._cpus({"/sys/fs/cgroup/cpu.max": "max 100000\n"}), 8)

    def test_cgroupV2(self) -> None:
        """
        A cgroup v2 quota (of the process's own cgroup) caps it, rounded up.
        """
        files = {
            "/proc/self/cgroup": "0::/netlab.slice\n",
            "/sys/fs/cgroup/netlab.slice/cpu.max": "150000 100000\n",
        }
        self.assertEqual(self._cpus(files), 2)
        self.assertEqual(self._cpus(files, 1), 1)

    def test_cgroupV1(self) -> None:
        """
        So does a cgroup v1 quota; -1 is none.
        """
        files = {
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "300000",
            "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000",
        }
        self.assertEqual(self._cpus(files), 3)
        files["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"] = "-1"
        self.assertEqual(self._cpus(files), 8)

    def test_cgroupAbove(self) -> None:
        """
        A quota on a cgroup above the process's own (systemd's C{CPUQuota=}
        on the unit, the process in a child cgroup) caps it too: the
        smallest on the way up counts.
        """
        files = {
            "/proc/self/cgroup": "0::/system.slice/netlab.service/app\n",
            "/sys/fs/cgroup/system.slice/netlab.service/app/cpu.max": "max 100000",
            "/sys/fs/cgroup/system.slice/netlab.service/cpu.max": "200000 100000",
            "/sys/fs/cgroup/system.slice/cpu.max": "500000 100000",
        }
        self.assertEqual(self._cpus(files), 2)

    def test_cgroupV1OwnPath(self) -> None:
        """
        On cgroup v1, the quota of the process's own cgroup of the C{cpu}
        controller counts, as systemd sets it for a unit.
        """
        files = {
            "/proc/self/cgroup": (
                "12:memory:/system.slice/netlab.service\n"
                "4:cpu,cpuacct:/system.slice/netlab.service\n"
            ),
            "/sys/fs/cgroup/cpu/system.slice/netlab.service/cpu.cfs_quota_us": (
                "200000"
            ),
            "/sys/fs/cgroup/cpu/system.slice/netlab.service/cpu.cfs_period_us": (
                "100000"
            ),
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1",
            "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000",
        }
        self.assertEqual(self._cpus(files), 2)

    def test_atLeastOne(self) -> None:
        """
        A tiny quota still gives one.
        """
        self.assertEqual(self._cpus({"/sys/fs/cgroup/cpu.max": "1000 100000"}), 1)


class OptionsTests(SynchronousTestCase):
    """
    C{--workers} on C{twistd netlab}'s command line.
    """

    def parse(self, *words: str) -> tap.Options:
        options = tap.Options()
        options.parseOptions(list(words))
        return options

    def test_everyService(self) -> None:
        """
        Every service takes C{--workers}; it is 1 unless given.
        """
        self.assertIn(
            "workers", dict((row[0], row) for row in ServiceOptions.optParameters)
        )
        self.assertEqual(self.parse("echo").workers, 1)
        self.assertEqual(self.parse("echo", "--workers", "3").workers, 3)

    def test_coversTheLine(self) -> None:
        """
        Given to one service of a C{+} line, it covers all; the same value
        twice is fine; different values are a usage error.
        """
        self.assertEqual(self.parse("tsserv", "+", "echo", "--workers", "2").workers, 2)
        self.assertEqual(
            self.parse(
                "tsserv", "--workers", "2", "+", "echo", "--workers", "2"
            ).workers,
            2,
        )
        error = self.assertRaises(
            usage.UsageError,
            self.parse,
            "tsserv",
            "--workers",
            "2",
            "+",
            "echo",
            "--workers",
            "3",
        )
        self.assertIn("--workers is for the whole process", str(error))

    def test_all(self) -> None:
        """
        C{all --workers N} gives it to every service.
        """
        options = self.parse("all", "--workers", "2")
        self.assertEqual(options.workers, 2)
        self.assertEqual({o["workers"] for _, o in options.services()}, {2})

    def test_auto(self) -> None:
        """
        C{auto} counts the CPUs this process may use.
        """
        self.assertEqual(self.parse("echo", "--workers", "auto").workers, usableCPUs())

    def test_chatNeedsBus(self) -> None:
        """
        chat with workers ends with one line saying it needs C{--bus}.
        """
        options = self.parse("chat", "--workers", "2")
        error = self.assertRaises(
            SystemExit, tap.makeService, options, MemoryReactorClock()
        )
        self.assertTrue(str(error).startswith("netlab chat: error: chat cannot run"))
        self.assertIn("--bus", str(error))

    def test_allRefused(self) -> None:
        """
        C{all --workers} ends with one line saying to join the services
        with C{+}: all gives chat no C{--bus}, so the advice to give it one
        would not do.
        """
        options = self.parse("all", "--workers", "2")
        error = str(
            self.assertRaises(
                SystemExit, tap.makeService, options, MemoryReactorClock()
            )
        )
        self.assertIn("error: all cannot run with --workers: chat", error)
        self.assertIn("join the services with +", error)
        self.assertNotIn("\n", error)

    def test_chatWithBus(self) -> None:
        """
        With C{--bus}, chat runs in workers: the parent of two workers.
        """
        from netlab.chat import _redis

        self.patch(_redis, "probe", lambda address, presence: None)
        options = self.parse("chat", "--workers", "2", "--bus", "redis://h")
        top = tap.makeService(options, MemoryReactorClock())
        [supervisor] = [c for c in top if isinstance(c, WorkerSupervisor)]
        self.assertEqual(supervisor.count, 2)


class ParentAssemblyTests(SynchronousTestCase):
    """
    The parent L{tap.makeService} builds for C{--workers}.
    """

    def test_order(self) -> None:
        """
        The listeners and UDP sockets bind before the supervisor starts the
        workers, and stop before the workers are drained; the services'
        own drains do not run in the parent.
        """
        options = tap.Options()
        options.parseOptions(
            ["echo", "--workers", "2", "--listen", "tcp:0", "--udp-port", "0"]
        )
        top = tap.makeService(options, MemoryReactorClock())
        children = list(top)
        kinds = [type(child) for child in children]
        drain = kinds.index(DrainService)
        listener = kinds.index(EndpointService)
        datagram = kinds.index(_SharedDatagramSocket)
        supervisor = kinds.index(WorkerSupervisor)
        self.assertLess(drain, listener)
        self.assertLess(listener, supervisor)
        self.assertLess(datagram, supervisor)
        self.assertEqual(kinds.count(DrainService), 1)
        self.assertIsInstance(children[drain].target, WorkerSupervisor)
        self.assertIsInstance(children[-1], StopGracefullyOnSignals)
        for child in children:
            self.assertTrue(IService.providedBy(child))
        guard = children[listener].factory.guard
        self.assertIsInstance(guard, ConnectionGuard)
        self.assertFalse(guard.logConnections)
        self.assertEqual(guard.limits.idleTimeout, 0)

    def test_workerIgnoresSIGINT(self) -> None:
        """
        A worker handles SIGTERM only: SIGINT (which a terminal sends to
        every process of the group) is left to the parent, which forwards
        it as SIGTERM.
        """
        installed: dict[int, Any] = {}
        stopper = StopGracefullyOnSignals(
            MemoryReactorClock(),
            [],
            install=installed.__setitem__,
            signals=(signal.SIGTERM,),
        )
        stopper._installHandlers()
        self.assertEqual(installed[signal.SIGINT], signal.SIG_IGN)
        self.assertEqual(installed[signal.SIGTERM], stopper.received)


class LogForwardingTests(SynchronousTestCase):
    """
    A worker's log events reach the parent's log: written by
    L{netlab._worker.logRecords}, read by the parent's process protocol.
    """

    def test_roundTrip(self) -> None:
        """
        An event written by a worker is published in the parent with its
        text (its fields' formats applied), level, namespace, time and plain
        fields, marked with the worker's number and PID.
        """
        import io

        from netlab._worker import logRecords
        from netlab._workers import _Worker, _WorkerProcess

        output = io.StringIO()
        logRecords(output)(
            {
                "log_format": "closed after {duration:.3f}s from {peer}",
                "log_level": LogLevel.warn,
                "log_namespace": "netlab.policies",
                "log_time": 1234.5,
                "duration": 0.123456,
                "peer": "127.0.0.1:5",
                "unserialisable": object(),
            }
        )
        worker = _Worker(2, pid=77)
        process = _WorkerProcess(None, worker)  # type: ignore[arg-type]
        with capturedLogs() as events:
            line = output.getvalue().encode()
            # In two pieces, as a pipe may give it.
            process.childDataReceived(1, line[:10])
            process.childDataReceived(1, line[10:])
        [event] = events
        from twisted.logger import formatEvent

        self.assertEqual(formatEvent(event), "closed after 0.123s from 127.0.0.1:5")
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual(event["log_namespace"], "netlab.policies")
        self.assertEqual(event["log_time"], 1234.5)
        self.assertEqual(event["peer"], "127.0.0.1:5")
        self.assertEqual(event["log_system"], "worker 2")
        self.assertEqual((event["netlab_worker"], event["netlab_worker_pid"]), (2, 77))
        self.assertNotIn("unserialisable", event)

    def test_otherOutput(self) -> None:
        """
        Anything else a worker writes (standard error, a stray print) is
        logged as a warning naming the worker.
        """
        from netlab._workers import _Worker, _WorkerProcess

        process = _WorkerProcess(None, _Worker(1, pid=5))  # type: ignore[arg-type]
        with capturedLogs() as events:
            process.childDataReceived(2, b"Traceback (most recent call last):\n")
            process.childDataReceived(1, b"not json\n")
        self.assertEqual(
            [(e["log_level"], e["line"]) for e in events],
            [
                (LogLevel.warn, "Traceback (most recent call last):"),
                (LogLevel.warn, "not json"),
            ],
        )


class WorkerCommandTests(SynchronousTestCase):
    """
    How a worker process is started.
    """

    def test_environment(self) -> None:
        """
        A worker gets the parent's environment without systemd's sockets,
        and the parent's import path, made absolute.
        """
        from netlab._workers import workerEnvironment

        environment = workerEnvironment(
            {"HOME": "/home/x", "LISTEN_FDS": "1", "LISTEN_PID": "7"},
            ["", "/opt/lib", "relative"],
        )
        self.assertEqual(environment["HOME"], "/home/x")
        self.assertNotIn("LISTEN_FDS", environment)
        self.assertNotIn("LISTEN_PID", environment)
        self.assertEqual(
            environment["PYTHONPATH"].split(os.pathsep),
            [os.getcwd(), "/opt/lib", os.path.abspath("relative")],
        )

    def test_command(self) -> None:
        """
        A worker runs L{netlab._worker.main} with the spec as its argument,
        without the current directory on its path.
        """
        import sys

        from netlab._workers import workerCommand

        command = workerCommand({"worker": 1})
        self.assertEqual(command[:2], [sys.executable, "-c"])
        self.assertIn("from netlab._worker import main", command[2])
        self.assertIn("if entry]", command[2])
        self.assertEqual(json.loads(command[3]), {"worker": 1})
