"""
Tests for L{netlab._udpguard}: the L{DatagramGuard} that keeps UDP services
from being used as reflectors or to build loops.

Every bucket is driven by a L{Clock}; log events are checked with
L{capturedLogs}.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from netlab._udpguard import (
    DEFAULT_GLOBAL_BURST,
    DEFAULT_GLOBAL_RATE,
    DEFAULT_SOURCE_BURST,
    DEFAULT_SOURCE_RATE,
    DatagramGuard,
    Refusal,
)

ALICE = "192.0.2.1"
BOB = "198.51.100.2"


def admitted(guard: DatagramGuard, host: str, count: int, port: int = 5000) -> int:
    """
    Offer C{count} datagrams from C{host} to C{guard}, logs captured.

    @return: how many were admitted.
    """
    with capturedLogs():
        return sum(guard.admit(host, port) for _ in range(count))


def warnings(events: Sequence[LogEvent]) -> list[LogEvent]:
    """
    @return: the warnings among C{events} about a datagram not answered.
    """
    return [
        event
        for event in events
        if event.get("log_level") is LogLevel.warn
        and "not answering" in formatEvent(event)
    ]


class DatagramGuardAddressTests(SynchronousTestCase):
    """
    L{DatagramGuard} refuses datagrams by their source address and port.
    """

    def setUp(self) -> None:
        self.guard = DatagramGuard(Clock())

    def assertRefused(self, host: str, port: int, reason: Refusal) -> None:
        """
        Assert that a datagram from C{host}:C{port} is refused for C{reason}.
        """
        before = self.guard.refused[reason]
        with capturedLogs():
            self.assertFalse(self.guard.admit(host, port), (host, port))
        self.assertEqual(self.guard.refused[reason], before + 1, (host, port))

    def test_privilegedPorts(self) -> None:
        """
        Source ports below 1024 are refused; 1024 and above are admitted.
        """
        for port in (0, 7, 9, 13, 19, 37, 53, 1023):
            self.assertRefused(ALICE, port, Refusal.PRIVILEGED_PORT)
        self.assertTrue(self.guard.admit(ALICE, 1024))
        self.assertTrue(self.guard.admit(ALICE, 65535))

    def test_ownPort(self) -> None:
        """
        Once C{ownPort} is set, datagrams from that port are refused, from
        any host.
        """
        self.assertTrue(self.guard.admit(ALICE, 31568))
        self.guard.ownPort = 31568
        self.assertRefused(ALICE, 31568, Refusal.OWN_PORT)
        self.assertRefused("2001:db8::1", 31568, Refusal.OWN_PORT)
        self.assertTrue(self.guard.admit(ALICE, 21570))

    def test_notUnicast(self) -> None:
        """
        Broadcast, multicast (also IPv4-mapped) and unspecified source
        addresses, and anything that is not an address, are refused.
        """
        for host in (
            "255.255.255.255",
            "::ffff:255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "ff02::1%eth0",
            "::ffff:224.0.0.1",
            "0.0.0.0",
            "::",
            "::ffff:0.0.0.0",
            "example.com",
            "",
        ):
            self.assertRefused(host, 5000, Refusal.NOT_UNICAST)

    def test_notUnicastStaysRefused(self) -> None:
        """
        A multicast source is refused every time, not only the first.
        """
        for _ in range(3):
            self.assertRefused("224.0.0.1", 5000, Refusal.NOT_UNICAST)

    def test_unicast(self) -> None:
        """
        Unicast IPv4, IPv6 (with a scope too) and IPv4-mapped sources are
        admitted.
        """
        for host in (
            ALICE,
            "10.0.0.255",
            "127.0.0.1",
            "2001:db8::1",
            "::1",
            "fe80::1%eth0",
            "::ffff:192.0.2.1",
        ):
            self.assertTrue(self.guard.admit(host, 5000), host)
        self.assertEqual(sum(self.guard.refused.values()), 0)


class DatagramGuardRateTests(SynchronousTestCase):
    """
    L{DatagramGuard}'s per-source and global token buckets.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def test_defaults(self) -> None:
        """
        By default both buckets are on, with the documented rates and
        bursts.
        """
        guard = DatagramGuard(self.clock)
        self.assertEqual(
            (guard.sourceRate, guard.sourceBurst, guard.globalRate, guard.globalBurst),
            (
                DEFAULT_SOURCE_RATE,
                DEFAULT_SOURCE_BURST,
                DEFAULT_GLOBAL_RATE,
                DEFAULT_GLOBAL_BURST,
            ),
        )
        self.assertEqual(admitted(guard, ALICE, DEFAULT_SOURCE_BURST + 10), 2000)

    def test_sourceBurstThenRefused(self) -> None:
        """
        A source gets its burst at once, then is refused for its rate.
        """
        guard = DatagramGuard(self.clock, sourceRate=10, sourceBurst=5)
        self.assertEqual([guard.admit(ALICE, 5000) for _ in range(5)], [True] * 5)
        with capturedLogs():
            self.assertFalse(guard.admit(ALICE, 5000))
        self.assertEqual(guard.refused[Refusal.SOURCE_RATE], 1)

    def test_sourceRefills(self) -> None:
        """
        An emptied source bucket gains one datagram per C{1/sourceRate}
        seconds.
        """
        guard = DatagramGuard(self.clock, sourceRate=10, sourceBurst=5)
        self.assertEqual(admitted(guard, ALICE, 10), 5)
        self.clock.advance(0.1)
        self.assertEqual(admitted(guard, ALICE, 10), 1)
        self.clock.advance(0.05)
        self.assertEqual(admitted(guard, ALICE, 10), 0)
        self.clock.advance(0.05)
        self.assertEqual(admitted(guard, ALICE, 10), 1)

    def test_sourceRefillCapped(self) -> None:
        """
        However long a source stays quiet, it gets back its burst, no more.
        """
        guard = DatagramGuard(self.clock, sourceRate=10, sourceBurst=5)
        self.assertEqual(admitted(guard, ALICE, 10), 5)
        self.clock.advance(3600)
        self.assertEqual(admitted(guard, ALICE, 10), 5)

    def test_sourcesIndependent(self) -> None:
        """
        One source's flood does not take anything from another source.
        """
        guard = DatagramGuard(self.clock, sourceRate=10, sourceBurst=5)
        self.assertEqual(admitted(guard, ALICE, 1000), 5)
        self.assertEqual(admitted(guard, BOB, 10), 5)
        self.assertEqual(admitted(guard, "2001:db8::1", 10), 5)

    def test_sourceIsTheHost(self) -> None:
        """
        The per-source bucket is per address: changing source port does not
        get more.
        """
        guard = DatagramGuard(self.clock, sourceRate=10, sourceBurst=5)
        with capturedLogs():
            results = [guard.admit(ALICE, 5000 + i) for i in range(10)]
        self.assertEqual(results, [True] * 5 + [False] * 5)

    def test_globalCap(self) -> None:
        """
        The global bucket caps what all sources together get, and refills
        at the global rate.
        """
        guard = DatagramGuard(
            self.clock, sourceRate=10, sourceBurst=5, globalRate=20, globalBurst=8
        )
        total = sum(admitted(guard, f"192.0.2.{i}", 5) for i in range(1, 11))
        self.assertEqual(total, 8)
        self.assertEqual(guard.refused[Refusal.GLOBAL_RATE], 42)
        self.clock.advance(0.1)
        self.assertEqual(admitted(guard, "192.0.2.20", 5), 2)

    def test_sourceRefusalKeepsGlobalTokens(self) -> None:
        """
        A datagram refused for its source's rate does not use up the global
        bucket.
        """
        guard = DatagramGuard(
            self.clock, sourceRate=1, sourceBurst=1, globalRate=1, globalBurst=3
        )
        self.assertEqual(admitted(guard, ALICE, 100), 1)
        self.assertEqual(guard.refused[Refusal.SOURCE_RATE], 99)
        self.assertTrue(guard.admit(BOB, 5000))
        self.assertTrue(guard.admit("192.0.2.3", 5000))
        with capturedLogs():
            self.assertFalse(guard.admit("192.0.2.4", 5000))
        self.assertEqual(guard.refused[Refusal.GLOBAL_RATE], 1)

    def test_globalRefusalKeepsSourceTokens(self) -> None:
        """
        A datagram refused for the global rate does not use up its source's
        bucket.
        """
        guard = DatagramGuard(
            self.clock, sourceRate=0.001, sourceBurst=2, globalRate=1, globalBurst=1
        )
        self.assertTrue(guard.admit(ALICE, 5000))
        self.assertEqual(admitted(guard, ALICE, 5), 0)
        self.assertEqual(guard.refused[Refusal.GLOBAL_RATE], 5)
        self.clock.advance(1)
        self.assertTrue(guard.admit(ALICE, 5000))
        self.clock.advance(1)
        self.assertEqual(admitted(guard, ALICE, 1), 0)
        self.assertEqual(guard.refused[Refusal.SOURCE_RATE], 1)

    def test_sourceRateZeroDisables(self) -> None:
        """
        A per-source rate of 0 turns the per-source bucket off.
        """
        guard = DatagramGuard(self.clock, sourceRate=0, sourceBurst=1, globalRate=0)
        self.assertEqual(admitted(guard, ALICE, 10000), 10000)

    def test_sourceRateZeroKeepsGlobal(self) -> None:
        """
        With the per-source bucket off, the global one still applies.
        """
        guard = DatagramGuard(
            self.clock, sourceRate=0, sourceBurst=1, globalRate=10, globalBurst=7
        )
        self.assertEqual(admitted(guard, ALICE, 100), 7)
        self.assertEqual(guard.refused[Refusal.GLOBAL_RATE], 93)

    def test_globalRateZeroDisables(self) -> None:
        """
        A global rate of 0 turns the global bucket off: each source still
        gets its own burst, however many sources there are.
        """
        guard = DatagramGuard(
            self.clock, sourceRate=10, sourceBurst=5, globalRate=0, globalBurst=1
        )
        total = sum(
            admitted(guard, f"10.0.{i // 256}.{i % 256}", 6) for i in range(1000)
        )
        self.assertEqual(total, 5000)
        self.assertEqual(guard.refused[Refusal.GLOBAL_RATE], 0)

    def test_badSettings(self) -> None:
        """
        A negative rate or a burst below 1 is a L{ValueError}.
        """
        for settings_ in (
            {"sourceRate": -1},
            {"globalRate": -0.5},
            {"sourceBurst": 0},
            {"globalBurst": 0.5},
        ):
            with self.assertRaises(ValueError, msg=repr(settings_)):
                DatagramGuard(self.clock, **settings_)

    @settings(max_examples=200, deadline=None)
    @given(
        steps=st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=300),
                st.one_of(
                    st.sampled_from(
                        [ALICE, BOB, "2001:db8::1", "224.0.0.1", "::", "fe80::1%lo"]
                    ),
                    st.text(max_size=12),
                ),
                st.one_of(
                    st.sampled_from([7, 1023, 1024, 5000, 21568]),
                    st.integers(min_value=0, max_value=65535),
                ),
            ),
            max_size=300,
        ),
        globalRate=st.sampled_from([0, 50]),
    )
    def test_sourceNeverOverItsShare(
        self, steps: list[tuple[int, str, int]], globalRate: int
    ) -> None:
        """
        Whatever arrives when, admit never raises, and over any window of T
        seconds a source is admitted at most C{burst + rate * T} times.
        """
        clock = Clock()
        rate, burst = 10, 5
        guard = DatagramGuard(
            clock, sourceRate=rate, sourceBurst=burst, globalRate=globalRate
        )
        guard.ownPort = 21568
        times: dict[str, list[float]] = {}
        with capturedLogs():
            for milliseconds, host, port in steps:
                clock.advance(milliseconds / 1000)
                if guard.admit(host, port):
                    self.assertGreaterEqual(port, 1024)
                    self.assertNotEqual(port, 21568)
                    times.setdefault(host, []).append(clock.seconds())
        for host, seen in times.items():
            for first in range(len(seen)):
                for last in range(first, len(seen)):
                    window = seen[last] - seen[first]
                    self.assertLessEqual(
                        last - first + 1, burst + rate * window + 1e-6, host
                    )


