"""
The wire formats of daytime (RFC 867) and time (RFC 868), as pure functions
and values: no I/O, no reactor.

B{time} (RFC 868): the server sends 4 bytes, an unsigned 32-bit integer in
network order, the seconds since 1900-01-01T00:00:00Z (L{RFC868_OFFSET}
seconds before the POSIX epoch), modulo 2**32.  The count wraps to 0 at
2036-02-07T06:28:16Z; L{packTime} keeps counting modulo 2**32 past it (it
never overflows), and L{unpackTime} puts the count back in the 2**32-second
era closest to the client's own clock, so a reply is read right on either
side of the wrap as long as the two clocks are within 68 years of each
other.

B{daytime} (RFC 867): the server sends one line of text, whose syntax the
RFC leaves open.  netlab's server sends the time in one of netlab's stamp
formats (see L{netlab.timestamp.formatTime}), then CR LF:

  - C{iso} (the default): C{2026-12-02T13:37:20Z}, or with the server's
    offset, C{2026-12-02T14:37:20+01:00}: it carries its zone, so a client
    can compute its offset from the server's clock.
  - C{ctime}: C{Sat Dec 12 13:37:20 2026} (a day below 10 padded with a
    space), with no zone.
  - C{unix}: C{1796218640}, seconds since 1970-01-01T00:00:00Z.

L{parseDaytime} reads those, and also what xinetd's built-in daytime
service sends (its C{daytime_protocol} in C{builtins.c}): the server's
local time as the day of the month in two digits, the month as three
upper-case letters, the year, the time, then a space, the zone's
abbreviation (C{strftime}'s C{%Z}) and CR LF::

    02 DEC 2026 13:37:20 UTC

A zone abbreviation is not an offset (C{CST} is both Central Standard and
China Standard Time), so L{parseDaytime} knows only C{UTC}, C{GMT}, C{UT}
and C{Z}, numeric ones as tzdata writes them for zones without an
abbreviation (C{+04}, C{-0330}, C{+05:30}), and the North American names
of RFC 5322 (C{EST}, C{EDT}, C{CST}, C{CDT}, C{MST}, C{MDT}, C{PST},
C{PDT}).  The time of any other name (C{CET}, C{IST}) is taken as UTC with
L{DaytimeReply.zoneKnown} false, as a ctime reply's is.
"""

from __future__ import annotations

import math
import re
import struct
from datetime import datetime, timedelta, timezone

import attrs

from netlab.errors import MalformedReply
from netlab.timestamp import TimeFormat, formatTime, parseStamp

__all__ = [
    "DAYTIME_PORT",
    "RFC868_OFFSET",
    "TIME_PORT",
    "DaytimeReply",
    "formatDaytime",
    "packTime",
    "parseDaytime",
    "unpackTime",
]

DAYTIME_PORT = 21513
"""
netlab's daytime port, for TCP and UDP.  RFC 867's port 13 needs
privileges.
"""

TIME_PORT = 21537
"""
netlab's time port, for TCP and UDP.  RFC 868's port 37 needs privileges.
"""

RFC868_OFFSET = 2208988800
"""
Seconds from 1900-01-01T00:00:00Z, where RFC 868 counts from, to
1970-01-01T00:00:00Z, the POSIX epoch: 70 years, 17 of them leap years.
"""

_ERA = 2**32
"""
The seconds an RFC 868 count takes to wrap, about 136 years.
"""

_TIME = struct.Struct("!I")

_MONTHS = (
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
)

_XINETD = re.compile(
    r"(?P<day>\d{1,2}) (?P<month>[A-Za-z]{3}) (?P<year>\d{4}) "
    r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d) "
    r"(?:(?P<offset>[+-]\d\d(?::?\d\d)?)|(?P<name>[A-Za-z]{1,6}))",
    re.ASCII,
)

_ZONES = {
    "UTC": 0,
    "GMT": 0,
    "UT": 0,
    "Z": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}
"""
The zone names whose offset (in hours) L{parseDaytime} knows.
"""


