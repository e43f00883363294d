"""
Tests for L{netlab._lifecycle}: the file limit raised before anything
listens, and SIGTERM/SIGINT stopping a C{twistd netlab} process gracefully.

Reactor-free: services are built on a L{MemoryReactorClock}.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from netlab import tap
from netlab._lifecycle import (
    DRAIN_SLACK,
    DrainService,
    EnoughFiles,
    StopGracefullyOnSignals,
)
from netlab.chat import ChatFactory, ChatHub
from netlab.echo import EchoFactory
from netlab.policies import ConnectionGuard, ConnectionLimits
from netlab.timestamp import TimestampFactory
from tests._tapsupport import _connect, _listened, _types, _UDPMemoryReactor, parse

try:
    import resource
except ImportError:  # pragma: no cover - not on POSIX
    resource = None  # type: ignore[assignment]


class _SignalReactor(_UDPMemoryReactor):
    """
    A L{_UDPMemoryReactor} that runs until stopped, with C{callFromThread},
    whose calls wait in C{fromThread} until L{runFromThread}, as they wait
    for the reactor's thread in a real one; it counts its C{stop}s.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fromThread: list[tuple[Callable[..., object], tuple[Any, ...]]] = []
        self.stops = 0

    def run(self) -> None:
        """
        Run the calls given to C{callWhenRunning}, and keep running until
        C{stop} (L{MemoryReactorClock.run} stops at once).
        """
        self.running = True
        self.hasRun = True
        for f, args, kwargs in self.whenRunningHooks:
            f(*args, **kwargs)

    def callFromThread(self, f: Callable[..., object], *args: Any) -> None:
        self.fromThread.append((f, args))

    def runFromThread(self) -> None:
        calls, self.fromThread = self.fromThread, []
        for f, args in calls:
            f(*args)

    def stop(self) -> None:
        self.stops += 1
        super().stop()


