"""
The timestamp wire format, as pure functions and values: no I/O, no reactor.

A stamped reply is::

    "[" STAMP "] " DATA

where DATA is the client's bytes exactly as received and STAMP is the time
in one of three formats (all with one-second resolution):

  - C{ctime}: C{Sat Nov 21 23:46:13 2026}, what Python's C{time.ctime()}
    prints (English names, day of month padded with a space).  It carries no
    zone: it is the server's local time, or UTC with C{--utc}.
  - C{iso}: RFC 3339 / ISO 8601, C{2026-11-21T23:46:13+01:00}, or
    C{2026-11-21T22:46:13Z} when the offset is zero.
  - C{unix}: whole seconds since 1970-01-01T00:00:00Z (the POSIX epoch), as
    a decimal integer, C{1795391173}; the same whether local or UTC.
"""

from __future__ import annotations

import enum
import math
import re
from datetime import datetime, timedelta, timezone

import attrs
from twisted.internet.interfaces import IReactorTime

from netlab.errors import MalformedReply

__all__ = [
    "Stamper",
    "TimeFormat",
    "TimestampReply",
    "clockTime",
    "formatStamp",
    "formatTime",
    "parseStamp",
]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)

_CTIME = re.compile(
    r"(?P<wday>[A-Z][a-z]{2}) (?P<month>[A-Z][a-z]{2}) (?P<day>[ 1-9]\d) "
    r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d) (?P<year>[1-9]\d{0,3})",
    re.ASCII,
)
_ISO = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?P<offset>Z|[+-]\d\d:\d\d(?::\d\d)?)",
    re.ASCII,
)
_UNIX = re.compile(r"-?(?:0|[1-9]\d{0,17})", re.ASCII)


class TimeFormat(enum.Enum):
    """
    How a server writes the time in a stamped reply.
    """

    CTIME = "ctime"
    ISO = "iso"
    UNIX = "unix"


@attrs.frozen
class TimestampReply:
    """
    A parsed stamped reply.

    @ivar when: the time the server stamped.  For L{TimeFormat.CTIME} it is
        a naive C{datetime} (the format carries no zone: it is the server's
        wall clock); for the other formats it is timezone-aware.
    @ivar data: the data the server echoed after the stamp, byte for byte.
    @ivar format: the format the server used.
    """

    when: datetime
    data: bytes
    format: TimeFormat


def clockTime(seconds: float, utc: bool = False) -> datetime:
    """
    Convert a clock reading to the aware C{datetime} a server stamps.

    @param seconds: seconds since the POSIX epoch, as
        C{IReactorTime.seconds} returns; fractions are dropped (rounded
        down), since every format has one-second resolution.
    @param utc: C{True} for UTC, C{False} for the local zone of this process
        (the C{TZ} environment variable, as C{time.ctime} uses).
    @return: an aware C{datetime} with no fraction of a second.
    """
    when = datetime.fromtimestamp(math.floor(seconds), timezone.utc)
    return when if utc else when.astimezone()