def packTime(unixSeconds: float) -> bytes:
    """
    Write a time as RFC 868 does.

    @param unixSeconds: seconds since the POSIX epoch, as
        C{IReactorTime.seconds} returns; fractions are dropped (rounded
        down).
    @return: 4 bytes, network order: the seconds since 1900 modulo 2**32
        (0 at 2036-02-07T06:28:16Z).
    """
    return _TIME.pack((math.floor(unixSeconds) + RFC868_OFFSET) % _ERA)


def unpackTime(data: bytes, near: float) -> float:
    """
    Read an RFC 868 reply.

    @param data: the reply, 4 bytes.
    @param near: the client's clock, seconds since the POSIX epoch: of the
        times C{data} may stand for (one every 2**32 seconds), the one
        closest to it is chosen.
    @return: the time, in whole seconds since the POSIX epoch.
    @raise MalformedReply: if C{data} is not exactly 4 bytes.
    """
    if len(data) != _TIME.size:
        raise MalformedReply(f"a time reply is 4 bytes, not {len(data)}", bytes(data))
    (count,) = _TIME.unpack(data)
    base = count - RFC868_OFFSET
    era = (math.floor(near) - base + _ERA // 2) // _ERA
    return float(base + era * _ERA)


def formatDaytime(when: datetime, format: TimeFormat) -> bytes:
    """
    Write a daytime reply.

    @param when: the time (see L{netlab.timestamp.formatTime}).
    @param format: the time format.
    @return: one line, ASCII, ending with CR LF.
    """
    return formatTime(when, format).encode("ascii") + b"\r\n"


@attrs.frozen
class DaytimeReply:
    """
    A parsed daytime reply.

    @ivar when: the time the server sent, timezone-aware.
    @ivar zoneKnown: whether the reply said its zone; if not (a ctime
        reply, or a zone name L{parseDaytime} does not know), C{when} is
        the server's wall clock taken as UTC.
    """

    when: datetime
    zoneKnown: bool


def _parseXinetd(text: str) -> DaytimeReply | None:
    match = _XINETD.fullmatch(text)
    if match is None:
        return None
    month = match["month"].upper()
    if month not in _MONTHS:
        raise ValueError(f"{match['month']!r} is not a month")
    zoneKnown = True
    if match["offset"] is not None:
        digits = match["offset"].replace(":", "")
        minutes = int(digits[1:3]) * 60 + int(digits[3:5] or "0")
        if int(digits[3:5] or "0") >= 60:
            raise ValueError(f"{match['offset']!r} is not an offset")
        offset = timedelta(minutes=-minutes if digits[0] == "-" else minutes)
    else:
        hours = _ZONES.get(match["name"].upper())
        zoneKnown = hours is not None
        offset = timedelta(hours=hours or 0)
    when = datetime(
        int(match["year"]),
        _MONTHS.index(month) + 1,
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"]),
        tzinfo=timezone(offset),
    )
    return DaytimeReply(when, zoneKnown)


def _parseNetlab(text: bytes) -> DaytimeReply:
    # netlab's formats, read by the timestamp parser: a stamp never
    # contains "]", so framed as one it is read whole.
    if b"]" in text:
        raise ValueError("not a time")
    stamp = parseStamp(b"[" + text + b"] ")
    if stamp.data:
        raise ValueError("not a time")
    when = stamp.when
    if when.tzinfo is None:
        return DaytimeReply(when.replace(tzinfo=timezone.utc), False)
    return DaytimeReply(when, True)


def parseDaytime(line: bytes) -> DaytimeReply:
    """
    Parse a daytime reply: netlab's C{iso}, C{ctime} or C{unix}, or
    xinetd's C{02 DEC 2026 13:37:20 UTC} (see the module's docstring).

    @param line: the reply, with or without its line ending (CR LF, LF or
        CR).
    @return: the parsed reply.
    @raise MalformedReply: if C{line} is none of these; nothing else is
        ever raised, whatever the bytes.
    """
    text = line
    for ending in (b"\r\n", b"\n", b"\r"):
        if text.endswith(ending):
            text = text[: -len(ending)]
            break
    try:
        reply = _parseXinetd(text.decode("ascii"))
        if reply is None:
            reply = _parseNetlab(text)
    except (ValueError, OverflowError, MalformedReply):
        raise MalformedReply(
            f"the daytime reply {bytes(line)!r} is not a time netlab reads", bytes(line)
        ) from None
    return reply
