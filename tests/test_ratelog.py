"""
Tests for L{netlab._ratelog}: logging that a peer cannot turn into a flood.
"""

from __future__ import annotations

from typing import cast

from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, Logger, LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from netlab._ratelog import RateLimitedLog


class RateLimitedLogTests(SynchronousTestCase):
    """
    Tests for L{RateLimitedLog}.
    """

    def setUp(self) -> None:
        self.events: list[LogEvent] = []
        self.clock = Clock()
        self.clock.advance(1000)
        logger = Logger(
            namespace="netlab.test", observer=cast(ILogObserver, self.events.append)
        )
        self.log = RateLimitedLog(logger, self.clock, interval=10)

    def test_firstLogged(self) -> None:
        """
        The first warning is logged at once, as a warning, with its fields
        and a suppressed count of zero.
        """
        self.log.warn("bad line from {peer}", peer="192.0.2.1")
        [event] = self.events
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual(event["peer"], "192.0.2.1")
        self.assertEqual(event["suppressed"], 0)
        self.assertEqual(
            formatEvent(event),
            "bad line from 192.0.2.1 (0 more like this not logged since the last one)",
        )

    def test_suppressedWithinInterval(self) -> None:
        """
        Warnings within the interval after a logged one are not logged, but
        counted.
        """
        self.log.warn("bad")
        self.clock.advance(5)
        self.log.warn("bad")
        self.clock.advance(4.999)
        self.log.warn("bad")
        self.assertEqual(len(self.events), 1)
        self.assertEqual(self.log.suppressed, 2)

    def test_loggedAfterIntervalWithCount(self) -> None:
        """
        Once the interval has passed, the next warning is logged with the
        count of those suppressed since the last one, and the count starts
        again from zero.
        """
        for _ in range(4):
            self.log.warn("bad {n}", n=1)
        self.clock.advance(10)
        self.log.warn("bad {n}", n=2)
        self.assertEqual(len(self.events), 2)
        self.assertEqual(self.events[1]["suppressed"], 3)
        self.assertEqual(self.events[1]["n"], 2)
        self.assertIn("3 more like this not logged", formatEvent(self.events[1]))
        self.assertEqual(self.log.suppressed, 0)

        self.clock.advance(10)
        self.log.warn("bad {n}", n=3)
        self.assertEqual(self.events[2]["suppressed"], 0)

    def test_intervalRestartsWhenLogged(self) -> None:
        """
        The interval counts from the last warning logged, not from the first
        one suppressed.
        """
        self.log.warn("bad")
        self.clock.advance(9)
        self.log.warn("bad")
        self.clock.advance(2)
        self.log.warn("bad")
        self.clock.advance(9)
        self.log.warn("bad")
        self.assertEqual([event["suppressed"] for event in self.events], [0, 1])

    def test_boundedUnderFlood(self) -> None:
        """
        A steady flood of warnings is logged about once per interval.
        """
        for _ in range(1000):
            self.log.warn("bad")
            self.clock.advance(0.1)
        self.assertEqual(len(self.events), 10)
        self.assertEqual(
            sum(event["suppressed"] for event in self.events) + self.log.suppressed,
            990,
        )

    def test_totalCountsEverything(self) -> None:
        """
        C{total} counts every warning, logged or not.
        """
        self.assertEqual(self.log.total, 0)
        for _ in range(7):
            self.log.warn("bad")
        self.clock.advance(10)
        self.log.warn("bad")
        self.assertEqual(self.log.total, 8)
        self.assertEqual(len(self.events), 2)

    def test_defaultInterval(self) -> None:
        """
        By default at most one warning is logged every ten seconds.
        """
        log = RateLimitedLog(
            Logger(observer=cast(ILogObserver, self.events.append)), self.clock
        )
        self.assertEqual(log.interval, 10)
        log.warn("a")
        self.clock.advance(9.9)
        log.warn("b")
        self.clock.advance(0.1)
        log.warn("c")
        self.assertEqual([formatEvent(e)[0] for e in self.events], ["a", "c"])
