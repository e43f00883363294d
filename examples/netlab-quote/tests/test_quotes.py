"""
Tests for L{netlab_quote._quotes}: splitting, formatting and reading quotes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from netlab_quote import (
    QUOTES,
    REPLY_LIMIT,
    formatQuote,
    formatQuotes,
    parseQuotes,
    readQuotes,
)
from twisted.trial.unittest import SynchronousTestCase

from netlab.errors import StartupError


class ParseQuotesTests(SynchronousTestCase):
    """
    L{parseQuotes} finds one quote a paragraph.
    """

    def test_paragraphs(self) -> None:
        """
        Blank lines, even with spaces in them, separate quotes of several
        lines.
        """
        text = "One,\n  -- me\n \t\nTwo,\n  -- you\n\n\n"
        self.assertEqual(parseQuotes(text), ("One,\n  -- me", "Two,\n  -- you"))

    def test_oneQuote(self) -> None:
        """
        A text without a blank line is one quote, of as many lines as it has.
        """
        self.assertEqual(parseQuotes("one\ntwo\n\n\n"), ("one\ntwo",))

    def test_lineEndings(self) -> None:
        """
        CR LF line endings and trailing blanks are dropped.
        """
        self.assertEqual(parseQuotes("a  \r\nb\r\n\r\nc\r\n"), ("a\nb", "c"))

    def test_nothing(self) -> None:
        """
        White space alone holds no quote.
        """
        self.assertEqual(parseQuotes(" \n\n\t\n"), ())
        self.assertEqual(parseQuotes(""), ())


class FormatQuoteTests(SynchronousTestCase):
    """
    L{formatQuote} makes the bytes of a reply.
    """

    def test_lines(self) -> None:
        """
        Each line ends with CR LF, in UTF-8.
        """
        self.assertEqual(formatQuote("Ça va.\n-- X"), "Ça va.\r\n-- X\r\n".encode())

    def test_limit(self) -> None:
        """
        A reply must be shorter than 512 bytes, as RFC 865 asks.
        """
        longest = "x" * (REPLY_LIMIT - 3)
        self.assertEqual(len(formatQuote(longest)), REPLY_LIMIT - 1)
        error = self.assertRaises(ValueError, formatQuote, longest + "x")
        self.assertEqual(str(error), "512 bytes long; RFC 865 wants under 512")

    def test_builtIn(self) -> None:
        """
        Every built-in quote can be sent.
        """
        self.assertEqual(len(formatQuotes(QUOTES)), len(QUOTES))

    def test_noQuotes(self) -> None:
        """
        L{formatQuotes} refuses to make a server with nothing to say.
        """
        self.assertRaises(ValueError, formatQuotes, [])


class ReadQuotesTests(SynchronousTestCase):
    """
    L{readQuotes} reads a file of quotes, or says in one line why it cannot.
    """

    def setUp(self) -> None:
        # Not trial's mktemp: under pytest it would be in this directory.
        self.directory = Path(tempfile.mkdtemp(prefix="netlab-quote-"))
        self.addCleanup(shutil.rmtree, self.directory, True)

    def write(self, content: bytes) -> str:
        path = self.directory / "quotes.txt"
        path.write_bytes(content)
        return str(path)

    def assertOneLine(self, path: str, message: str) -> None:
        error = self.assertRaises(StartupError, readQuotes, path)
        self.assertEqual(str(error), f"--quotes {path}: {message}")

    def test_reads(self) -> None:
        """
        The file's quotes, as L{parseQuotes} splits them.
        """
        path = self.write("Première.\n\nSecond,\n  -- B\n".encode())
        self.assertEqual(readQuotes(path), ("Première.", "Second,\n  -- B"))

    def test_missing(self) -> None:
        """
        A file that cannot be read is named, with the system's reason.
        """
        path = str(self.directory / "missing.txt")
        self.assertOneLine(path, "cannot read it: No such file or directory")

    def test_empty(self) -> None:
        """
        A file with no quote in it is refused.
        """
        path = self.write(b"\n  \n")
        self.assertOneLine(path, "it holds no quote (write one a paragraph)")

    def test_notText(self) -> None:
        """
        A file that is not UTF-8 is refused.
        """
        self.assertOneLine(self.write(b"\xff\xfe\x00"), "it is not UTF-8 text")

    def test_tooLong(self) -> None:
        """
        A quote too long for a reply is refused, by its number.
        """
        path = self.write(b"short\n\n" + b"x" * 600 + b"\n")
        self.assertOneLine(
            path,
            "quote 2 is 602 bytes long; RFC 865 wants under 512 (are the "
            "quotes separated by blank lines?)",
        )
