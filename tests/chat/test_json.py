"""
Tests for L{netlab.chat._json}: the chat's WebSocket messages, each event
the server sends as a JSON object, and each command a client sends, parsed.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from netlab.chat._json import (
    COMMAND_FIELDS,
    USAGE,
    WebCommand,
    formatMessage,
    parseMessage,
    toObject,
)
from netlab.chat._wire import (
    Action,
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
    formatLine,
)
from tests.chat.test_server import isUnsafe

MAX = 1024


class ToObjectTests(SynchronousTestCase):
    """
    L{toObject}: every line of the line protocol as a JSON object, its tag
    in lower case as C{type}, its fields by name.
    """

    def test_events(self) -> None:
        """
        Each event's object has its fields by name; a private message's
        sender and recipient are C{from} and C{to}.
        """
        cases: list[tuple[ServerLine, dict[str, object]]] = [
            (
                RoomMessage("#lobby", "bob", "hi"),
                {"type": "msg", "room": "#lobby", "nick": "bob", "text": "hi"},
            ),
            (
                Action("#lobby", "bob", "waves"),
                {"type": "act", "room": "#lobby", "nick": "bob", "text": "waves"},
            ),
            (
                PrivateMessage("bob", "alice", "psst"),
                {"type": "priv", "from": "bob", "to": "alice", "text": "psst"},
            ),
            (Joined("#dev", "bob"), {"type": "join", "room": "#dev", "nick": "bob"}),
            (
                Parted("#dev", "bob", "joined #x"),
                {"type": "part", "room": "#dev", "nick": "bob", "reason": "joined #x"},
            ),
            (
                Parted("#dev", "bob"),
                {"type": "part", "room": "#dev", "nick": "bob", "reason": ""},
            ),
            (NickChanged("bob", "rob"), {"type": "nick", "old": "bob", "new": "rob"}),
            (Quit("bob", "bye"), {"type": "quit", "nick": "bob", "reason": "bye"}),
            (Notice("goodbye"), {"type": "note", "text": "goodbye"}),
            (
                Error("nick", "nick-taken", "bob is taken; choose another"),
                {
                    "type": "err",
                    "command": "nick",
                    "code": "nick-taken",
                    "text": "bob is taken; choose another",
                },
            ),
        ]
        for line, wanted in cases:
            self.assertEqual(toObject(line), wanted, line)

    def test_tagsAreTheLineProtocols(self) -> None:
        """
        Each object's C{type} is the line's tag in lower case.
        """
        lines: list[ServerLine] = [
            RoomMessage("#a", "b", "c"),
            Action("#a", "b", "c"),
            PrivateMessage("a", "b", "c"),
            Joined("#a", "b"),
            Parted("#a", "b"),
            NickChanged("a", "b"),
            Quit("a"),
            Notice("a"),
            History(RoomMessage("#a", "b", "c")),
            Reply("quit"),
            Error("*", "a", "b"),
        ]
        for line in lines:
            tag = formatLine(line).split(b" ")[0].decode().strip().lower()
            self.assertEqual(toObject(line)["type"], tag, line)

    def test_history(self) -> None:
        """
        A history line holds its message or action as an object of its own.
        """
        self.assertEqual(
            toObject(History(Action("#lobby", "bob", "waves"))),
            {
                "type": "hist",
                "event": {
                    "type": "act",
                    "room": "#lobby",
                    "nick": "bob",
                    "text": "waves",
                },
            },
        )

    def test_replies(self) -> None:
        """
        Each reply names its values: C{nick}, C{room}, C{to}; C{who} a room
        and a list of nicknames; C{rooms} a list of rooms with their
        counts, as numbers.
        """
        cases: list[tuple[Reply, dict[str, object]]] = [
            (Reply("nick", ("alice",)), {"nick": "alice"}),
            (Reply("join", ("#dev",)), {"room": "#dev"}),
            (Reply("part", ("#dev",)), {"room": "#dev"}),
            (Reply("msg", ("bob",)), {"to": "bob"}),
            (
                Reply("who", ("#lobby", "alice", "bob")),
                {"room": "#lobby", "nicks": ["alice", "bob"]},
            ),
            (
                Reply("rooms", ("#dev", "1", "#lobby", "12")),
                {
                    "rooms": [
                        {"room": "#dev", "count": 1},
                        {"room": "#lobby", "count": 12},
                    ]
                },
            ),
            (Reply("rooms"), {"rooms": []}),
            (Reply("quit"), {}),
            (Reply("help"), {}),
            (Reply("other", ("a", "b")), {"values": ["a", "b"]}),
        ]
        for reply, fields in cases:
            self.assertEqual(
                toObject(reply), {"type": "ok", "command": reply.command, **fields}
            )


class FormatMessageTests(SynchronousTestCase):
    """
    L{formatMessage}: one object, compact JSON, text as it is.
    """

    def test_compact(self) -> None:
        """
        The JSON has no spaces between its tokens, and text that is not
        ASCII as it is, not escaped.
        """
        self.assertEqual(
            formatMessage(RoomMessage("#lobby", "bob", "h\u00e9 \u263a")),
            '{"type":"msg","room":"#lobby","nick":"bob","text":"h\u00e9 \u263a"}',
        )

    def test_markupIsText(self) -> None:
        """
        Markup in a message is a JSON string like any other: nothing in the
        message says it is HTML.
        """
        text = "<img src=x onerror=alert(1)>"
        message = formatMessage(RoomMessage("#lobby", "eve", text))
        self.assertEqual(json.loads(message)["text"], text)

    @given(
        st.text(),
        st.sampled_from(["msg", "act", "priv", "note", "quit", "part", "err"]),
    )
    def test_anyTextRoundTrips(self, text: str, kind: str) -> None:
        """
        Whatever the text, the message is one JSON object that reads back
        as L{toObject}'s.
        """
        lines: dict[str, ServerLine] = {
            "msg": RoomMessage("#a", "b", text),
            "act": Action("#a", "b", text),
            "priv": PrivateMessage("a", "b", text),
            "note": Notice(text),
            "quit": Quit("a", text),
            "part": Parted("#a", "b", text),
            "err": Error("*", "x", text),
        }
        line = lines[kind]
        self.assertEqual(json.loads(formatMessage(line)), toObject(line))


class ParseMessageTests(SynchronousTestCase):
    """
    L{parseMessage}: a client's command, or the error to answer it with.
    """

    def parse(self, message: object) -> WebCommand | Error:
        return parseMessage(json.dumps(message), MAX)

    def test_commands(self) -> None:
        """
        Each command gives its fields in the order of its arguments.
        """
        cases: list[tuple[dict[str, object], WebCommand]] = [
            ({"type": "nick", "nick": "alice"}, WebCommand("nick", ("alice",))),
            ({"type": "say", "text": "hi"}, WebCommand("say", ("hi",))),
            ({"type": "me", "text": "waves"}, WebCommand("me", ("waves",))),
            ({"type": "join", "room": "#dev"}, WebCommand("join", ("#dev",))),
            ({"type": "part"}, WebCommand("part", ("",))),
            ({"type": "part", "reason": "lunch"}, WebCommand("part", ("lunch",))),
            (
                {"type": "msg", "to": "bob", "text": "psst"},
                WebCommand("msg", ("bob", "psst")),
            ),
            ({"type": "who"}, WebCommand("who")),
            ({"type": "rooms"}, WebCommand("rooms")),
            ({"type": "quit"}, WebCommand("quit", ("",))),
            ({"type": "quit", "reason": "bye"}, WebCommand("quit", ("bye",))),
        ]
        for message, command in cases:
            self.assertEqual(self.parse(message), command)
        self.assertEqual(
            sorted(COMMAND_FIELDS),
            sorted({message["type"] for message, _ in cases}),  # type: ignore[misc]
        )

    def test_otherFieldsIgnored(self) -> None:
        """
        Fields a command does not have are ignored.
        """
        self.assertEqual(
            self.parse({"type": "say", "text": "hi", "id": 7, "room": "#x"}),
            WebCommand("say", ("hi",)),
        )

    def test_notJSON(self) -> None:
        """
        A message that is not a JSON object is answered with C{bad-json},
        naming no command.
        """
        for text in ["hi", "", "[1, 2]", '"say"', "null", "{", "1" * 5000]:
            error = parseMessage(text, MAX)
            self.assertIsInstance(error, Error, text)
            assert isinstance(error, Error)
            self.assertEqual((error.command, error.code), ("*", "bad-json"))

    def test_deepNesting(self) -> None:
        """
        JSON nested deeper than Python can read is C{bad-json}, not a crash.
        """
        error = parseMessage("[" * 100000 + "]" * 100000, MAX)
        self.assertEqual(
            (error.command, error.code),  # type: ignore[union-attr]
            ("*", "bad-json"),
        )

    def test_unknownType(self) -> None:
        """
        An object without a known C{type} is C{unknown-command}, naming the
        type if it is a word, and listing the types there are.
        """
        cases: list[tuple[dict[str, object], str]] = [
            ({"type": "frob"}, "frob"),
            ({"type": "help"}, "help"),
            ({}, "*"),
            ({"type": 3}, "*"),
            ({"type": "two words"}, "*"),
            ({"type": "x" * 100}, "*"),
        ]
        for message, command in cases:
            error = self.parse(message)
            self.assertIsInstance(error, Error, message)
            assert isinstance(error, Error)
            self.assertEqual((error.command, error.code), (command, "unknown-command"))
            self.assertIn(
                "nick, say, me, join, part, msg, who, rooms, quit", error.text
            )
            self.assertLess(len(error.text), 200)

    def test_usage(self) -> None:
        """
        A field missing, or not a string, is C{usage}, with what the
        command looks like.
        """
        messages: list[dict[str, object]] = [
            {"type": "nick"},
            {"type": "say", "text": 3},
            {"type": "join", "room": None},
            {"type": "msg", "to": "bob"},
            {"type": "msg", "text": "hi"},
            {"type": "part", "reason": ["x"]},
        ]
        for message in messages:
            error = self.parse(message)
            self.assertIsInstance(error, Error, message)
            assert isinstance(error, Error)
            name = str(message["type"])
            self.assertEqual((error.command, error.code), (name, "usage"))
            self.assertEqual(error.text, USAGE[name])
        self.assertEqual(USAGE["msg"], '{"type": "msg", "to": "TO", "text": "TEXT"}')

    def test_tooLong(self) -> None:
        """
        A command whose strings hold more than C{maxLength} bytes together,
        in UTF-8, is C{line-too-long}; one of exactly that many is taken.
        """
        self.assertEqual(
            parseMessage(json.dumps({"type": "say", "text": "x" * 10}), 10),
            WebCommand("say", ("x" * 10,)),
        )
        for message in [
            {"type": "say", "text": "x" * 11},
            {"type": "say", "text": "\u00e9" * 6},
            {"type": "msg", "to": "bob", "text": "x" * 8},
        ]:
            error = parseMessage(json.dumps(message), 10)
            self.assertIsInstance(error, Error, message)
            assert isinstance(error, Error)
            self.assertEqual(
                (error.command, error.code), (message["type"], "line-too-long")
            )
            self.assertIn("10 bytes", error.text)

    def test_cleaned(self) -> None:
        """
        Text is cleaned as the line protocol cleans it: a tab is a space,
        a control character or a bidirectional override U+FFFD; a lone
        surrogate (from a C{\\u} escape) is U+FFFD too.
        """
        self.assertEqual(
            parseMessage(r'{"type": "say", "text": "a\tb\u001b[2Jc\u202ed\r\ne"}', MAX),
            WebCommand("say", ("a b\ufffd[2Jc\ufffdd\ufffd\ufffde",)),
        )
        command = parseMessage(r'{"type": "say", "text": "x\ud800y\udfffz"}', MAX)
        self.assertEqual(command, WebCommand("say", ("x\ufffdy\ufffdz",)))

    @given(st.text())
    def test_anyTextParses(self, text: str) -> None:
        """
        Whatever the text, L{parseMessage} gives a command or an error, and
        never raises.
        """
        self.assertIsInstance(parseMessage(text, MAX), (WebCommand, Error))

    @given(
        st.sampled_from(sorted(COMMAND_FIELDS)),
        st.dictionaries(
            st.sampled_from(["nick", "text", "room", "to", "reason"]),
            st.text(max_size=300),
        ),
    )
    def test_argumentsAreSafe(self, name: str, fields: dict[str, str]) -> None:
        """
        Whatever a command's strings hold, its arguments hold no character
        a terminal acts on, and are valid UTF-8 once encoded: a line
        protocol user can be sent them.
        """
        result = parseMessage(json.dumps({"type": name, **fields}), MAX)
        if isinstance(result, WebCommand):
            for arg in result.args:
                self.assertEqual([c for c in arg if isUnsafe(c)], [])
                arg.encode("utf-8")


class FormattingTests(SynchronousTestCase):
    """
    Text from IRC users reaches browsers without IRC's formatting codes.
    """

    def test_stripped(self) -> None:
        """
        Bold and colour codes are taken out of a message's text.
        """
        self.assertEqual(
            toObject(RoomMessage("#lobby", "alice", "\x02bold\x02 \x0304red")),
            {"type": "msg", "room": "#lobby", "nick": "alice", "text": "bold red"},
        )