class SignalTests(SynchronousTestCase):
    """
    Tests for L{StopGracefullyOnSignals}: SIGTERM and SIGINT stop the
    reactor, which stops the services gracefully; a second one cuts every
    connection.
    """

    def setUp(self) -> None:
        self.reactor = _SignalReactor()
        self.installed: dict[int, Callable[..., object]] = {}
        self.tsserv = ConnectionGuard(TimestampFactory(self.reactor), self.reactor)
        self.chat = ConnectionGuard(ChatFactory(ChatHub(), self.reactor), self.reactor)
        self.service = StopGracefullyOnSignals(
            self.reactor, [self.tsserv, self.chat], self.installed.__setitem__
        )

    def _running(self) -> Callable[..., object]:
        """
        Start the service and the reactor.

        @return: the handler installed for SIGTERM.
        """
        self.service.startService()
        self.reactor.run()
        return self.installed[signal.SIGTERM]

    def test_installedWhenRunning(self) -> None:
        """
        The handlers of SIGTERM and SIGINT are installed once the reactor
        runs (after it installed its own), not when the service starts.
        """
        self.service.startService()
        self.assertEqual(self.installed, {})
        self.reactor.run()
        self.assertEqual(set(self.installed), {signal.SIGTERM, signal.SIGINT})
        self.assertEqual(self.installed[signal.SIGTERM], self.service.received)
        self.assertEqual(self.installed[signal.SIGINT], self.service.received)

    def test_startedWhileRunning(self) -> None:
        """
        Started while the reactor runs, the service installs its handlers
        at once.
        """
        self.reactor.run()
        self.service.startService()
        self.assertEqual(set(self.installed), {signal.SIGTERM, signal.SIGINT})

    def test_firstSignalStops(self) -> None:
        """
        The first SIGTERM or SIGINT stops the reactor, once, from the
        reactor's thread (a signal handler must not), and says so in the
        log.
        """
        for number in [signal.SIGTERM, signal.SIGINT]:
            self.setUp()
            handler = self._running()
            with capturedLogs() as events:
                handler(number, None)
            self.assertEqual(self.reactor.stops, 0)
            self.reactor.runFromThread()
            self.assertEqual(self.reactor.stops, 1)
            [event] = events
            self.assertEqual(event["log_level"], LogLevel.info)
            self.assertEqual(event["signal"], signal.Signals(number).name)
            self.assertIn("stopping gracefully", event["log_format"])

    def test_secondSignalCuts(self) -> None:
        """
        A second signal aborts every connection of every guard at once,
        and does not stop the reactor again.
        """
        handler = self._running()
        _, first = _connect(self.tsserv)
        _, second = _connect(self.tsserv)
        _, third = _connect(self.chat)
        handler(signal.SIGTERM, None)
        self.reactor.runFromThread()
        transports = [first, second, third]
        self.assertFalse(any(transport.aborted for transport in transports))
        with capturedLogs() as events:
            handler(signal.SIGINT, None)
        self.assertFalse(any(transport.aborted for transport in transports))
        self.reactor.runFromThread()
        self.assertTrue(all(transport.aborted for transport in transports))
        self.assertEqual(self.reactor.stops, 1)
        [event] = events
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual(event["signal"], "SIGINT")

    def test_stopThenSignal(self) -> None:
        """
        Told to stop (L{StopGracefullyOnSignals.stop}: a worker, by its
        parent), the service stops the reactor once; the first signal after
        it (one a service manager sends to every process of the service) is
        the same stop, and cuts nothing; the next cuts every connection.
        """
        handler = self._running()
        _, first = _connect(self.tsserv)
        with capturedLogs() as events:
            self.service.stop("the parent is stopping")
            self.service.stop("the parent is stopping")
        self.reactor.runFromThread()
        self.assertEqual(self.reactor.stops, 1)
        [event] = events
        self.assertEqual(event["why"], "the parent is stopping")
        with capturedLogs() as events:
            handler(signal.SIGTERM, None)
        self.reactor.runFromThread()
        self.assertFalse(first.aborted)
        self.assertEqual(self.reactor.stops, 1)
        [event] = events
        self.assertEqual(event["log_level"], LogLevel.info)
        self.assertIn("stopping already", event["log_format"])
        handler(signal.SIGTERM, None)
        self.reactor.runFromThread()
        self.assertTrue(first.aborted)

    def test_cut(self) -> None:
        """
        L{StopGracefullyOnSignals.cut} (a worker's parent telling it its
        grace is over) aborts every connection at once, and says why.
        """
        self._running()
        _, first = _connect(self.tsserv)
        _, second = _connect(self.chat)
        self.service.stop("the parent is stopping")
        with capturedLogs() as events:
            self.service.cut("the parent's grace is over")
        self.reactor.runFromThread()
        self.assertTrue(first.aborted and second.aborted)
        [event] = events
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual(event["why"], "the parent's grace is over")

    def test_notRunning(self) -> None:
        """
        A signal that arrives once the reactor has stopped does not stop it
        again.
        """
        handler = self._running()
        self.reactor.stop()
        handler(signal.SIGTERM, None)
        self.reactor.runFromThread()
        self.assertEqual(self.reactor.stops, 1)

    def _options(self, parent: Any) -> tap.Options:
        options = parse(
            "tsserv",
            "--listen",
            "tcp:1",
            "+",
            "tsuserv",
            "+",
            "chat",
            "--listen",
            "tcp:2",
        )
        options.parent = parent
        return options

    def test_noneWithoutParent(self) -> None:
        """
        Without parent options (a program that calls makeService itself),
        nothing handles signals: that is the program's business.
        """
        service = tap.makeService(self._options(None), self.reactor)
        self.assertNotIn(StopGracefullyOnSignals, _types(service))

    def test_underTwistd(self) -> None:
        """
        Under twistd or twist (parent options), the last service handles
        signals, for every guard of the process, and installs nothing until
        the reactor runs.
        """
        for parent in [{"nodaemon": True}, {}]:
            reactor = _SignalReactor()
            service = tap.makeService(self._options(parent), reactor)
            children = list(service)
            self.assertIsInstance(children[-1], StopGracefullyOnSignals)
            self.assertEqual(_types(service).count(StopGracefullyOnSignals), 1)
            service.startService()
            self.addCleanup(service.stopService)
            # Not run here: it would install real handlers in the test run.
            self.assertEqual(len(reactor.whenRunningHooks), 1)
            tsserv, chat = _listened(reactor)
            _, first = _connect(tsserv)
            _, second = _connect(chat)
            children[-1].received(signal.SIGTERM)
            children[-1].received(signal.SIGTERM)
            reactor.runFromThread()
            self.assertTrue(first.aborted)
            self.assertTrue(second.aborted)


