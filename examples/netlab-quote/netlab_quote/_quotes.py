"""
The quotes: the built-in ones, a file of one's own, and the bytes each is
sent as.  Pure functions, except L{readQuotes}, which reads the file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from netlab.errors import StartupError

__all__ = [
    "QUOTES",
    "REPLY_LIMIT",
    "formatQuote",
    "formatQuotes",
    "parseQuotes",
    "readQuotes",
]

REPLY_LIMIT = 512
"""
Every reply is shorter than this, in bytes: RFC 865 asks for less than 512
characters.
"""

QUOTES: tuple[str, ...] = (
    "Well begun is half done.\n    -- Aristotle",
    "Brevity is the soul of wit.\n    -- William Shakespeare, Hamlet",
    "I have made this letter longer than usual, only because I have not had "
    "the time to make it shorter.\n    -- Blaise Pascal",
    "It is a capital mistake to theorize before one has data.\n"
    "    -- Arthur Conan Doyle, A Scandal in Bohemia",
    "Be conservative in what you do, be liberal in what you accept from "
    "others.\n    -- Jon Postel, RFC 793",
    "The best is the enemy of the good.\n    -- Voltaire",
    "Make haste slowly.\n    -- Augustus, as Suetonius tells it",
    "Nothing in excess.\n    -- inscribed at Delphi",
)
"""
The quotes a server tells unless given C{--quotes}.
"""

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def parseQuotes(text: str) -> tuple[str, ...]:
    """
    Split the text of a quotes file into quotes: one a paragraph (quotes are
    separated by blank lines).

    @return: the quotes, each without trailing blanks; none for a text of
        nothing but white space.
    """
    paragraphs = _BLANK_LINE.split(text.replace("\r\n", "\n"))
    return tuple(
        "\n".join(line.rstrip() for line in p.strip("\n").split("\n"))
        for p in paragraphs
        if p.strip()
    )


def formatQuote(quote: str) -> bytes:
    """
    @return: what a server sends for C{quote}: UTF-8, each line ending with
        CR LF.
    @raise ValueError: if that is not shorter than L{REPLY_LIMIT} bytes.
    """
    reply = "".join(line + "\r\n" for line in quote.split("\n")).encode("utf-8")
    if len(reply) >= REPLY_LIMIT:
        raise ValueError(f"{len(reply)} bytes long; RFC 865 wants under {REPLY_LIMIT}")
    return reply


def formatQuotes(quotes: Sequence[str]) -> tuple[bytes, ...]:
    """
    @return: the reply of each of C{quotes} (see L{formatQuote}).
    @raise ValueError: if there are none, or one is too long.
    """
    if not quotes:
        raise ValueError("there are no quotes to tell")
    return tuple(formatQuote(quote) for quote in quotes)


def readQuotes(path: str) -> tuple[str, ...]:
    """
    Read a file of quotes (UTF-8, as L{parseQuotes} splits it).

    @return: its quotes.
    @raise StartupError: saying, in one line, why the file cannot be used:
        it cannot be read, it holds no quote, or a quote is too long.
    """
    try:
        with open(path, encoding="utf-8") as f:
            quotes = parseQuotes(f.read())
    except OSError as e:
        raise StartupError(
            f"--quotes {path}: cannot read it: {e.strerror or e}"
        ) from None
    except UnicodeDecodeError:
        raise StartupError(f"--quotes {path}: it is not UTF-8 text") from None
    if not quotes:
        raise StartupError(
            f"--quotes {path}: it holds no quote (write one a paragraph)"
        )
    for number, quote in enumerate(quotes, 1):
        try:
            formatQuote(quote)
        except ValueError as e:
            raise StartupError(
                f"--quotes {path}: quote {number} is {e} (are the quotes "
                "separated by blank lines?)"
            ) from None
    return quotes
