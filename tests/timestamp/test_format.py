"""
Tests for L{netlab.timestamp._format}: the timestamp wire format
(L{formatTime}, L{clockTime}, L{formatStamp}, L{parseStamp}) and
L{Stamper}.

Tests that use the local time set the C{TZ} environment variable to a known
zone, so they do not depend on the zone of the machine running them.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from netlab.errors import MalformedReply
from netlab.timestamp import (
    Stamper,
    TimeFormat,
    TimestampReply,
    clockTime,
    formatStamp,
    formatTime,
    parseStamp,
)

NOV22 = 1795391173
"""
Sun Nov 22 23:46:13 2026 UTC: 18:46:13 in New York (EST, -05:00), 00:46:13
the next day in Berlin (CET, +01:00), 05:16:13 the next day in Kolkata (IST,
+05:30).
"""

NOV1 = 1793534400
"""
Sun Nov 1 12:00:00 2026 UTC: a day of the month with one digit.
"""

ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "UTC")


def setZone(zone: str) -> None:
    """
    Make C{zone} this process's local time zone.

    @param zone: an IANA zone name, for the C{TZ} environment variable.
    """
    os.environ["TZ"] = zone
    time.tzset()


def preserveZone(testCase: SynchronousTestCase) -> None:
    """
    Restore the process's local time zone when C{testCase} ends, whatever
    L{setZone} does in between.

    @param testCase: the running test.
    """
    previous = os.environ.get("TZ")

    def restore() -> None:
        if previous is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = previous
        time.tzset()

    testCase.addCleanup(restore)


def useZone(testCase: SynchronousTestCase, zone: str) -> None:
    """
    Make C{zone} the local time zone for the rest of C{testCase}.

    @param testCase: the running test.
    @param zone: an IANA zone name.
    """
    preserveZone(testCase)
    setZone(zone)


def clockAt(seconds: float) -> Clock:
    """
    @param seconds: seconds since the POSIX epoch.
    @return: a L{Clock} reading C{seconds}.
    """
    clock = Clock()
    clock.advance(seconds)
    return clock


fixedOffsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
"""
Fixed UTC offsets, in whole minutes, from -23:59 to +23:59.
"""

wholeSecondTimes = st.datetimes(
    # A day's margin at each end, so that every such time, whatever its
    # offset, is also a representable UTC datetime.
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.one_of(st.just(timezone.utc), fixedOffsets),
).map(lambda when: when.replace(microsecond=0))
"""
Aware datetimes at whole seconds, with fixed offsets.
"""

clockReadings = st.integers(min_value=-(2**31), max_value=2**34).flatmap(
    lambda whole: st.floats(min_value=0, max_value=1, exclude_max=True).map(
        lambda fraction: whole + fraction
    )
)
"""
Clock readings from 1901 to 2514, with fractions of a second.
"""


class FormatTimeTests(SynchronousTestCase):
    """
    Tests for L{formatTime} and L{clockTime}, with times read from a
    L{Clock}.
    """

    def setUp(self) -> None:
        preserveZone(self)

    def stamp(self, seconds: float, format: TimeFormat, utc: bool) -> str:
        """
        @return: the stamp a server with a clock reading C{seconds} writes.
        """
        return formatTime(clockTime(clockAt(seconds).seconds(), utc), format)

    def test_ctimeUTC(self) -> None:
        """
        The ctime format in UTC is the classic C{time.ctime()} text of the UTC
        wall clock.
        """
        setZone("Asia/Kolkata")
        self.assertEqual(
            self.stamp(NOV22, TimeFormat.CTIME, True), "Sun Nov 22 23:46:13 2026"
        )

    def test_ctimeLocal(self) -> None:
        """
        The ctime format in local time is the local wall clock, with the day
        of the week and the date of the local zone.
        """
        expected = {
            "America/New_York": "Sun Nov 22 18:46:13 2026",
            "Europe/Berlin": "Mon Nov 23 00:46:13 2026",
            "Asia/Kolkata": "Mon Nov 23 05:16:13 2026",
            "UTC": "Sun Nov 22 23:46:13 2026",
        }
        for zone, text in expected.items():
            setZone(zone)
            self.assertEqual(self.stamp(NOV22, TimeFormat.CTIME, False), text, zone)

    def test_ctimePadsDayWithSpace(self) -> None:
        """
        A day of the month with one digit is padded with a space, as
        C{time.ctime()} does.
        """
        setZone("Europe/Berlin")
        self.assertEqual(
            self.stamp(NOV1, TimeFormat.CTIME, True), "Sun Nov  1 12:00:00 2026"
        )
        self.assertEqual(
            self.stamp(NOV1, TimeFormat.CTIME, False), "Sun Nov  1 13:00:00 2026"
        )

    def test_isoUTC(self) -> None:
        """
        The ISO format in UTC writes the zero offset as C{Z}.
        """
        setZone("America/New_York")
        self.assertEqual(
            self.stamp(NOV22, TimeFormat.ISO, True), "2026-11-22T23:46:13Z"
        )
        self.assertEqual(self.stamp(NOV1, TimeFormat.ISO, True), "2026-11-01T12:00:00Z")

    def test_isoLocal(self) -> None:
        """
        The ISO format in local time writes the local wall clock and its
        offset, C{Z} when the local offset is zero.
        """
        expected = {
            "America/New_York": "2026-11-22T18:46:13-05:00",
            "Europe/Berlin": "2026-11-23T00:46:13+01:00",
            "Asia/Kolkata": "2026-11-23T05:16:13+05:30",
            "UTC": "2026-11-22T23:46:13Z",
        }
        for zone, text in expected.items():
            setZone(zone)
            self.assertEqual(self.stamp(NOV22, TimeFormat.ISO, False), text, zone)

    def test_isoLocalSummerTime(self) -> None:
        """
        The ISO format in local time writes the offset in force at that
        time, daylight saving time included.
        """
        setZone("America/New_York")
        july4 = 1783166400  # 2026-07-04T12:00:00Z
        self.assertEqual(
            self.stamp(july4, TimeFormat.ISO, False), "2026-07-04T08:00:00-04:00"
        )

    def test_unix(self) -> None:
        """
        The Unix format is the whole number of seconds since the POSIX epoch,
        the same in UTC and in every local zone.
        """
        for zone in ZONES:
            setZone(zone)
            for utc in (True, False):
                self.assertEqual(
                    self.stamp(NOV22, TimeFormat.UNIX, utc), "1795391173", zone
                )

    def test_fractionsRoundedDown(self) -> None:
        """
        Fractions of a second are dropped, never rounded up, in every format.
        """
        setZone("Asia/Kolkata")
        seconds = NOV22 + 0.999
        self.assertEqual(self.stamp(seconds, TimeFormat.UNIX, True), "1795391173")
        self.assertEqual(self.stamp(seconds, TimeFormat.UNIX, False), "1795391173")
        self.assertEqual(
            self.stamp(seconds, TimeFormat.ISO, True), "2026-11-22T23:46:13Z"
        )
        self.assertEqual(
            self.stamp(seconds, TimeFormat.CTIME, False), "Mon Nov 23 05:16:13 2026"
        )

    def test_beforeEpochRoundedDown(self) -> None:
        """
        Before the epoch too, fractions are rounded down (towards the past).
        """
        self.assertEqual(self.stamp(-0.5, TimeFormat.UNIX, True), "-1")
        self.assertEqual(self.stamp(-0.5, TimeFormat.ISO, True), "1969-12-31T23:59:59Z")

    def test_clockTimeIsAwareWholeSeconds(self) -> None:
        """
        L{clockTime} gives an aware datetime with no fraction of a second,
        in UTC or at the local zone's offset.
        """
        setZone("Asia/Kolkata")
        utc = clockTime(NOV22 + 0.75, utc=True)
        local = clockTime(NOV22 + 0.75)
        self.assertEqual(utc, datetime(2026, 11, 22, 23, 46, 13, tzinfo=timezone.utc))
        self.assertEqual(utc.utcoffset(), timedelta(0))
        self.assertEqual(local.utcoffset(), timedelta(hours=5, minutes=30))
        self.assertEqual(local, utc)
        self.assertEqual((local.microsecond, utc.microsecond), (0, 0))

    def test_formatTimeDropsFractions(self) -> None:
        """
        L{formatTime} drops the fraction of a datetime it is given.
        """
        when = datetime(2026, 11, 22, 23, 46, 13, 999999, tzinfo=timezone.utc)
        self.assertEqual(formatTime(when, TimeFormat.ISO), "2026-11-22T23:46:13Z")
        self.assertEqual(formatTime(when, TimeFormat.UNIX), "1795391173")
        self.assertEqual(formatTime(when, TimeFormat.CTIME), "Sun Nov 22 23:46:13 2026")

    def test_ctimeOfNaiveDatetime(self) -> None:
        """
        The ctime format writes a naive datetime's wall-clock fields as they
        are.
        """
        self.assertEqual(
            formatTime(datetime(2026, 11, 1, 7, 5, 9), TimeFormat.CTIME),
            "Sun Nov  1 07:05:09 2026",
        )

    def test_naiveNeedsZone(self) -> None:
        """
        The ISO and Unix formats refuse a naive datetime with L{ValueError}.
        """
        naive = datetime(2026, 11, 22, 23, 46, 13)
        self.assertRaises(ValueError, formatTime, naive, TimeFormat.ISO)
        self.assertRaises(ValueError, formatTime, naive, TimeFormat.UNIX)

    @settings(max_examples=50)
    @given(seconds=clockReadings)
    def test_ctimeMatchesTimeModule(self, seconds: float) -> None:
        """
        The ctime format is exactly C{time.ctime(s)} in local time, and
        C{time.asctime(time.gmtime(s))} in UTC, whatever the zone.
        """
        for zone in ("America/New_York", "Asia/Kolkata", "Europe/Berlin"):
            setZone(zone)
            self.assertEqual(
                formatTime(clockTime(seconds), TimeFormat.CTIME), time.ctime(seconds)
            )
            self.assertEqual(
                formatTime(clockTime(seconds, utc=True), TimeFormat.CTIME),
                time.asctime(time.gmtime(seconds)),
            )

    @settings(max_examples=50)
    @given(seconds=clockReadings)
    def test_unixSameEverywhere(self, seconds: float) -> None:
        """
        The Unix format is the clock reading rounded down, in UTC and in any
        local zone.
        """
        for zone in ("America/New_York", "Asia/Kolkata"):
            setZone(zone)
            for utc in (True, False):
                self.assertEqual(
                    formatTime(clockTime(seconds, utc), TimeFormat.UNIX),
                    str(int(seconds // 1)),
                )

    @given(when=wholeSecondTimes, format=st.sampled_from(TimeFormat))
    def test_asciiWithoutBracket(self, when: datetime, format: TimeFormat) -> None:
        """
        A stamp is ASCII text that never contains C{"]"}, so that it cannot
        end a stamped reply early.
        """
        text = formatTime(when, format)
        self.assertTrue(text.isascii())
        self.assertNotIn("]", text)


class FormatStampTests(SynchronousTestCase):
    """
    Tests for L{formatStamp}.
    """

    when = datetime(2026, 11, 22, 23, 46, 13, tzinfo=timezone.utc)

    def test_classic(self) -> None:
        """
        A stamped reply is the stamp in brackets, a space, and the data.
        """
        self.assertEqual(
            formatStamp(self.when, b"hello", TimeFormat.CTIME),
            b"[Sun Nov 22 23:46:13 2026] hello",
        )
        self.assertEqual(
            formatStamp(self.when, b"hello", TimeFormat.ISO),
            b"[2026-11-22T23:46:13Z] hello",
        )
        self.assertEqual(
            formatStamp(self.when, b"hello", TimeFormat.UNIX), b"[1795391173] hello"
        )

    def test_emptyData(self) -> None:
        """
        Empty data gives the stamp alone, still followed by its space.
        """
        self.assertEqual(formatStamp(self.when, b"", TimeFormat.UNIX), b"[1795391173] ")

    def test_noLineEndingAdded(self) -> None:
        """
        No line ending is added, and one in the data is kept as it is.
        """
        self.assertEqual(
            formatStamp(self.when, b"hi\r\n", TimeFormat.UNIX), b"[1795391173] hi\r\n"
        )

    @given(
        when=wholeSecondTimes,
        data=st.binary(),
        format=st.sampled_from(TimeFormat),
    )
    def test_dataUntouched(
        self, when: datetime, data: bytes, format: TimeFormat
    ) -> None:
        """
        The reply is C{b"[" + stamp + b"] " + data} with the data byte for
        byte, UTF-8 or not.
        """
        stamp = formatTime(when, format).encode("ascii")
        self.assertEqual(formatStamp(when, data, format), b"[" + stamp + b"] " + data)

    def test_nonUTF8Data(self) -> None:
        """
        Bytes that are not UTF-8 are echoed unchanged.
        """
        data = b"\xff\xfe\x00\x80 caf\xe9"
        self.assertEqual(
            formatStamp(self.when, data, TimeFormat.ISO),
            b"[2026-11-22T23:46:13Z] " + data,
        )


def expectedWhen(when: datetime, format: TimeFormat) -> datetime:
    """
    @return: what L{parseStamp} should give back for C{when} stamped in
        C{format}: the wall clock, naive, for ctime; the instant otherwise.
    """
    if format is TimeFormat.CTIME:
        return when.replace(tzinfo=None)
    return when


# Stamps shaped like each format, with values in and out of range, to reach
# the parsers rather than be turned away by format detection.
looseStamps = st.one_of(
    st.from_regex(r"\A-?[0-9]{1,25}\Z"),
    st.from_regex(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
        r"(Z|[+-][0-9]{2}:[0-9]{2}(:[0-9]{2})?)\Z"
    ),
    st.from_regex(
        r"\A(Mon|Tue|Wed|Thu|Fri|Sat|Sun|Abc) (Jan|Feb|Nov|Dec|Xyz) "
        r"[ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{1,5}\Z"
    ),
)


class ParseStampTests(SynchronousTestCase):
    """
    Tests for L{parseStamp}.
    """

    def test_parseCtime(self) -> None:
        """
        A ctime reply parses to its naive wall-clock time, its data and
        L{TimeFormat.CTIME}.
        """
        self.assertEqual(
            parseStamp(b"[Sun Nov  1 07:05:09 2026] hello"),
            TimestampReply(datetime(2026, 11, 1, 7, 5, 9), b"hello", TimeFormat.CTIME),
        )

    def test_parseIso(self) -> None:
        """
        An ISO reply parses to an aware time with the offset it was written
        with.
        """
        reply = parseStamp(b"[2026-11-23T05:16:13+05:30] hello")
        self.assertEqual(reply.format, TimeFormat.ISO)
        self.assertEqual(reply.data, b"hello")
        self.assertEqual(
            reply.when, datetime(2026, 11, 22, 23, 46, 13, tzinfo=timezone.utc)
        )
        self.assertEqual(reply.when.utcoffset(), timedelta(hours=5, minutes=30))

    def test_parseIsoZ(self) -> None:
        """
        An ISO reply ending in C{Z} parses to an aware UTC time.
        """
        reply = parseStamp(b"[2026-11-22T23:46:13Z] x")
        self.assertEqual(
            reply.when, datetime(2026, 11, 22, 23, 46, 13, tzinfo=timezone.utc)
        )
        self.assertEqual(reply.when.utcoffset(), timedelta(0))

    def test_parseUnix(self) -> None:
        """
        A Unix reply parses to the aware UTC time that many seconds after the
        epoch.
        """
        self.assertEqual(
            parseStamp(b"[1795391173] x"),
            TimestampReply(
                datetime(2026, 11, 22, 23, 46, 13, tzinfo=timezone.utc),
                b"x",
                TimeFormat.UNIX,
            ),
        )
        self.assertEqual(
            parseStamp(b"[-1] x").when,
            datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
        )

    def test_formatsDetected(self) -> None:
        """
        The format is recognised from the stamp itself, without being told.
        """
        self.assertEqual(
            [
                parseStamp(reply).format
                for reply in (
                    b"[Sun Nov 22 23:46:13 2026] a",
                    b"[2026-11-22T23:46:13Z] a",
                    b"[1795391173] a",
                    b"[0] a",
                )
            ],
            [TimeFormat.CTIME, TimeFormat.ISO, TimeFormat.UNIX, TimeFormat.UNIX],
        )

    def test_dataMayContainBrackets(self) -> None:
        """
        Only the first C{"] "} ends the stamp: the data may contain brackets,
        line endings and any other bytes.
        """
        reply = parseStamp(b"[1795391173] [x] ] \r\n\xff")
        self.assertEqual(reply.data, b"[x] ] \r\n\xff")

    def test_emptyData(self) -> None:
        """
        A reply with empty data parses to empty data.
        """
        self.assertEqual(parseStamp(b"[1795391173] ").data, b"")

    @given(
        when=wholeSecondTimes,
        data=st.binary(),
        format=st.sampled_from(TimeFormat),
    )
    def test_roundTrip(self, when: datetime, data: bytes, format: TimeFormat) -> None:
        """
        Parsing a stamped reply gives back its time (naive wall clock for
        ctime), its data and its format.
        """
        parsed = parseStamp(formatStamp(when, data, format))
        self.assertEqual(
            parsed, TimestampReply(expectedWhen(when, format), data, format)
        )
        if format is TimeFormat.ISO:
            self.assertEqual(parsed.when.utcoffset(), when.utcoffset())
        elif format is TimeFormat.UNIX:
            self.assertEqual(parsed.when.utcoffset(), timedelta(0))
        else:
            self.assertIsNone(parsed.when.tzinfo)

    @settings(max_examples=30)
    @given(seconds=clockReadings, data=st.binary(max_size=20))
    def test_roundTripLocalServer(self, seconds: float, data: bytes) -> None:
        """
        What a server stamps with local time in any zone parses back to its
        clock reading, to the second.
        """
        preserveZone(self)
        whole = int(seconds // 1)
        for zone in ("America/New_York", "Asia/Kolkata"):
            setZone(zone)
            when = clockTime(seconds)
            for format in (TimeFormat.ISO, TimeFormat.UNIX):
                parsed = parseStamp(formatStamp(when, data, format))
                self.assertEqual(parsed.when.timestamp(), whole)
                self.assertEqual(parsed.data, data)
            ctime = parseStamp(formatStamp(when, data, TimeFormat.CTIME)).when
            self.assertEqual(ctime, when.replace(tzinfo=None))

    @settings(max_examples=300)
    @given(reply=st.binary())
    def test_arbitraryBytes(self, reply: bytes) -> None:
        """
        Whatever the bytes, L{parseStamp} parses them or raises
        L{MalformedReply}, never anything else.
        """
        try:
            parseStamp(reply)
        except MalformedReply:
            pass

    @settings(max_examples=300)
    @given(stamp=looseStamps, data=st.binary(max_size=10))
    def test_stampLikeBytes(self, stamp: str, data: bytes) -> None:
        """
        Stamps shaped like a format but with any values (month 13, hour 24,
        huge numbers, offsets out of range) parse or raise L{MalformedReply},
        never anything else.
        """
        reply = b"[" + stamp.encode("ascii") + b"] " + data
        try:
            parsed = parseStamp(reply)
        except MalformedReply as e:
            self.assertEqual(e.reply, reply)
        else:
            self.assertEqual(parsed.data, data)

    def assertMalformed(self, reply: bytes) -> None:
        """
        Assert that L{parseStamp} refuses C{reply} with L{MalformedReply}
        carrying it.
        """
        e = self.assertRaises(MalformedReply, parseStamp, reply)
        self.assertEqual(e.reply, reply)

    def test_noOpeningBracket(self) -> None:
        """
        A reply that does not start with C{"["} is malformed.
        """
        self.assertMalformed(b"Sun Nov 22 23:46:13 2026] hello")
        self.assertMalformed(b" [1795391173] hello")
        self.assertMalformed(b"")

    def test_noClosingBracketSpace(self) -> None:
        """
        A reply with no C{"] "} after its stamp is malformed.
        """
        self.assertMalformed(b"[1795391173]hello")
        self.assertMalformed(b"[1795391173 hello")
        self.assertMalformed(b"[1795391173]")
        self.assertMalformed(b"[")

    def test_badWeekday(self) -> None:
        """
        A ctime stamp whose day of the week is not that of its date, or not
        a day name, is malformed.
        """
        self.assertMalformed(b"[Mon Nov 22 23:46:13 2026] hello")
        self.assertMalformed(b"[Xyz Nov 22 23:46:13 2026] hello")

    def test_badMonth(self) -> None:
        """
        A ctime stamp with an unknown month name is malformed.
        """
        self.assertMalformed(b"[Sun Noo 22 23:46:13 2026] hello")
        self.assertMalformed(b"[Sun Nov 31 23:46:13 2026] hello")

    def test_badTimeOfDay(self) -> None:
        """
        An hour of 24, or a minute or second of 60 or more, is malformed.
        """
        self.assertMalformed(b"[Sun Nov 22 24:00:00 2026] hello")
        self.assertMalformed(b"[Sun Nov 22 23:60:00 2026] hello")
        self.assertMalformed(b"[2026-11-22T24:00:00Z] hello")
        self.assertMalformed(b"[2026-11-22T23:46:61Z] hello")

    def test_badIso(self) -> None:
        """
        An ISO stamp with an impossible date or offset is malformed.
        """
        self.assertMalformed(b"[2026-13-01T00:00:00Z] hello")
        self.assertMalformed(b"[2026-02-30T00:00:00Z] hello")
        self.assertMalformed(b"[2026-11-22T23:46:13+24:00] hello")
        self.assertMalformed(b"[2026-11-22 23:46:13Z] hello")
        self.assertMalformed(b"[2026-11-22T23:46:13] hello")

    def test_nonASCIIStamp(self) -> None:
        """
        A stamp with bytes outside ASCII is malformed.
        """
        self.assertMalformed(b"[Sun Nov 22 23:46:13 2026\xc3\xa9] hello")
        self.assertMalformed(b"[\xff] hello")
        # Fullwidth digits, which are digits to Unicode but not to ASCII.
        self.assertMalformed("[\uff11\uff17\uff19\uff15] hello".encode())

    def test_hugeUnix(self) -> None:
        """
        A Unix stamp too large for a datetime is malformed.
        """
        self.assertMalformed(b"[" + b"9" * 18 + b"] hello")
        self.assertMalformed(b"[-" + b"9" * 18 + b"] hello")
        self.assertMalformed(b"[" + b"9" * 400 + b"] hello")
        self.assertMalformed(b"[253402300800] hello")  # 10000-01-01T00:00:00Z

    def test_notATime(self) -> None:
        """
        A stamp that is no time at all is malformed.
        """
        self.assertMalformed(b"[] hello")
        self.assertMalformed(b"[hello] world")
        self.assertMalformed(b"[01] leading zero")
        self.assertMalformed(b"[+5] sign")
        self.assertMalformed(b"[error: line too long] x")


class StamperTests(SynchronousTestCase):
    """
    Tests for L{Stamper}.
    """

    def test_stampIsPrefixAndData(self) -> None:
        """
        L{Stamper.stamp} is L{Stamper.prefix} followed by the data, untouched.
        """
        stamper = Stamper(clockAt(NOV22), utc=True)
        for data in (b"hello", b"", b"\xff\x00\r\n"):
            self.assertEqual(stamper.stamp(data), stamper.prefix() + data)
        self.assertEqual(stamper.prefix(), b"[Sun Nov 22 23:46:13 2026] ")

    def test_sameWithinSecond(self) -> None:
        """
        The prefix stays the same while the clock stays within one second.
        """
        clock = clockAt(NOV22)
        stamper = Stamper(clock, TimeFormat.UNIX)
        first = stamper.prefix()
        clock.advance(0.999)
        self.assertEqual(stamper.prefix(), first)
        self.assertEqual(first, b"[1795391173] ")

    def test_changesWithSecond(self) -> None:
        """
        Once the clock crosses into the next second, the prefix is that of
        the new second.
        """
        clock = clockAt(NOV22 + 0.5)
        stamper = Stamper(clock, TimeFormat.ISO, utc=True)
        self.assertEqual(stamper.stamp(b"a"), b"[2026-11-22T23:46:13Z] a")
        clock.advance(0.5)
        self.assertEqual(stamper.stamp(b"b"), b"[2026-11-22T23:46:14Z] b")
        clock.advance(59.75)
        self.assertEqual(stamper.stamp(b"c"), b"[2026-11-22T23:47:13Z] c")
        clock.advance(0.1)
        self.assertEqual(stamper.stamp(b"d"), b"[2026-11-22T23:47:13Z] d")

    def test_defaultsToLocalCtime(self) -> None:
        """
        By default a L{Stamper} writes ctime in the local zone.
        """
        useZone(self, "America/New_York")
        stamper = Stamper(clockAt(NOV22))
        self.assertEqual(stamper.stamp(b"hi"), b"[Sun Nov 22 18:46:13 2026] hi")
        self.assertEqual(
            stamper.stamp(b"hi"), b"[" + time.ctime(NOV22).encode() + b"] hi"
        )

    def test_formatAndUTCHonoured(self) -> None:
        """
        Every format, in UTC or local time, gives the stamp L{formatTime}
        writes for the clock's time.
        """
        useZone(self, "Asia/Kolkata")
        expected = {
            (TimeFormat.CTIME, True): b"[Sun Nov 22 23:46:13 2026] ",
            (TimeFormat.CTIME, False): b"[Mon Nov 23 05:16:13 2026] ",
            (TimeFormat.ISO, True): b"[2026-11-22T23:46:13Z] ",
            (TimeFormat.ISO, False): b"[2026-11-23T05:16:13+05:30] ",
            (TimeFormat.UNIX, True): b"[1795391173] ",
            (TimeFormat.UNIX, False): b"[1795391173] ",
        }
        for (format, utc), prefix in expected.items():
            stamper = Stamper(clockAt(NOV22 + 0.25), format, utc)
            self.assertEqual(stamper.prefix(), prefix, (format, utc))

    def test_stampParses(self) -> None:
        """
        What a L{Stamper} writes parses back to the clock's second and the
        data.
        """
        clock = clockAt(NOV22 + 0.9)
        for format in (TimeFormat.ISO, TimeFormat.UNIX):
            reply = parseStamp(Stamper(clock, format).stamp(b"data"))
            self.assertEqual(reply.when.timestamp(), NOV22)
            self.assertEqual((reply.data, reply.format), (b"data", format))
