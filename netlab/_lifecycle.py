"""
The life of a C{twistd netlab} process around its services: enough open
files for the connection limits before anything listens, a graceful stop
on SIGTERM and SIGINT (exit status 0), and the drain of whatever holds
connections, after the listeners have stopped.

Shared by every service; nothing here names one.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.defer import TimeoutError as DrainTimedOut
from twisted.internet.error import ReactorNotRunning
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from netlab.policies import ConnectionGuard

__all__ = ["DrainService", "EnoughFiles", "IDrainTarget", "StopGracefullyOnSignals"]

_log = Logger()


class IDrainTarget(Protocol):
    """
    What L{DrainService} drains: a L{ConnectionGuard}, or anything else a
    service keeps that must be let go of gracefully.
    """

    def drain(self, grace: float, reason: str) -> Deferred[None]:
        """
        Ask everything to finish within C{grace} seconds, telling it
        C{reason}; fire once it has.
        """

    def abortAll(self) -> None:
        """
        Cut everything at once (a second signal).
        """


DRAIN_SLACK = 10.0
"""
Seconds past its grace that a drain may take before it is given up on.
"""


class DrainService(Service):
    """
    Stops last (it is added before the service's listeners, and services
    stop in reverse): drains C{target} (a guard, whose listeners have
    stopped by then, or anything else with C{drain} and C{abortAll}).
    """

    def __init__(
        self,
        target: IDrainTarget,
        grace: float,
        reason: str,
        clock: IReactorTime | None = None,
    ) -> None:
        """
        @param clock: with it, a drain that has not finished
            L{DRAIN_SLACK} seconds after C{grace} is given up on: its
            target is cut (C{abortAll}) and the stop goes on.  A guard's
            drain never needs that; something else's might.
        """
        self.target = target
        self.grace = grace
        self.reason = reason
        self.clock = clock
        self.stopping: Deferred[None] | None = None

    def stopService(self) -> Deferred[None]:
        super().stopService()
        drained = self.target.drain(self.grace, self.reason)
        if self.clock is not None:
            deadline = self.grace + DRAIN_SLACK
            drained.addTimeout(deadline, self.clock)
            drained.addErrback(self._failed, deadline)
        # For whoever waits for the drain too (the metrics endpoint).
        self.stopping = Deferred()
        drained.addBoth(_chain, self.stopping)
        return drained

    def _failed(self, failure: Failure, deadline: float) -> None:
        if failure.check(DrainTimedOut):
            _log.warn(
                "{target!r} had not drained {deadline:g}s after the stop began: "
                "cutting it",
                target=self.target,
                deadline=deadline,
            )
        else:
            _log.failure("draining {target!r}", failure, target=self.target)
        _abort(self.target)


class EnoughFiles(Service):
    """
    Before listening: make sure the process may open as many files as its
    connection limits allow, raising its soft limit (up to the hard one) if
    need be, and warning if even that is too low, rather than failing
    accepts with EMFILE later.
    """

    def __init__(
        self,
        guards: list[ConnectionGuard],
        getLimit: Callable[[int], tuple[int, int]] | None = None,
        setLimit: Callable[[int, tuple[int, int]], None] | None = None,
    ) -> None:
        self._guards = guards
        self._getLimit = getLimit
        self._setLimit = setLimit

    def needed(self) -> int | None:
        """
        @return: the files the connection limits could use, with room for
            listeners, logs and the like; C{None} if a limit is off.
        """
        total = 0
        for guard in self._guards:
            if not guard.limits.maxConnections:
                return None
            total += guard.limits.maxConnections
        return total + 64

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        if not self._guards:
            return
        needed = self.needed()
        self._warnIfSelect(needed)
        if needed is None:
            return
        try:
            import resource
        except ImportError:  # pragma: no cover - not on POSIX
            return
        getLimit = self._getLimit or resource.getrlimit
        setLimit = self._setLimit or resource.setrlimit
        soft, hard = getLimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY or soft >= needed:
            return
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if target > soft:
            try:
                setLimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (OSError, ValueError):
                pass
        if soft < needed:
            _log.warn(
                "--max-connections allows {needed} open files but this process "
                "may open only {soft}: raise it (ulimit -n, or LimitNOFILE= "
                "under systemd), or lower --max-connections",
                needed=needed,
                soft=soft,
            )

    def _warnIfSelect(self, needed: int | None) -> None:
        from twisted.internet.selectreactor import SelectReactor

        if isinstance(self._guards[0].clock, SelectReactor) and (
            needed is None or needed > _FD_SETSIZE
        ):
            _log.warn(
                "--reactor select cannot watch more than {limit} connections "
                "at once, and the connection limits allow more: use the "
                "default reactor (epoll), or lower --max-connections",
                limit=_FD_SETSIZE,
            )


_FD_SETSIZE = 1024
"""
The most file descriptors C{select()} can watch on Linux.
"""


class StopGracefullyOnSignals(Service):
    """
    Under twistd or twist: SIGTERM or SIGINT stop the reactor, which stops
    the services gracefully (see L{DrainService}), and the process then exits
    with status 0, which is what a service manager expects of a clean stop.
    (Twisted's own handlers make the process end by the signal instead.)
    A second signal cuts every connection at once.
    """

    def __init__(
        self,
        reactor: Any,
        targets: Sequence[IDrainTarget],
        install: Callable[[int, Any], object] = signal.signal,
        signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
    ) -> None:
        """
        @param signals: the signals it handles (a worker of C{--workers}
            leaves SIGINT to its parent, which forwards it as SIGTERM, and
            ignores it).
        """
        self._reactor = reactor
        self._targets = targets
        self._install = install
        self._signals = tuple(signals)
        self._stopping = False
        self._signalled = False

    def startService(self) -> None:
        super().startService()
        # After the reactor installed its own handlers, which it does as it
        # starts running.
        self._reactor.callWhenRunning(self._installHandlers)

    def _installHandlers(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            if number in self._signals:
                self._install(number, self.received)
            else:
                self._install(number, signal.SIG_IGN)

    def received(self, number: int, frame: object = None) -> None:
        """
        Handle SIGTERM or SIGINT.
        """
        name = signal.Signals(number).name
        if not self._signalled and self._stopping:
            # Told to stop otherwise first (a worker, by its parent): the
            # signal (one sent to the whole process group or cgroup, as
            # systemd sends it) is the same stop.
            self._signalled = True
            _log.info("Received {signal}: stopping already", signal=name)
        elif not self._signalled:
            self._signalled = self._stopping = True
            _log.info("Received {signal}: stopping gracefully", signal=name)
            self._reactor.callFromThread(self._stop)
        else:
            _log.warn(
                "Received {signal} again: closing every connection now", signal=name
            )
            self._reactor.callFromThread(self._abortAll)

    def stop(self, why: str) -> None:
        """
        Stop gracefully, as the first signal does, unless stopping already:
        a worker's parent tells it so.

        @param why: for the log, e.g. C{the parent is stopping}.
        """
        if self._stopping:
            return
        self._stopping = True
        _log.info("{why}: stopping gracefully", why=why)
        self._reactor.callFromThread(self._stop)

    def cut(self, why: str) -> None:
        """
        Cut every connection now, as a second signal does.

        @param why: for the log.
        """
        _log.warn("{why}: closing every connection now", why=why)
        self._reactor.callFromThread(self._abortAll)

    def _stop(self) -> None:
        if not self._reactor.running:
            return
        try:
            self._reactor.stop()
        except ReactorNotRunning:
            # Something else is stopping it already.
            pass

    def _abortAll(self) -> None:
        for target in self._targets:
            _abort(target)


def _chain(result: object, then: Deferred[None]) -> object:
    then.callback(None)
    return result


def _abort(target: IDrainTarget) -> None:
    """
    Cut everything C{target} holds; a failure to (a bug) is logged, so that
    the other targets are still cut.
    """
    try:
        target.abortAll()
    except Exception:
        _log.failure("cutting {target!r}", target=target)
