"""
Tests for L{netlab._lines.LineBuffer}, the one line splitter of every line
protocol.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from netlab._lines import LineBuffer


def expected(stream: bytes, limit: int) -> list[bytes | None]:
    """
    What splitting C{stream} whole should give: each line ended by LF (a CR
    before it kept), or C{None} for one longer than C{limit} without its
    ending; and a C{None} for an unfinished last line already too long.
    """
    *lines, rest = stream.split(b"\n")
    result: list[bytes | None] = [line if fits(line, limit) else None for line in lines]
    if not fits(rest, limit):
        result.append(None)
    return result


def fits(line: bytes, limit: int) -> bool:
    """
    @return: whether C{line} is at most C{limit} bytes, not counting a CR at
        its end.
    """
    return len(line) <= limit or (len(line) == limit + 1 and line.endswith(b"\r"))


def chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes], int]:
    """
    A stream of short and long lines, the reads it arrives in, and a limit.
    """
    limit = draw(st.integers(1, 12))
    pieces = draw(
        st.lists(
            st.one_of(
                st.binary(max_size=limit + 2),
                st.sampled_from([b"\n", b"\r", b"\r\n", b"x" * (limit + 1) + b"\r"]),
                st.binary(min_size=limit + 1, max_size=4 * limit),
            ),
            max_size=20,
        )
    )
    stream = b"".join(pieces)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return stream, reads, limit


class LineBufferTests(SynchronousTestCase):
    """
    Tests for L{LineBuffer}.
    """

    def test_lines(self) -> None:
        """
        Lines end with LF; a CR before it stays; the unfinished rest waits.
        """
        buffer = LineBuffer(10)
        self.assertEqual(buffer.feed(b"one\ntwo\r\nthr"), ([b"one", b"two\r"], 0))
        self.assertEqual(buffer.pending(), b"thr")
        self.assertEqual(buffer.feed(b"ee\n"), ([b"three"], 0))
        self.assertEqual(buffer.pending(), b"")

    def test_overlongInPlace(self) -> None:
        """
        An over-long line is C{None}, in its place among the others, and
        counted.
        """
        buffer = LineBuffer(3)
        self.assertEqual(buffer.feed(b"ab\nabcd\ncd\n"), ([b"ab", None, b"cd"], 1))

    def test_limitWithCR(self) -> None:
        """
        A line of exactly the limit followed by CR LF fits, finished or
        still arriving; one more byte does not.
        """
        buffer = LineBuffer(3)
        self.assertEqual(buffer.feed(b"abc\r"), ([], 0))
        self.assertEqual(buffer.pending(), b"abc\r")
        self.assertEqual(buffer.feed(b"\n"), ([b"abc\r"], 0))
        self.assertEqual(buffer.feed(b"abcd"), ([None], 1))
        self.assertEqual(buffer.feed(b"\nok\n"), ([b"ok"], 0))
        self.assertEqual(LineBuffer(3).feed(b"abc\rd\n"), ([None], 1))

    def test_unfinishedOverlongRefusedOnce(self) -> None:
        """
        A line too long, still arriving, is refused as soon as it is known
        to be, once, and what follows of it is thrown away as it comes: the
        buffer never holds more than the limit and a CR.
        """
        buffer = LineBuffer(10)
        self.assertEqual(buffer.feed(b"ok\n" + b"z" * 11), ([b"ok", None], 1))
        for _ in range(100):
            self.assertEqual(buffer.feed(b"z" * 1000), ([], 0))
            self.assertEqual(buffer.pending(), b"")
        self.assertEqual(buffer.feed(b"zz\nnext\n"), ([b"next"], 0))

    def test_clear(self) -> None:
        """
        L{LineBuffer.clear} forgets the unfinished line, and a refusal
        under way.
        """
        buffer = LineBuffer(3)
        buffer.feed(b"ab")
        buffer.clear()
        self.assertEqual(buffer.pending(), b"")
        buffer.feed(b"abcdef")
        buffer.clear()
        self.assertEqual(buffer.feed(b"x\n"), ([b"x"], 0))

    @given(st.composite(chunked)())
    def test_anyReads(self, case: tuple[bytes, list[bytes], int]) -> None:
        """
        However a stream is cut into reads, the lines come out the same, in
        order, each over-long one as one C{None} in its place, with the
        count right, and never more than the limit and a CR held.
        """
        stream, reads, limit = case
        buffer = LineBuffer(limit)
        got: list[bytes | None] = []
        for data in reads:
            lines, overlong = buffer.feed(data)
            self.assertEqual(overlong, lines.count(None))
            got += lines
            self.assertLessEqual(len(buffer.pending()), limit + 1)
        self.assertEqual(got, expected(stream, limit))
        *_, rest = stream.split(b"\n")
        self.assertEqual(buffer.pending(), rest if fits(rest, limit) else b"")