class DatagramGuardSourceTableTests(SynchronousTestCase):
    """
    L{DatagramGuard} tracks a bounded number of sources.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def test_bounded(self) -> None:
        """
        Ten thousand distinct sources never make the guard track more than
        C{maxSources} of them (checked on the private C{_sources} table),
        and every new source is still admitted.
        """
        guard = DatagramGuard(self.clock, sourceRate=10, sourceBurst=5, maxSources=100)
        largest = 0
        for i in range(10000):
            host = f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"
            self.assertTrue(guard.admit(host, 5000), host)
            largest = max(largest, len(guard._sources))
            if i % 7 == 0:
                self.clock.advance(0.01)
        self.assertEqual(largest, 100)

    def test_boundedWithNotUnicast(self) -> None:
        """
        Sources that are never answered count towards the bound too, and
        stay refused after being forgotten (checked on the private
        C{_sources} table).
        """
        guard = DatagramGuard(self.clock, maxSources=10)
        with capturedLogs():
            for i in range(1000):
                self.assertFalse(guard.admit(f"ff02::{i + 1:x}", 5000))
                self.assertLessEqual(len(guard._sources), 10)
        self.assertEqual(guard.refused[Refusal.NOT_UNICAST], 1000)
        self.assertTrue(guard.admit(ALICE, 5000))

    def test_floodingSourceRemembered(self) -> None:
        """
        When the table is full, sources whose bucket has refilled are
        forgotten first: a source still over its rate keeps its emptied
        bucket rather than getting a fresh burst.
        """
        guard = DatagramGuard(
            self.clock, sourceRate=10, sourceBurst=5, globalRate=0, maxSources=3
        )
        self.assertEqual(admitted(guard, ALICE, 100), 5)
        self.assertTrue(guard.admit(BOB, 5000))
        self.assertTrue(guard.admit("192.0.2.3", 5000))
        self.clock.advance(0.1)
        # Bob and 192.0.2.3 are full again; Alice has one datagram's worth.
        self.assertTrue(guard.admit("192.0.2.4", 5000))
        self.assertEqual(admitted(guard, ALICE, 100), 1)


class DatagramGuardLogTests(SynchronousTestCase):
    """
    L{DatagramGuard} counts refusals by reason and logs them at a bounded
    rate.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.guard = DatagramGuard(self.clock, sourceRate=10, sourceBurst=5)

    def test_countedByReason(self) -> None:
        """
        C{refused} starts at zero for every L{Refusal} and counts each
        refusal under its reason.
        """
        self.assertEqual(self.guard.refused, dict.fromkeys(Refusal, 0))
        self.guard.ownPort = 21568
        with capturedLogs():
            for _ in range(2):
                self.guard.admit(ALICE, 7)
            for _ in range(3):
                self.guard.admit(ALICE, 21568)
            for _ in range(4):
                self.guard.admit("224.0.0.1", 5000)
            for _ in range(11):
                self.guard.admit(BOB, 5000)
        self.assertEqual(
            self.guard.refused,
            {
                Refusal.PRIVILEGED_PORT: 2,
                Refusal.OWN_PORT: 3,
                Refusal.SERVICE_PORT: 0,
                Refusal.NOT_UNICAST: 4,
                Refusal.SOURCE_RATE: 6,
                Refusal.GLOBAL_RATE: 0,
            },
        )

    def test_refusalLogged(self) -> None:
        """
        A refusal is logged as a warning with its source and reason.
        """
        with capturedLogs() as events:
            self.guard.admit(ALICE, 19)
        [event] = warnings(events)
        self.assertEqual((event["host"], event["port"]), (ALICE, 19))
        self.assertEqual(event["reason"], Refusal.PRIVILEGED_PORT.value)
        self.assertIn("192.0.2.1:19", formatEvent(event))
        self.assertIn("below 1024", formatEvent(event))

    def test_floodLoggedOnce(self) -> None:
        """
        Many refusals within the interval make one log event per reason;
        the next one after the interval reports how many were not logged.
        """
        with capturedLogs() as events:
            for _ in range(1000):
                self.guard.admit(ALICE, 7)
                self.guard.admit(BOB, 5000)
        self.assertEqual(
            [event["reason"] for event in warnings(events)],
            [Refusal.PRIVILEGED_PORT.value, Refusal.SOURCE_RATE.value],
        )
        self.clock.advance(10)
        with capturedLogs() as events:
            for _ in range(1000):
                self.guard.admit(ALICE, 7)
        [event] = warnings(events)
        self.assertEqual(event["suppressed"], 999)
        self.assertIn("999 more like this not logged", formatEvent(event))

    def test_admittedNotLogged(self) -> None:
        """
        Admitted datagrams are not logged.
        """
        with capturedLogs() as events:
            for _ in range(5):
                self.assertTrue(self.guard.admit(ALICE, 5000))
        self.assertEqual(warnings(events), [])


class DatagramGuardServicePortTests(SynchronousTestCase):
    """
    Datagrams from netlab's service ports are refused, so that two netlab UDP
    services cannot be made to answer each other for ever.
    """

    def test_servicePortsRefused(self) -> None:
        """
        A datagram from port 21567, 21568 or 21569 is refused as
        L{Refusal.SERVICE_PORT}; the ports around them are answered.
        """
        guard = DatagramGuard(Clock())
        for port in (21567, 21568, 21569):
            self.assertFalse(guard.admit("192.0.2.1", port), port)
        for port in (21566, 21570):
            self.assertTrue(guard.admit("192.0.2.1", port), port)
        self.assertEqual(guard.refused[Refusal.SERVICE_PORT], 3)
