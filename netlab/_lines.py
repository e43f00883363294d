"""
One line splitter for every line protocol netlab speaks, servers and clients
alike: pure (no I/O, no transport), in the manner of h11's C{ReceiveBuffer}.
"""

from __future__ import annotations

__all__ = ["LineBuffer"]


class LineBuffer:
    """
    Splits a byte stream into lines ending with LF, with a bound on how much
    of an unfinished line it holds.

    A line's length does not count its ending: LF, or CR LF.  A line longer
    than C{maxLineLength} is I{overlong}: it is dropped whole, and L{feed}
    gives C{None} in its place, at the place it had in the stream, so that
    whoever answers lines can answer it in order.  An unfinished line is
    known to be overlong as soon as more than C{maxLineLength} bytes of it
    (and not a CR that may start its ending) have arrived: its C{None} is
    given then, and the rest of it is thrown away as it comes, so that a
    peer sending megabytes without a newline costs at most one line's worth
    of memory.

    Lines are given as received, without their LF but with a CR before it:
    a protocol that answers in kind (the timestamp service) keeps it, one
    that does not (chat) strips it.

    @ivar maxLineLength: the longest line, in bytes, without its ending.
    """

    __slots__ = ("_discarding", "_pending", "maxLineLength")

    def __init__(self, maxLineLength: int) -> None:
        """
        @param maxLineLength: the longest line, in bytes, without its ending.
        """
        self.maxLineLength = maxLineLength
        self._pending = b""
        self._discarding = False

    def feed(self, data: bytes) -> tuple[list[bytes | None], int]:
        """
        Take the next bytes of the stream.

        @param data: whatever arrived.
        @return: the lines it completed, in order, with C{None} in place of
            each overlong one; and how many of those C{None}s there are (0
            in the common case, so that a caller can skip looking).
        """
        if self._pending:
            data = self._pending + data
        split = data.split(b"\n")
        rest = split.pop()
        if self._discarding:
            if split:
                # The end of a line already refused.
                del split[0]
                self._discarding = False
            else:
                rest = b""
        limit = self.maxLineLength
        lines: list[bytes | None]
        overlong = 0
        if split and max(map(len, split)) > limit:
            lines = []
            for line in split:
                if _fits(line, limit):
                    lines.append(line)
                else:
                    lines.append(None)
                    overlong += 1
        else:
            # The common case: every line fits.
            lines = split  # type: ignore[assignment]
        if not _fits(rest, limit):
            # Too long already, with no end in sight: refuse it now rather
            # than hold it, and drop the rest of it as it comes.
            rest = b""
            self._discarding = True
            lines.append(None)
            overlong += 1
        self._pending = rest
        return lines, overlong

    def pending(self) -> bytes:
        """
        @return: the unfinished line held so far (C{b""} if none, or if the
            one arriving is overlong).
        """
        return self._pending

    def clear(self) -> None:
        """
        Forget the unfinished line, as when the connection is lost.
        """
        self._pending = b""
        self._discarding = False


def _fits(line: bytes, limit: int) -> bool:
    """
    @return: whether C{line} (without its LF) is at most C{limit} bytes
        long, not counting a CR at its end.
    """
    return len(line) <= limit or (len(line) == limit + 1 and line.endswith(b"\r"))