class EnoughFilesTests(SynchronousTestCase):
    """
    Tests for L{EnoughFiles}: before listening, the process may open
    as many files as its connection limits allow.
    """

    if resource is None:  # pragma: no cover - not on POSIX
        skip = "no resource module (file limits) on this platform"

    def setUp(self) -> None:
        self.limit = (1024, 65536)
        self.set: list[tuple[int, tuple[int, int]]] = []

    def _getLimit(self, which: int) -> tuple[int, int]:
        self.assertEqual(which, resource.RLIMIT_NOFILE)
        return self.limit

    def _setLimit(self, which: int, limits: tuple[int, int]) -> None:
        self.set.append((which, limits))

    def _failToSet(self, which: int, limits: tuple[int, int]) -> None:
        raise ValueError("not allowed")

    def _start(self, *maxConnections: int, setLimit: Any = None) -> list[Any]:
        """
        Start an L{EnoughFiles} for guards with these limits.

        @return: the events it logged.
        """
        guards = [
            ConnectionGuard(EchoFactory(), MemoryReactorClock(), ConnectionLimits(n))
            for n in maxConnections
        ]
        enough = EnoughFiles(guards, self._getLimit, setLimit or self._setLimit)
        with capturedLogs() as events:
            enough.privilegedStartService()
        return events

    def test_selectReactorWarned(self) -> None:
        """
        Under the select reactor, which cannot watch more than 1,024
        descriptors, limits that allow more connections get a warning; the
        other reactors do not.
        """
        from twisted.internet.selectreactor import SelectReactor

        for reactor, warned in ((SelectReactor(), True), (MemoryReactorClock(), False)):
            guard = ConnectionGuard(EchoFactory(), reactor, ConnectionLimits(5000))
            enough = EnoughFiles([guard], self._getLimit, self._setLimit)
            with capturedLogs() as events:
                enough.privilegedStartService()
            messages = [e["log_format"] for e in events]
            self.assertEqual(
                any("--reactor select" in m for m in messages), warned, messages
            )
            closeReactor = getattr(reactor, "_closeWaker", None)
            if closeReactor is not None:
                closeReactor()

    def test_first(self) -> None:
        """
        It is the first service, so that it runs before anything listens,
        with every guard of the process.
        """
        service = tap.makeService(
            parse("tsserv", "--listen", "tcp:1", "+", "chat", "--listen", "tcp:2"),
            MemoryReactorClock(),
        )
        first = next(iter(service))
        self.assertIsInstance(first, EnoughFiles)
        self.assertEqual(first.needed(), 10000 + 10000 + 64)

    def test_raises(self) -> None:
        """
        A soft limit below what the connection limits need, with room for
        listeners and logs, is raised to that.
        """
        events = self._start(10000, 50)
        self.assertEqual(self.set, [(resource.RLIMIT_NOFILE, (10114, 65536))])
        self.assertEqual(events, [])

    def test_upToTheHardLimit(self) -> None:
        """
        It is raised no further than the hard limit, and a warning says to
        raise that or lower --max-connections.
        """
        self.limit = (1024, 4096)
        [event] = self._start(10000)
        self.assertEqual(self.set, [(resource.RLIMIT_NOFILE, (4096, 4096))])
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual((event["needed"], event["soft"]), (10064, 4096))
        self.assertIn("--max-connections", event["log_format"])

    def test_cannotRaise(self) -> None:
        """
        If the limit cannot be raised, a warning says what it is.
        """
        [event] = self._start(10000, setLimit=self._failToSet)
        self.assertEqual((event["needed"], event["soft"]), (10064, 1024))

    def test_enoughAlready(self) -> None:
        """
        A soft limit that is enough already, or infinite, is left alone.
        """
        for limit in [(20000, 20000), (resource.RLIM_INFINITY, resource.RLIM_INFINITY)]:
            self.limit = limit
            self.assertEqual(self._start(10000), [])
            self.assertEqual(self.set, [])

    def test_infiniteHardLimit(self) -> None:
        """
        With no hard limit, the soft one is raised to what is needed.
        """
        self.limit = (1024, resource.RLIM_INFINITY)
        self._start(10000)
        self.assertEqual(
            self.set, [(resource.RLIMIT_NOFILE, (10064, resource.RLIM_INFINITY))]
        )

    def test_noLimitNoChange(self) -> None:
        """
        With no connection limit (--max-connections 0) there is no number to
        reach, and without stream services nothing to do.
        """
        self.assertEqual(self._start(10000, 0), [])
        self.assertEqual(self._start(), [])
        self.assertEqual(self.set, [])


class _Target:
    """
    A drain target that never finishes draining, and may fail to be cut.
    """

    def __init__(self, breaks: bool = False) -> None:
        self.breaks = breaks
        self.drains: list[tuple[float, str]] = []
        self.aborted = 0

    def drain(self, grace: float, reason: str) -> Any:
        from twisted.internet.defer import Deferred

        self.drains.append((grace, reason))
        return Deferred()

    def abortAll(self) -> None:
        self.aborted += 1
        if self.breaks:
            raise RuntimeError("cannot cut")


class DrainServiceTests(SynchronousTestCase):
    """
    Tests for L{DrainService}.
    """

    def test_givenUp(self) -> None:
        """
        A drain that has not finished 10 seconds after its grace is given
        up on: its target is cut, and the stop goes on.
        """
        clock = MemoryReactorClock()
        target = _Target()
        service = DrainService(target, 2, "bye", clock)
        service.startService()
        with capturedLogs() as events:
            stopped = service.stopService()
            self.assertEqual(target.drains, [(2, "bye")])
            clock.advance(2 + DRAIN_SLACK - 0.1)
            self.assertNoResult(stopped)
            clock.advance(0.1)
        self.assertIsNone(self.successResultOf(stopped))
        self.assertEqual(target.aborted, 1)
        self.assertEqual(
            [event["log_level"] for event in events if "target" in event],
            [LogLevel.warn],
        )

    def test_withoutClock(self) -> None:
        """
        Without a clock, the stop waits for the drain, as a guard's drain
        always finishes by its grace.
        """
        target = _Target()
        service = DrainService(target, 2, "bye")
        service.startService()
        self.assertNoResult(service.stopService())


class AbortAllTests(SynchronousTestCase):
    """
    A second signal cuts every target, even when one of them fails to.
    """

    def test_oneFails(self) -> None:
        clock = MemoryReactorClock()
        targets = [_Target(breaks=True), _Target()]
        service = StopGracefullyOnSignals(clock, targets, install=lambda *a: None)
        service._abortAll()
        self.assertEqual([target.aborted for target in targets], [1, 1])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
