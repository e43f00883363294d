"""
Tests for L{netlab.inettime._wire}: the RFC 868 time format (L{packTime},
L{unpackTime}) and the daytime lines (L{formatDaytime}, L{parseDaytime}).
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from netlab.errors import MalformedReply
from netlab.inettime import (
    DAYTIME_PORT,
    RFC868_OFFSET,
    TIME_PORT,
    DaytimeReply,
    formatDaytime,
    packTime,
    parseDaytime,
    unpackTime,
)
from netlab.timestamp import TimeFormat

WRAP = 2085978496
"""
2036-02-07T06:28:16Z, when the RFC 868 count wraps to 0.
"""

DEC2 = 1796218640
"""
2026-12-02T13:37:20Z, a Wednesday.
"""

UTC = timezone.utc


def unix(when: datetime) -> int:
    return int(when.timestamp())


class ConstantsTests(SynchronousTestCase):
    """
    The ports and the epoch offset.
    """

    def test_ports(self) -> None:
        """
        netlab's daytime and time ports are 21513 and 21537.
        """
        self.assertEqual((DAYTIME_PORT, TIME_PORT), (21513, 21537))

    def test_offset(self) -> None:
        """
        L{RFC868_OFFSET} is the seconds from 1900 to 1970.
        """
        self.assertEqual(
            RFC868_OFFSET,
            (datetime(1970, 1, 1, tzinfo=UTC) - datetime(1900, 1, 1, tzinfo=UTC))
            // timedelta(seconds=1),
        )

    def test_wrapMoment(self) -> None:
        """
        L{WRAP} is 2036-02-07T06:28:16Z, 2**32 seconds after 1900.
        """
        self.assertEqual(unix(datetime(2036, 2, 7, 6, 28, 16, tzinfo=UTC)), WRAP)
        self.assertEqual(WRAP + RFC868_OFFSET, 2**32)


class PackTimeTests(SynchronousTestCase):
    """
    Tests for L{packTime}.
    """

    def test_epoch(self) -> None:
        """
        1970-01-01T00:00:00Z is L{RFC868_OFFSET}, 4 bytes in network order.
        """
        self.assertEqual(packTime(0), b"\x83\xaa\x7e\x80")
        self.assertEqual(struct.unpack("!I", packTime(0)), (RFC868_OFFSET,))

    def test_2026(self) -> None:
        """
        A time in 2026 is its Unix seconds plus the offset.
        """
        self.assertEqual(packTime(DEC2), struct.pack("!I", DEC2 + RFC868_OFFSET))

    def test_fractionDropped(self) -> None:
        """
        Fractions of a second are rounded down.
        """
        self.assertEqual(packTime(DEC2 + 0.999), packTime(DEC2))
        self.assertEqual(packTime(-0.5), packTime(-1))

    def test_beforeWrap(self) -> None:
        """
        The last second before the wrap is the largest count.
        """
        self.assertEqual(packTime(WRAP - 1), b"\xff\xff\xff\xff")

    def test_wrap(self) -> None:
        """
        At 2036-02-07T06:28:16Z the count wraps to 0 and goes on from there,
        never overflowing.
        """
        self.assertEqual(packTime(WRAP), b"\x00\x00\x00\x00")
        self.assertEqual(packTime(WRAP + 1), b"\x00\x00\x00\x01")
        self.assertEqual(packTime(WRAP + 2**32), b"\x00\x00\x00\x00")

    @given(st.integers(min_value=-(2**40), max_value=2**40))
    def test_alwaysFourBytes(self, seconds: int) -> None:
        """
        Any time packs into 4 bytes.
        """
        self.assertEqual(len(packTime(seconds)), 4)


class UnpackTimeTests(SynchronousTestCase):
    """
    Tests for L{unpackTime}.
    """

    def test_roundTrip(self) -> None:
        """
        1970, 2026, the second before the wrap and the wrap itself come back
        as they were packed, read near themselves.
        """
        for seconds in (0, DEC2, WRAP - 1, WRAP, WRAP + 1):
            self.assertEqual(unpackTime(packTime(seconds), seconds), seconds)

    def test_float(self) -> None:
        """
        The result is a float.
        """
        self.assertIsInstance(unpackTime(packTime(DEC2), DEC2), float)

    def test_acrossWrap(self) -> None:
        """
        A client whose clock is just before the wrap reads a server's time
        just after it, and the other way round.
        """
        self.assertEqual(unpackTime(packTime(WRAP + 5), WRAP - 5), WRAP + 5)
        self.assertEqual(unpackTime(packTime(WRAP - 5), WRAP + 5), WRAP - 5)

    def test_zeroIsWrapNearby(self) -> None:
        """
        A count of 0 read in 2036 (or even in 1970, closer to 2036 than to
        1900) is the wrap; read in 1900, it is 1900.
        """
        zero = b"\x00\x00\x00\x00"
        self.assertEqual(unpackTime(zero, WRAP - 3600), WRAP)
        self.assertEqual(unpackTime(zero, 0), WRAP)
        self.assertEqual(unpackTime(zero, -RFC868_OFFSET + 3600), -RFC868_OFFSET)

    def test_wrongLength(self) -> None:
        """
        Anything but 4 bytes is a L{MalformedReply} carrying the bytes.
        """
        for data in (b"", b"\x00", b"\x00\x00\x00", b"\x00" * 5):
            error = self.assertRaises(MalformedReply, unpackTime, data, DEC2)
            self.assertEqual(error.reply, data)

    @given(
        st.integers(min_value=-(2**45), max_value=2**45),
        st.integers(min_value=-(2**31) + 1, max_value=2**31 - 1),
    )
    def test_closestEra(self, seconds: int, skew: int) -> None:
        """
        A time is read back exactly by any clock less than 2**31 seconds
        (68 years) away from it.
        """
        self.assertEqual(unpackTime(packTime(seconds), seconds + skew), seconds)


class FormatDaytimeTests(SynchronousTestCase):
    """
    Tests for L{formatDaytime}.
    """

    when = datetime(2026, 12, 2, 13, 37, 20, tzinfo=UTC)

    def test_formats(self) -> None:
        """
        Each format writes netlab's stamp of the time, then CR LF.
        """
        self.assertEqual(
            formatDaytime(self.when, TimeFormat.ISO), b"2026-12-02T13:37:20Z\r\n"
        )
        self.assertEqual(
            formatDaytime(self.when, TimeFormat.CTIME), b"Wed Dec  2 13:37:20 2026\r\n"
        )
        self.assertEqual(formatDaytime(self.when, TimeFormat.UNIX), b"1796218640\r\n")

    def test_offset(self) -> None:
        """
        An ISO line carries the offset of the time's zone.
        """
        when = self.when.astimezone(timezone(timedelta(hours=1)))
        self.assertEqual(
            formatDaytime(when, TimeFormat.ISO), b"2026-12-02T14:37:20+01:00\r\n"
        )


class ParseDaytimeTests(SynchronousTestCase):
    """
    Tests for L{parseDaytime}.
    """

    when = datetime(2026, 12, 2, 13, 37, 20, tzinfo=UTC)

    def test_iso(self) -> None:
        """
        An ISO line, with C{Z} or an offset, is read with its zone.
        """
        self.assertEqual(
            parseDaytime(b"2026-12-02T13:37:20Z\r\n"), DaytimeReply(self.when, True)
        )
        reply = parseDaytime(b"2026-12-02T14:37:20+01:00\r\n")
        self.assertEqual(reply, DaytimeReply(self.when, True))
        self.assertEqual(reply.when.utcoffset(), timedelta(hours=1))

    def test_ctime(self) -> None:
        """
        A ctime line has no zone: it is taken as UTC, and says so.
        """
        reply = parseDaytime(b"Wed Dec  2 13:37:20 2026\r\n")
        self.assertEqual(reply, DaytimeReply(self.when, False))
        self.assertEqual(reply.when.tzinfo, UTC)

    def test_unix(self) -> None:
        """
        A line of Unix seconds is read as UTC, which it is.
        """
        self.assertEqual(parseDaytime(b"1796218640\r\n"), DaytimeReply(self.when, True))
        self.assertEqual(parseDaytime(b"0").when, datetime(1970, 1, 1, tzinfo=UTC))

    def test_xinetd(self) -> None:
        """
        xinetd's line, C{02 DEC 2026 13:37:20 UTC}, is read with its zone.
        """
        self.assertEqual(
            parseDaytime(b"02 DEC 2026 13:37:20 UTC\r\n"), DaytimeReply(self.when, True)
        )

    def test_xinetdMonths(self) -> None:
        """
        Every month's three letters are read, in any case.
        """
        months = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
        for number, month in enumerate(months, 1):
            for name in (month, month.lower(), month.title()):
                line = f"15 {name} 2026 00:00:00 GMT".encode()
                self.assertEqual(
                    parseDaytime(line).when, datetime(2026, number, 15, tzinfo=UTC)
                )

    def test_xinetdZones(self) -> None:
        """
        Numeric zones and RFC 5322's North American names give their
        offsets; other names are taken as UTC, and say so.
        """
        cases = {
            b"02 DEC 2026 08:37:20 EST": (timedelta(hours=-5), True),
            b"02 DEC 2026 06:37:20 MST": (timedelta(hours=-7), True),
            b"02 DEC 2026 05:37:20 PST": (timedelta(hours=-8), True),
            b"02 DEC 2026 17:37:20 +04": (timedelta(hours=4), True),
            b"02 DEC 2026 19:07:20 +0530": (timedelta(hours=5, minutes=30), True),
            b"02 DEC 2026 10:07:20 -03:30": (timedelta(hours=-3, minutes=-30), True),
        }
        for line, (offset, known) in cases.items():
            reply = parseDaytime(line)
            self.assertEqual(reply, DaytimeReply(self.when, known), line)
            self.assertEqual(reply.when.utcoffset(), offset, line)
        reply = parseDaytime(b"02 DEC 2026 13:37:20 CET")
        self.assertEqual(reply, DaytimeReply(self.when, False))
        self.assertEqual(reply.when.tzinfo, UTC)

    def test_lineEndings(self) -> None:
        """
        CR LF, LF, CR or no line ending at all.
        """
        for ending in (b"\r\n", b"\n", b"\r", b""):
            self.assertEqual(
                parseDaytime(b"2026-12-02T13:37:20Z" + ending).when, self.when
            )

    def test_malformed(self) -> None:
        """
        Anything else is a L{MalformedReply} carrying the line.
        """
        for line in [
            b"",
            b"\r\n",
            b"hello",
            b"2026-12-02T13:37:20Z\r\n\r\n",
            b" 2026-12-02T13:37:20Z",
            b"2026-12-02T13:37:20",
            b"2026-13-02T13:37:20Z",
            b"Thu Dec  2 13:37:20 2026",
            b"02 DEC 2026 13:37:20",
            b"02 XYZ 2026 13:37:20 UTC",
            b"32 DEC 2026 13:37:20 UTC",
            b"02 DEC 2026 25:37:20 UTC",
            b"02 DEC 2026 13:37:20 +2500",
            b"02 DEC 2026 13:37:20 +0575",
            b"[2026-12-02T13:37:20Z] x",
            b"99999999999999999",
            b"\xff\xfe",
        ]:
            error = self.assertRaises(MalformedReply, parseDaytime, line)
            self.assertEqual(error.reply, line)

    @given(
        st.datetimes(
            min_value=datetime(1, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.just(UTC),
        ),
        st.sampled_from(TimeFormat),
    )
    def test_roundTrip(self, when: datetime, format: TimeFormat) -> None:
        """
        Whatever netlab writes, it reads back, to the second.
        """
        reply = parseDaytime(formatDaytime(when, format))
        self.assertEqual(reply.when, when.replace(microsecond=0))

    @given(st.binary(max_size=64))
    def test_onlyMalformedReply(self, line: bytes) -> None:
        """
        Any bytes parse, or fail with L{MalformedReply} and nothing else.
        """
        try:
            reply = parseDaytime(line)
        except MalformedReply:
            return
        self.assertIsNotNone(reply.when.utcoffset())

    @given(
        st.from_regex(
            rb"\A\d{1,2} [A-Za-z]{3} \d{4} \d\d:\d\d:\d\d "
            rb"(?:[A-Za-z]{1,6}|[+-]\d\d(?::?\d\d)?)(?:\r\n)?\Z"
        )
    )
    def test_xinetdShapedOnlyMalformedReply(self, line: bytes) -> None:
        """
        Lines shaped like xinetd's, with any numbers, parse or fail with
        L{MalformedReply} and nothing else.
        """
        try:
            reply = parseDaytime(line)
        except MalformedReply:
            return
        self.assertIsNotNone(reply.when.utcoffset())
