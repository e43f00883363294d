"""
Tests for L{netlab.chat._wire}: the chat line protocol as pure functions and
frozen values.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from netlab.chat._wire import (
    Action,
    Command,
    Error,
    History,
    Joined,
    NickChanged,
    Notice,
    Parted,
    PrivateMessage,
    Quit,
    Reply,
    RoomMessage,
    ServerLine,
    cleanText,
    formatLine,
    isValidNick,
    isValidRoom,
    normalizeNick,
    parseCommand,
    parseServerLine,
)
from netlab.errors import ProtocolError

TAGS = [
    b"MSG",
    b"ACT",
    b"PRIV",
    b"JOIN",
    b"PART",
    b"NICK",
    b"QUIT",
    b"HIST",
    b"NOTE",
    b"OK",
    b"ERR",
]
"""
Every tag a server line may start with.
"""

NASTY = [
    "\x1b",
    "\x1b[31m",
    "\x1b[2J",
    "\x1b]0;pwned\x07",
    "\x1b]8;;http://example.com\x1b\\",
    "\x9b",
    "\x9d",
    "\x85",
    "\r",
    "\x07",
    "\x08",
    "\x00",
    "\x7f",
    "\t",
    "\u202e",
    "\u202d",
    "\u2066",
    "\u2069",
    "/",
    "//",
    " ",
    "hello",
    "\U0001f600",
]
"""
Fragments of text that a hostile user might send, and some harmless ones.
"""


def isUnsafe(character: str) -> bool:
    """
    @return: whether C{character} is one a terminal might act on: a C0 or C1
        control, DEL, or a bidirectional embedding, override or isolate.
    """
    code = ord(character)
    return (
        code < 0x20
        or 0x7F <= code < 0xA0
        or 0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
    )


words = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc"], exclude_characters=" "),
    min_size=1,
    max_size=20,
)
"""
Rooms, nicknames, codes, command names and values: no space, no CR or LF,
not empty.
"""

anyText = st.text(st.characters(codec="utf-8"), max_size=60)
"""
Any text that can be encoded as UTF-8, controls included.
"""

cleanTexts = anyText.map(cleanText)
"""
Free text as the server holds it: cleaned.
"""

roomEvents = st.one_of(
    st.builds(RoomMessage, words, words, cleanTexts),
    st.builds(Action, words, words, cleanTexts),
)

serverLines: st.SearchStrategy[ServerLine] = st.one_of(
    roomEvents,
    st.builds(PrivateMessage, words, words, cleanTexts),
    st.builds(Joined, words, words),
    st.builds(Parted, words, words, cleanTexts),
    st.builds(NickChanged, words, words),
    st.builds(Quit, words, cleanTexts),
    st.builds(Notice, cleanTexts),
    st.builds(History, roomEvents),
    st.builds(Reply, words, st.lists(words, max_size=5).map(tuple)),
    st.builds(Error, words, words, cleanTexts),
)

nastyLines = st.lists(st.sampled_from(NASTY), max_size=12).map(
    lambda parts: "".join(parts).encode("utf-8")
)
"""
Lines made of escape sequences, controls and ordinary text.
"""

clientLines = st.one_of(
    st.binary(max_size=80),
    anyText.map(lambda text: text.encode("utf-8")),
    anyText.map(lambda text: ("/" + text).encode("utf-8")),
    nastyLines,
    nastyLines.map(lambda line: b"/" + line),
)
"""
Anything a client might send as a line.
"""


class CleanTextTests(SynchronousTestCase):
    """
    Tests for L{cleanText}.
    """

    def test_ordinaryTextKept(self) -> None:
        """
        Ordinary text, accents and emoji included, is left alone.
        """
        for text in [
            "hello, world!",
            "caf\u00e9 \u00fcber \u65e5\u672c",
            "\U0001f600 ok",
        ]:
            self.assertEqual(cleanText(text), text)

    def test_escapeSequencesDefused(self) -> None:
        """
        ESC, CSI, OSC, C1 controls, a bare CR, bell, backspace, NUL and DEL
        are replaced by U+FFFD, so no terminal acts on them.
        """
        self.assertEqual(cleanText("a\x1b[31mred"), "a\ufffd[31mred")
        self.assertEqual(cleanText("\x1b]0;title\x07"), "\ufffd]0;title\ufffd")
        self.assertEqual(cleanText("x\x9b2Jy"), "x\ufffd2Jy")
        self.assertEqual(cleanText("over\rwrite"), "over\ufffdwrite")
        self.assertEqual(cleanText("ding\x07"), "ding\ufffd")
        self.assertEqual(cleanText("ab\x08\x08cd"), "ab\ufffd\ufffdcd")
        self.assertEqual(cleanText("\x00\x7f\x85"), "\ufffd\ufffd\ufffd")

    def test_bidiOverridesDefused(self) -> None:
        """
        Bidirectional embeddings, overrides and isolates are replaced.
        """
        self.assertEqual(
            cleanText("a\u202eb\u202ac\u2066d\u2069"),
            "a\ufffdb\ufffdc\ufffdd\ufffd",
        )

    def test_tabBecomesSpace(self) -> None:
        """
        A tab becomes a space.
        """
        self.assertEqual(cleanText("a\tb"), "a b")

    @given(anyText)
    def test_nothingUnsafeLeft(self, text: str) -> None:
        """
        Whatever the text, the result has its length and nothing unsafe.
        """
        cleaned = cleanText(text)
        self.assertEqual(len(cleaned), len(text))
        self.assertEqual([c for c in cleaned if isUnsafe(c)], [])
        self.assertEqual(cleanText(cleaned), cleaned)

    @given(anyText)
    def test_safeCharactersUntouched(self, text: str) -> None:
        """
        Every character that is neither unsafe nor a tab is kept as it is.
        """
        cleaned = cleanText(text)
        for before, after in zip(text, cleaned, strict=True):
            if not isUnsafe(before):
                self.assertEqual(after, before)


class NameTests(SynchronousTestCase):
    """
    Tests for L{isValidNick}, L{normalizeNick} and L{isValidRoom}.
    """

    def test_validNicks(self) -> None:
        """
        A letter or underscore, then up to 15 letters, digits, C{_} or C{-},
        is a nickname.
        """
        for nick in ["a", "alice", "_x", "Bob-2", "a" * 16, "Server_"]:
            self.assertTrue(isValidNick(nick), nick)

    def test_invalidNicks(self) -> None:
        """
        Too long, empty, a bad first character, spaces, punctuation,
        non-ASCII letters and reserved names are not nicknames.
        """
        for nick in [
            "",
            "a" * 17,
            "1abc",
            "-abc",
            "a b",
            "a.b",
            "#room",
            "caf\u00e9",
            "\u017fam",
            "ab\n",
            "server",
            "NetLab",
        ]:
            self.assertFalse(isValidNick(nick), nick)

    def test_normalizeNickIgnoresCase(self) -> None:
        """
        Nicknames that differ only in case normalize to the same key.
        """
        self.assertEqual(normalizeNick("Alice"), normalizeNick("aLICE"))
        self.assertNotEqual(normalizeNick("alice"), normalizeNick("alicia"))

    def test_rooms(self) -> None:
        """
        A room is C{#} and 1 to 31 letters, digits, C{_} or C{-}.
        """
        for room in ["#a", "#lobby", "#Dev-2_x", "#" + "r" * 31]:
            self.assertTrue(isValidRoom(room), room)
        for room in ["", "#", "lobby", "#" + "r" * 32, "#a b", "##", "#caf\u00e9"]:
            self.assertFalse(isValidRoom(room), room)


class ParseCommandTests(SynchronousTestCase):
    """
    Tests for L{parseCommand}.
    """

    def test_plainLine(self) -> None:
        """
        A line that does not start with a slash is said.
        """
        self.assertEqual(parseCommand(b"hello there"), Command("say", "hello there"))

    def test_command(self) -> None:
        """
        A line starting with a slash is a command, its arguments the rest of
        the line after one space, stripped.
        """
        self.assertEqual(parseCommand(b"/join #dev"), Command("join", "#dev"))
        self.assertEqual(parseCommand(b"/msg bob  hi  "), Command("msg", "bob  hi"))
        self.assertEqual(parseCommand(b"/who"), Command("who", ""))

    def test_caseInsensitive(self) -> None:
        """
        Command names are case-insensitive.
        """
        self.assertEqual(parseCommand(b"/JOIN #dev"), Command("join", "#dev"))
        self.assertEqual(parseCommand(b"/Me waves"), Command("me", "waves"))

    def test_doubleSlashSays(self) -> None:
        """
        C{//x} says C{/x}.
        """
        self.assertEqual(parseCommand(b"//x"), Command("say", "/x"))
        self.assertEqual(parseCommand(b"//join #dev"), Command("say", "/join #dev"))

    def test_utf8(self) -> None:
        """
        Lines are decoded as UTF-8.
        """
        line = "caf\u00e9 \U0001f600".encode()
        self.assertEqual(parseCommand(line), Command("say", "caf\u00e9 \U0001f600"))

    def test_notUTF8(self) -> None:
        """
        A line that is not UTF-8 raises L{ProtocolError}.
        """
        for line in [b"\xff", b"caf\xe9", b"\xc2", b"\xed\xa0\x80", b"/join \x80"]:
            self.assertRaises(ProtocolError, parseCommand, line)

    def test_textCleaned(self) -> None:
        """
        Controls and escape sequences in the text are defused.
        """
        self.assertEqual(
            parseCommand(b"\x1b[2Jhi\x07"), Command("say", "\ufffd[2Jhi\ufffd")
        )
        self.assertEqual(
            parseCommand(b"/me \xc2\x9bwaves\r"), Command("me", "\ufffdwaves\ufffd")
        )

    @given(clientLines)
    def test_onlyProtocolErrorAndNothingUnsafe(self, line: bytes) -> None:
        """
        Whatever the bytes, parsing raises nothing but L{ProtocolError}, and
        a parsed command's name and arguments hold no control character or
        bidirectional override.
        """
        try:
            command = parseCommand(line)
        except ProtocolError:
            return
        self.assertEqual([c for c in command.name + command.args if isUnsafe(c)], [])


class FormatLineTests(SynchronousTestCase):
    """
    Tests for L{formatLine}.
    """

    def test_everyTag(self) -> None:
        """
        Each kind of line is written as the module's grammar says, ending in
        CRLF.
        """
        cases: list[tuple[ServerLine, bytes]] = [
            (RoomMessage("#lobby", "alice", "hi all"), b"MSG #lobby alice hi all"),
            (Action("#lobby", "alice", "waves"), b"ACT #lobby alice waves"),
            (PrivateMessage("alice", "bob", "psst hi"), b"PRIV alice bob psst hi"),
            (Joined("#dev", "bob"), b"JOIN #dev bob"),
            (Parted("#dev", "bob"), b"PART #dev bob"),
            (Parted("#dev", "bob", "see you"), b"PART #dev bob see you"),
            (NickChanged("bob", "rob"), b"NICK bob rob"),
            (Quit("bob"), b"QUIT bob"),
            (Quit("bob", "gone home"), b"QUIT bob gone home"),
            (Notice("Welcome here"), b"NOTE Welcome here"),
            (
                History(RoomMessage("#lobby", "al", "hi")),
                b"HIST MSG #lobby al hi",
            ),
            (History(Action("#lobby", "al", "waves")), b"HIST ACT #lobby al waves"),
            (Reply("help"), b"OK help"),
            (Reply("who", ("#lobby", "alice", "bob")), b"OK who #lobby alice bob"),
            (
                Error("nick", "nick-taken", "bob is taken"),
                b"ERR nick nick-taken bob is taken",
            ),
            (Error("*", "bad-utf8", "no"), b"ERR * bad-utf8 no"),
        ]
        for value, line in cases:
            self.assertEqual(formatLine(value), line + b"\r\n")

    def test_utf8(self) -> None:
        """
        Text is written as UTF-8.
        """
        self.assertEqual(
            formatLine(RoomMessage("#r", "a", "caf\u00e9")),
            b"MSG #r a caf\xc3\xa9\r\n",
        )

    @given(anyText)
    def test_alwaysOneLine(self, text: str) -> None:
        """
        Even with CR or LF left in its text, a value is written as exactly
        one line.
        """
        values: list[ServerLine] = [
            RoomMessage("#r", "n", text),
            Quit("n", text),
            Parted("#r", "n", text),
            Notice(text),
            Error("*", "code", text),
        ]
        for value in values:
            line = formatLine(value)
            self.assertTrue(line.endswith(b"\r\n"))
            self.assertEqual(line.count(b"\n"), 1)
            self.assertEqual(line.count(b"\r"), 1)


class ParseServerLineTests(SynchronousTestCase):
    """
    Tests for L{parseServerLine}.
    """

    @given(serverLines)
    def test_roundTrip(self, value: ServerLine) -> None:
        """
        Parsing a formatted value gives the value back.
        """
        self.assertEqual(parseServerLine(formatLine(value)), value)

    @given(serverLines)
    def test_lineEndingOptional(self, value: ServerLine) -> None:
        """
        A line parses the same with CRLF, LF or no ending.
        """
        line = formatLine(value)[:-2]
        for ending in [b"", b"\n", b"\r\n"]:
            self.assertEqual(parseServerLine(line + ending), value)

    def test_examples(self) -> None:
        """
        Lines as a server writes them parse into their values.
        """
        self.assertEqual(
            parseServerLine(b"MSG #lobby alice hi  there\r\n"),
            RoomMessage("#lobby", "alice", "hi  there"),
        )
        self.assertEqual(parseServerLine(b"QUIT bob"), Quit("bob"))
        self.assertEqual(
            parseServerLine(b"OK rooms #a 1 #b 2"),
            Reply("rooms", ("#a", "1", "#b", "2")),
        )

    def test_notServerLines(self) -> None:
        """
        Unknown tags, missing fields, empty words, history of anything but a
        message or action, and bytes that are not UTF-8 raise
        L{ProtocolError}.
        """
        for line in [
            b"",
            b"HELLO world",
            b"msg #a b c",
            b"MSG #a",
            b"JOIN #a",
            b"JOIN #a b c",
            b"NICK a",
            b"QUIT",
            b"HIST JOIN #a b",
            b"HIST NOTE hi",
            b"OK",
            b"OK who  x",
            b"ERR * code",
            b"NOTE \xff",
        ]:
            self.assertRaises(ProtocolError, parseServerLine, line)

    def test_deepHistory(self) -> None:
        """
        History nested thousands deep raises L{ProtocolError}, not a
        recursion error.
        """
        self.assertRaises(
            ProtocolError, parseServerLine, b"HIST " * 100000 + b"MSG #a b c"
        )

    @given(
        st.one_of(
            st.binary(max_size=80),
            st.builds(
                lambda tag, rest: tag + b" " + rest,
                st.sampled_from(TAGS),
                st.binary(max_size=60),
            ),
            st.builds(
                lambda tag, rest: tag + b" " + rest.encode("utf-8"),
                st.sampled_from(TAGS),
                anyText,
            ),
        )
    )
    def test_onlyProtocolError(self, line: bytes) -> None:
        """
        Whatever the bytes, parsing raises nothing but L{ProtocolError}.
        """
        try:
            parseServerLine(line)
        except ProtocolError:
            pass
