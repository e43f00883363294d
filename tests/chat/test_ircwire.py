"""
Tests for L{netlab.chat._ircwire}: IRC's wire format, as pure functions.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from netlab.chat._ircwire import (
    MAX_LINE,
    IRCMessage,
    decodeLine,
    formatMessage,
    parseMessage,
    splitText,
    unwrapAction,
    wrapAction,
)


class ParseMessageTests(SynchronousTestCase):
    """
    Tests for L{parseMessage}.
    """

    def test_middleAndTrailing(self) -> None:
        """
        Middle parameters are words; the trailing one (after C{" :"}) is
        the rest of the line, spaces and colons included.
        """
        self.assertEqual(
            parseMessage("PRIVMSG #lobby :hello there :)"),
            IRCMessage("PRIVMSG", ("#lobby", "hello there :)")),
        )
        self.assertEqual(
            parseMessage("USER alice 0 * :Alice A."),
            IRCMessage("USER", ("alice", "0", "*", "Alice A.")),
        )

    def test_commandUpperCase(self) -> None:
        """
        Commands are matched in any case.
        """
        self.assertEqual(parseMessage("nick alice"), IRCMessage("NICK", ("alice",)))

    def test_emptyTrailing(self) -> None:
        """
        An empty trailing parameter is a parameter.
        """
        self.assertEqual(parseMessage("TOPIC #a :"), IRCMessage("TOPIC", ("#a", "")))

    def test_tagsAndPrefixSkipped(self) -> None:
        """
        IRCv3 tags and a prefix are skipped.
        """
        self.assertEqual(
            parseMessage("@time=x :alice!a@h PING :token"),
            IRCMessage("PING", ("token",)),
        )

    def test_noCommand(self) -> None:
        """
        A line with nothing but spaces, a prefix or a trailing parameter
        has no command.
        """
        for line in ("", "   ", ":prefix", "@tags", ":prefix :trailing"):
            self.assertIsNone(parseMessage(line), line)

    @given(st.text())
    def test_neverRaises(self, line: str) -> None:
        """
        Any text parses to a message or C{None}; a command is never empty
        and has no space.
        """
        message = parseMessage(line)
        if message is not None:
            self.assertTrue(message.command)
            self.assertNotIn(" ", message.command)


class DecodeLineTests(SynchronousTestCase):
    """
    Tests for L{decodeLine}.
    """

    def test_utf8(self) -> None:
        """
        UTF-8 is decoded as such.
        """
        self.assertEqual(decodeLine("café".encode()), "café")

    def test_latin1Fallback(self) -> None:
        """
        Bytes that are not UTF-8 are read as Latin-1 rather than refused.
        """
        self.assertEqual(decodeLine("café".encode("latin-1")), "café")

    @given(st.binary())
    def test_neverRaises(self, data: bytes) -> None:
        """
        Any bytes decode.
        """
        self.assertIsInstance(decodeLine(data), str)


class FormatMessageTests(SynchronousTestCase):
    """
    Tests for L{formatMessage}.
    """

    def test_trailingWhenNeeded(self) -> None:
        """
        The last parameter is written after C{:} when it is empty, has a
        space or starts with C{:}, or when asked.
        """
        self.assertEqual(formatMessage("", "PING", "netlab"), b"PING netlab\r\n")
        self.assertEqual(
            formatMessage("netlab", "001", "alice", "Welcome here"),
            b":netlab 001 alice :Welcome here\r\n",
        )
        self.assertEqual(formatMessage("a", "PART", "#x", ""), b":a PART #x :\r\n")
        self.assertEqual(
            formatMessage("a", "PRIVMSG", "#x", ":)"), b":a PRIVMSG #x ::)\r\n"
        )
        self.assertEqual(
            formatMessage("a", "NICK", "b", trailing=True), b":a NICK :b\r\n"
        )

    def test_oneLine(self) -> None:
        """
        CR, LF and NUL never reach the wire.
        """
        line = formatMessage("a", "PRIVMSG", "#x", "one\r\ntwo\0")
        self.assertEqual(line.count(b"\r\n"), 1)
        self.assertNotIn(b"\0", line)

    @given(st.text(), st.text())
    def test_roundTrip(self, target: str, text: str) -> None:
        """
        A message with a clean one-word target and any text parses back to
        its parameters (CR, LF and NUL aside).
        """
        target = "#" + "".join(c for c in target if c.isalnum())
        text = "".join(c for c in text if c not in "\r\n\0")
        line = formatMessage("a!a@netlab", "PRIVMSG", target, text, trailing=True)
        parsed = parseMessage(line.decode("utf-8")[:-2])
        self.assertEqual(parsed, IRCMessage("PRIVMSG", (target, text)))


class SplitTextTests(SynchronousTestCase):
    """
    Tests for L{splitText}.
    """

    def test_fits(self) -> None:
        """
        Text that fits is one piece, even empty.
        """
        self.assertEqual(splitText("hello", 5), ["hello"])
        self.assertEqual(splitText("", 5), [""])

    def test_atSpaces(self) -> None:
        """
        Text is split at a space where one is late enough, the space
        dropped.
        """
        self.assertEqual(splitText("aaaa bbbb cccc", 10), ["aaaa bbbb", "cccc"])

    def test_neverInsideACharacter(self) -> None:
        """
        Without a space, text is cut between characters, never inside one.
        """
        pieces = splitText("é" * 10, 5)
        self.assertEqual(pieces, ["éé", "éé", "éé", "éé", "éé"])

    @given(st.text(), st.integers(min_value=4, max_value=600))
    def test_boundsAndContent(self, text: str, budget: int) -> None:
        """
        Every piece is within the budget, and the pieces hold the text's
        characters in order (less the spaces split at).
        """
        pieces = splitText(text, budget)
        for piece in pieces:
            self.assertLessEqual(len(piece.encode("utf-8")), budget)
        self.assertEqual("".join(pieces).replace(" ", ""), text.replace(" ", ""))


class ActionTests(SynchronousTestCase):
    """
    Tests for L{wrapAction} and L{unwrapAction}: CTCP C{ACTION}.
    """

    def test_roundTrip(self) -> None:
        """
        An action wrapped reads back as one.
        """
        self.assertEqual(wrapAction("waves"), "\x01ACTION waves\x01")
        self.assertEqual(unwrapAction(wrapAction("waves")), (True, "waves"))

    def test_plain(self) -> None:
        """
        Ordinary text is not an action.
        """
        self.assertEqual(unwrapAction("hi"), (False, "hi"))

    def test_otherCTCP(self) -> None:
        """
        Other CTCP requests are not relayed.
        """
        self.assertIsNone(unwrapAction("\x01VERSION\x01"))

    def test_unterminated(self) -> None:
        """
        An action without its closing C{\\x01} (cut by a client) is still
        one.
        """
        self.assertEqual(unwrapAction("\x01ACTION dances"), (True, "dances"))

    def test_maxLine(self) -> None:
        """
        IRC's line is 512 bytes.
        """
        self.assertEqual(MAX_LINE, 512)