def formatTime(when: datetime, format: TimeFormat) -> str:
    """
    Write a time in one of the stamp formats.

    @param when: the time; aware for L{TimeFormat.ISO} and
        L{TimeFormat.UNIX}, aware or naive for L{TimeFormat.CTIME}, which
        writes its wall-clock fields as they are.  Fractions of a second
        are dropped.
    @param format: the format to write.
    @return: the stamp text, ASCII only and never containing C{"]"}.
    @raise ValueError: if C{when} is naive and C{format} needs a zone.
    """
    if format is TimeFormat.CTIME:
        return (
            f"{_DAYS[when.weekday()]} {_MONTHS[when.month - 1]} {when.day:2d} "
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {when.year}"
        )
    offset = when.utcoffset()
    if offset is None:
        raise ValueError(f"the {format.value} format needs an aware datetime")
    if format is TimeFormat.ISO:
        text = when.replace(microsecond=0).isoformat(timespec="seconds")
        return text[:19] + "Z" if not offset else text
    return str((when - _EPOCH) // _SECOND)


def formatStamp(when: datetime, data: bytes, format: TimeFormat) -> bytes:
    """
    Build a stamped reply: C{b"[" + stamp + b"] " + data}.

    @param when: the time to stamp (see L{formatTime}).
    @param data: the data to echo after the stamp, byte for byte.
    @param format: the time format.
    @return: the reply, with no line ending added.
    """
    return b"[" + formatTime(when, format).encode("ascii") + b"] " + data


def _parseCtime(text: str) -> datetime:
    match = _CTIME.fullmatch(text)
    if match is None:
        raise ValueError("not a ctime stamp")
    month = _MONTHS.index(match["month"]) + 1
    when = datetime(
        int(match["year"]),
        month,
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"]),
    )
    if _DAYS[when.weekday()] != match["wday"]:
        raise ValueError("the day of the week does not match the date")
    return when


def _parseIso(text: str) -> datetime:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _parseUnix(text: str) -> datetime:
    return _EPOCH + timedelta(seconds=int(text))


def _detect(text: str) -> TimeFormat:
    if _UNIX.fullmatch(text):
        return TimeFormat.UNIX
    if _ISO.fullmatch(text):
        return TimeFormat.ISO
    return TimeFormat.CTIME


_PARSERS = {
    TimeFormat.CTIME: _parseCtime,
    TimeFormat.ISO: _parseIso,
    TimeFormat.UNIX: _parseUnix,
}


def parseStamp(reply: bytes) -> TimestampReply:
    """
    Parse a stamped reply in any of the three formats, which cannot be
    mistaken for one another.

    C{parseStamp(formatStamp(when, data, format))} gives back C{when} (to
    the second; naive for ctime), C{data} and C{format}.

    @param reply: one reply, without a line ending.
    @return: the parsed reply.
    @raise MalformedReply: if C{reply} is not a stamped reply; nothing else
        is ever raised, whatever the bytes.
    """
    if not reply.startswith(b"["):
        raise MalformedReply("the reply does not start with a [stamp]", reply)
    end = reply.find(b"] ")
    if end < 0:
        raise MalformedReply("the reply has no '] ' after its stamp", reply)
    try:
        text = reply[1:end].decode("ascii")
        format = _detect(text)
        when = _PARSERS[format](text)
    except (ValueError, OverflowError) as e:
        raise MalformedReply(
            f"the reply's stamp {reply[1:end]!r} is not a time: {e}", reply
        ) from None
    return TimestampReply(when, reply[end + 2 :], format)


class Stamper:
    """
    Stamps data with the time of an injected clock, computing the stamp at
    most once per second however many replies it makes.

    One L{Stamper} may be shared by every connection of a service.
    """

    def __init__(
        self,
        clock: IReactorTime,
        format: TimeFormat = TimeFormat.CTIME,
        utc: bool = False,
    ) -> None:
        """
        @param clock: where the time comes from (the reactor, or a
            C{twisted.internet.task.Clock} in tests).
        @param format: the time format.
        @param utc: stamp UTC rather than the local time.
        """
        self.clock = clock
        self.format = format
        self.utc = utc
        self._second: int | None = None
        self._prefix = b""

    def prefix(self) -> bytes:
        """
        @return: C{b"[" + stamp + b"] "} for the clock's current second.
        """
        second = math.floor(self.clock.seconds())
        if second != self._second:
            when = clockTime(second, self.utc)
            self._prefix = b"[" + formatTime(when, self.format).encode() + b"] "
            self._second = second
        return self._prefix

    def stamp(self, data: bytes) -> bytes:
        """
        @param data: bytes to stamp, untouched (they need not be text).
        @return: the stamped reply, C{b"[" + stamp + b"] " + data}.
        """
        return self.prefix() + data
