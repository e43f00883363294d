"""
Tests for L{netlab._terminal}: the terminal interface of the interactive
client commands, piece by piece (keys, the line editor, the layout), then
the insults protocol over a fake terminal, read back through a terminal
emulator no one here wrote (pyte), then raw mode and the connection, with
everything put back on each way out.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import termios
from collections.abc import Sequence
from typing import Any

import pyte
from hypothesis import given
from hypothesis import strategies as st
from twisted.conch.insults.insults import (
    FUNCTION_KEYS,
    ITerminalProtocol,
    ServerProtocol,
    TerminalProtocol,
)
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from netlab._stdin import (
    Emphasis,
    IConsole,
    IStdio,
    ITerminalHandler,
    LineReader,
    LineStdio,
)
from netlab._terminal import (
    Action,
    InputHistory,
    KeyDecoder,
    LineEditor,
    Screen,
    TerminalConnection,
    TerminalMode,
    TerminalReader,
    TerminalServer,
    TerminalStdio,
    clusterWidth,
    fitInput,
    restoreSequence,
    standardIO,
    wantsScreen,
    watchWindowSize,
    windowSize,
)

ALT = ServerProtocol.ALT


class KeyDecoderTests(SynchronousTestCase):
    """
    Tests for L{KeyDecoder}.
    """

    def setUp(self) -> None:
        self.keys = KeyDecoder()

    def _feed(self, data: bytes) -> list[str]:
        keys: list[str] = []
        for byte in data:
            keys.extend(self.keys.keystroke(bytes([byte]), None))
        return keys

    def test_ascii(self) -> None:
        """
        A printable ASCII byte is its character.
        """
        self.assertEqual(self._feed(b"hi there!~"), list("hi there!~"))

    def test_utf8(self) -> None:
        """
        The bytes of a UTF-8 character, which insults gives one keystroke
        at a time, make the character once the last has come.
        """
        self.assertEqual(self.keys.keystroke(b"\xc3", None), [])
        self.assertEqual(self.keys.keystroke(b"\xa9", None), ["é"])
        self.assertEqual(self._feed("café 中文 👩‍💻".encode()), list("café 中文 👩‍💻"))

    def test_notUTF8(self) -> None:
        """
        A byte that is not UTF-8 is U+FFFD, and so is a sequence cut short
        by another key, which still counts.
        """
        self.assertEqual(self._feed(b"\xff"), ["\ufffd"])
        self.assertEqual(self._feed(b"\xe4\xb8a"), ["\ufffd", "a"])
        self.assertEqual(
            self._feed(b"\xc3") + self.keys.keystroke(ServerProtocol.LEFT_ARROW, None),
            ["\ufffd", "Left"],
        )

    def test_controls(self) -> None:
        """
        Control bytes are named keys: Enter (CR or LF), Tab, Backspace (DEL
        or Ctrl-H), and C{Ctrl-} and their letter for the rest.
        """
        self.assertEqual(
            self._feed(b"\r\n\t\x7f\x08\x01\x03\x04\x05\x15\x17\x0c"),
            [
                "Enter",
                "Enter",
                "Tab",
                "Backspace",
                "Backspace",
                "Ctrl-A",
                "Ctrl-C",
                "Ctrl-D",
                "Ctrl-E",
                "Ctrl-U",
                "Ctrl-W",
                "Ctrl-L",
            ],
        )

    def test_functionKeys(self) -> None:
        """
        Each of insults' function keys has a name.
        """
        self.assertEqual(
            [
                self.keys.keystroke(key, None)
                for key in (
                    ServerProtocol.UP_ARROW,
                    ServerProtocol.DOWN_ARROW,
                    ServerProtocol.LEFT_ARROW,
                    ServerProtocol.RIGHT_ARROW,
                    ServerProtocol.HOME,
                    ServerProtocol.END,
                    ServerProtocol.DELETE,
                    ServerProtocol.F12,
                )
            ],
            [[name] for name in ("Up", "Down", "Left", "Right", "Home", "End")]
            + [["Delete"], ["F12"]],
        )
        for key in FUNCTION_KEYS:
            if key not in (ALT, ServerProtocol.SHIFT, ServerProtocol.CONTROL):
                self.assertEqual(len(self.keys.keystroke(key, None)), 1, key)

    def test_modifiers(self) -> None:
        """
        Alt with a letter, Alt with Backspace, and Shift-Tab are named.
        """
        self.assertEqual(self.keys.keystroke(b"b", ALT), ["Alt-b"])
        self.assertEqual(self.keys.keystroke(b"\x7f", ALT), ["Alt-Backspace"])
        self.assertEqual(self.keys.keystroke(b"\r", ALT), [])
        self.assertEqual(
            self.keys.keystroke(ServerProtocol.TAB, ServerProtocol.SHIFT),
            ["Shift-Tab"],
        )

    def test_sequences(self) -> None:
        """
        Sequences insults leaves unhandled are named if known: modified
        arrows, application-mode arrows, rxvt's Home and End.
        """
        self.assertEqual(self.keys.sequence(b"\x1b[1;5D"), ["Ctrl-Left"])
        self.assertEqual(self.keys.sequence(b"\x1b[OA"), ["Up"])
        self.assertEqual(self.keys.sequence(b"\x1b[8~"), ["End"])
        self.assertEqual(self.keys.sequence(b"\x1b[99~"), [])

    def test_throughInsults(self) -> None:
        """
        What a terminal sends, parsed by insults' C{ServerProtocol}, comes
        out as the keys pressed.
        """
        keys: list[str] = []

        class Recorder(TerminalProtocol):  # type: ignore[misc]
            def keystrokeReceived(self, keyID: bytes, modifier: Any) -> None:
                keys.extend(decoder.keystroke(keyID, modifier))

            def unhandledControlSequence(self, seq: bytes) -> None:
                keys.extend(decoder.sequence(seq))

        decoder = KeyDecoder()
        server = ServerProtocol(Recorder)
        server.makeConnection(StringTransport())
        server.dataReceived(
            "café".encode() + b"\x1b[D\x1b[1;5C\x1bb\x1b[3~\x1bOH\x1b[1~\x1b[A\r"
        )
        self.assertEqual(
            keys,
            [*"café", *"Left Ctrl-Right Alt-b Delete Home Home Up Enter".split()],
        )


def _editor(text: str = "", cursor: int | None = None, **kwargs: Any) -> LineEditor:
    editor = LineEditor(kwargs.pop("maxBytes", 1000), **kwargs)
    editor.insert(text)
    if cursor is not None:
        editor.cursor = cursor
    return editor


def _press(editor: LineEditor, *keys: str) -> list[Action]:
    return [editor.press(key) for key in keys]


class LineEditorTests(SynchronousTestCase):
    """
    Tests for L{LineEditor}, the input line without a terminal.
    """

    def test_typing(self) -> None:
        """
        Characters are typed in at the cursor.
        """
        editor = _editor()
        self.assertEqual(_press(editor, "h", "é"), [Action.EDITED] * 2)
        _press(editor, "Left", "x")
        self.assertEqual((editor.text, editor.cursor), ("hxé", 2))

    def test_moving(self) -> None:
        """
        Left/Right and Ctrl-B/Ctrl-F move by one, Home/End and
        Ctrl-A/Ctrl-E to the ends; moving past an end is refused.
        """
        editor = _editor("abc")
        self.assertEqual(_press(editor, "Right"), [Action.REFUSED])
        _press(editor, "Left", "Ctrl-B")
        self.assertEqual(editor.cursor, 1)
        _press(editor, "Ctrl-F")
        self.assertEqual(editor.cursor, 2)
        _press(editor, "Home")
        self.assertEqual(editor.cursor, 0)
        self.assertEqual(_press(editor, "Left"), [Action.REFUSED])
        _press(editor, "End")
        self.assertEqual(editor.cursor, 3)
        _press(editor, "Ctrl-A")
        self.assertEqual(editor.cursor, 0)
        _press(editor, "Ctrl-E")
        self.assertEqual(editor.cursor, 3)

    def test_words(self) -> None:
        """
        Ctrl-Left/Alt-b and Ctrl-Right/Alt-f move by words.
        """
        editor = _editor("one two  three")
        _press(editor, "Alt-b")
        self.assertEqual(editor.cursor, 9)
        _press(editor, "Ctrl-Left", "Alt-Left")
        self.assertEqual(editor.cursor, 0)
        _press(editor, "Alt-f")
        self.assertEqual(editor.cursor, 3)
        _press(editor, "Ctrl-Right")
        self.assertEqual(editor.cursor, 7)

    def test_backspaceAndDelete(self) -> None:
        """
        Backspace removes before the cursor, Delete (and Ctrl-D) under it;
        nothing there to remove is refused.
        """
        editor = _editor("abcd", cursor=2)
        _press(editor, "Backspace")
        self.assertEqual((editor.text, editor.cursor), ("acd", 1))
        _press(editor, "Delete")
        self.assertEqual((editor.text, editor.cursor), ("ad", 1))
        _press(editor, "Ctrl-D")
        self.assertEqual((editor.text, editor.cursor), ("a", 1))
        self.assertEqual(_press(editor, "Delete", "Ctrl-D"), [Action.REFUSED] * 2)
        _press(editor, "Home")
        self.assertEqual(_press(editor, "Backspace"), [Action.REFUSED])

    def test_endOfInput(self) -> None:
        """
        Ctrl-D on an empty line is the end of input.
        """
        self.assertEqual(_press(_editor(), "Ctrl-D"), [Action.END])

    def test_cutAndPaste(self) -> None:
        """
        Ctrl-U cuts to the start, Ctrl-K to the end, Ctrl-W and
        Alt-Backspace the word before, Alt-d the word after; Ctrl-Y puts
        back what was cut last.
        """
        editor = _editor("say hello world", cursor=10)
        _press(editor, "Ctrl-W")
        self.assertEqual((editor.text, editor.cursor), ("say world", 4))
        _press(editor, "Ctrl-Y")
        self.assertEqual((editor.text, editor.cursor), ("say hello world", 10))
        _press(editor, "Ctrl-K")
        self.assertEqual(editor.text, "say hello ")
        _press(editor, "Ctrl-U")
        self.assertEqual((editor.text, editor.cursor), ("", 0))
        _press(editor, "Ctrl-Y")
        self.assertEqual(editor.text, "say hello ")
        _press(editor, "Alt-Backspace")
        self.assertEqual(editor.text, "say ")
        _press(editor, "Home", "Alt-d")
        self.assertEqual(editor.text, " ")
        self.assertEqual(_press(_editor(), "Ctrl-Y", "Ctrl-W"), [Action.REFUSED] * 2)

    def test_clusters(self) -> None:
        """
        The cursor moves over, and Backspace and Delete remove, a character
        as it is seen: a letter with its combining accent, an emoji made of
        several code points.
        """
        text = "e\u0301👩\u200d💻x"
        editor = _editor(text)
        _press(editor, "Left", "Left")
        self.assertEqual(editor.cursor, 2)
        _press(editor, "Left")
        self.assertEqual(editor.cursor, 0)
        _press(editor, "Right")
        self.assertEqual(editor.cursor, 2)
        _press(editor, "Delete")
        self.assertEqual(editor.text, "e\u0301x")
        _press(editor, "Backspace")
        self.assertEqual((editor.text, editor.cursor), ("x", 0))

    def test_controlsLeftOut(self) -> None:
        """
        What a terminal would act on cannot be typed in: the rest of the
        text is, and the key is refused.
        """
        editor = _editor()
        self.assertEqual(editor.insert("a\x1b[2Jb\x9bc"), Action.REFUSED)
        self.assertEqual(editor.text, "a[2Jbc")

    def test_maxBytes(self) -> None:
        """
        What would make the line longer than C{maxBytes} of UTF-8 is
        refused as it is typed, never cutting a character in two.
        """
        editor = _editor(maxBytes=4)
        self.assertEqual(_press(editor, "a", "é", "b"), [Action.EDITED] * 3)
        self.assertEqual(_press(editor, "c", "é"), [Action.REFUSED] * 2)
        self.assertEqual(editor.text, "aéb")
        self.assertEqual(_editor(maxBytes=2).insert("aé"), Action.REFUSED)

    def test_otherKeys(self) -> None:
        """
        Enter asks to submit, Ctrl-C to interrupt, Ctrl-L to redraw; other
        keys are refused.
        """
        editor = _editor("x")
        self.assertEqual(
            _press(editor, "Enter", "Ctrl-C", "Ctrl-L", "F5", "Ctrl-Z"),
            [Action.SUBMIT, Action.INTERRUPT, Action.REDRAW] + [Action.REFUSED] * 2,
        )
        self.assertEqual(editor.text, "x")

    def test_submit(self) -> None:
        """
        Submitting takes the line, keeps it in the history, and empties the
        input line.
        """
        editor = _editor("hello", cursor=2)
        self.assertEqual(editor.submit(), "hello")
        self.assertEqual((editor.text, editor.cursor), ("", 0))
        self.assertEqual(editor.history.lines, ("hello",))

    def test_history(self) -> None:
        """
        Up and Ctrl-P go back through the lines sent, Down and Ctrl-N
        forward to the line being typed, which is kept as it was.
        """
        editor = _editor()
        for line in ("one", "two"):
            editor.insert(line)
            editor.submit()
        editor.insert("draft")
        _press(editor, "Up")
        self.assertEqual((editor.text, editor.cursor), ("two", 3))
        _press(editor, "Ctrl-P")
        self.assertEqual(editor.text, "one")
        self.assertEqual(_press(editor, "Up"), [Action.REFUSED])
        _press(editor, "Down")
        self.assertEqual(editor.text, "two")
        _press(editor, "Ctrl-N")
        self.assertEqual(editor.text, "draft")
        self.assertEqual(_press(editor, "Down"), [Action.REFUSED])

    def test_completion(self) -> None:
        """
        Tab replaces the word before the cursor with the first candidate,
        each Tab after with the next, round again; Shift-Tab goes back; the
        completer is told the word and whether it starts the line.
        """
        asked: list[tuple[str, bool]] = []

        def completer(word: str, first: bool) -> Sequence[str]:
            asked.append((word, first))
            return ["bob: ", "bobby: "] if first else ["bob ", "bobby "]

        editor = _editor("bo", completer=completer)
        _press(editor, "Tab")
        self.assertEqual((editor.text, editor.cursor), ("bob: ", 5))
        _press(editor, "Tab")
        self.assertEqual(editor.text, "bobby: ")
        _press(editor, "Tab")
        self.assertEqual(editor.text, "bob: ")
        _press(editor, "Shift-Tab")
        self.assertEqual(editor.text, "bobby: ")
        self.assertEqual(asked, [("bo", True)])
        _press(editor, "h", "i", " ", "b", "Tab")
        self.assertEqual(editor.text, "bobby: hi bob ")
        self.assertEqual(asked[-1], ("b", False))

    def test_completionInTheMiddle(self) -> None:
        """
        Completion replaces the word before the cursor, keeping what
        follows.
        """
        editor = _editor("/msg b hi", cursor=6, completer=lambda w, f: ["bob "])
        _press(editor, "Tab")
        self.assertEqual((editor.text, editor.cursor), ("/msg bob  hi", 9))

    def test_noCompletion(self) -> None:
        """
        With nothing to complete to, Tab is refused and nothing changes.
        """
        editor = _editor("zz")
        self.assertEqual(_press(editor, "Tab"), [Action.REFUSED])
        self.assertEqual(editor.text, "zz")


class InputHistoryTests(SynchronousTestCase):
    """
    Tests for L{InputHistory}.
    """

    def test_kept(self) -> None:
        """
        Empty lines, and a line the same as the last, are not kept; only the
        newest C{limit} lines are.
        """
        history = InputHistory(limit=2)
        for line in ("a", "", "b", "b", "c"):
            history.add(line)
        self.assertEqual(history.lines, ("b", "c"))

    def test_draftKept(self) -> None:
        """
        Going back keeps the line being typed, to come back to.
        """
        history = InputHistory()
        history.add("old")
        self.assertEqual(history.back("typing"), "old")
        self.assertIsNone(history.back("old"))
        self.assertEqual(history.forward(), "typing")
        self.assertIsNone(history.forward())

    def test_empty(self) -> None:
        """
        With nothing sent, there is nothing to go back to.
        """
        self.assertIsNone(InputHistory().back("x"))


class FitInputTests(SynchronousTestCase):
    """
    Tests for L{fitInput}.
    """

    def test_fits(self) -> None:
        """
        A line that fits is shown whole, after the prompt.
        """
        view = fitInput("> ", "hello", 5, 20)
        self.assertEqual((view.prompt, view.text, view.column), ("> ", "hello", 7))

    def test_scrolledToCursor(self) -> None:
        """
        A line too long is shown around the cursor, the last column left
        for the cursor at the end.
        """
        text = "0123456789" * 3
        view = fitInput("> ", text, len(text), 12)
        self.assertEqual((view.text, view.column), ("123456789", 11))
        view = fitInput("> ", text, 0, 12, offset=view.offset)
        self.assertEqual((view.text, view.column, view.offset), ("012345678", 2, 0))

    def test_offsetKept(self) -> None:
        """
        While the cursor is shown, the part shown does not move.
        """
        text = "0123456789" * 3
        first = fitInput("> ", text, 20, 12)
        second = fitInput("> ", text, 18, 12, first.offset)
        self.assertEqual(second.offset, first.offset)
        self.assertEqual(second.column, first.column - 2)

    def test_wide(self) -> None:
        """
        Wide characters take two columns, and are never cut in two.
        """
        view = fitInput("> ", "中文字符", 4, 8)
        self.assertEqual((view.text, view.column), ("字符", 6))
        self.assertEqual(clusterWidth("中文"), 4)

    def test_longPrompt(self) -> None:
        """
        A prompt takes at most half the row: its end is kept.
        """
        view = fitInput("[#averylongroomname] alice> ", "hi", 2, 20)
        self.assertEqual(view.prompt, "e] alice> ")

    @given(
        st.text(st.sampled_from("ab中😀 e\u0301"), max_size=40),
        st.data(),
        st.integers(min_value=2, max_value=30),
    )
    def test_alwaysFits(self, text: str, data: Any, width: int) -> None:
        """
        Whatever the line, the cursor and the width, what is shown fits in
        all but the last column and includes the cursor.
        """
        editor = _editor(text)
        cursor = data.draw(st.sampled_from([0, *_boundaries(editor)]))
        offset = data.draw(st.integers(min_value=0, max_value=len(text)))
        view = fitInput("> ", editor.text, cursor, width, min(offset, cursor))
        self.assertLessEqual(clusterWidth(view.prompt + view.text), width - 1)
        self.assertLessEqual(view.column, width - 1)
        self.assertEqual(
            editor.text[view.offset : view.offset + len(view.text)], view.text
        )
        self.assertLessEqual(view.offset, cursor)
        self.assertLessEqual(cursor, view.offset + len(view.text))


def _boundaries(editor: LineEditor) -> list[int]:
    editor.press("Home")
    found = []
    while editor.press("Right") is Action.EDITED:
        found.append(editor.cursor)
    return found


class _Screen:
    """
    A terminal emulator (pyte) of C{width} by C{height}, fed what an insults
    C{ServerProtocol} writes over a L{StringTransport}.
    """

    def __init__(self, width: int, height: int) -> None:
        self.emulator = pyte.Screen(width, height)
        self._stream = pyte.ByteStream(self.emulator)
        self.transport = StringTransport()

    def read(self) -> list[str]:
        """
        @return: the rows as a person sees them, without trailing spaces.
        """
        self._stream.feed(self.transport.value())
        self.transport.clear()
        return [row.rstrip() for row in self.emulator.display]

    @property
    def cursor(self) -> tuple[int, int]:
        self.read()
        return (self.emulator.cursor.x, self.emulator.cursor.y)


class ScreenTests(SynchronousTestCase):
    """
    Tests for L{Screen}, the layout, read back through a terminal emulator.
    """

    def setUp(self) -> None:
        self.terminal = _Screen(20, 5)
        self.protocol = ServerProtocol()
        self.protocol.makeConnection(self.terminal.transport)
        self.screen = Screen(self.protocol, 20, 5, colour=True)
        self.screen.start()
        self.screen.showInput("> ", "typing", 6)

    def test_layout(self) -> None:
        """
        Every row but the last scrolls; the last is the input line, with the
        cursor in it.
        """
        self.assertEqual(self.terminal.read(), ["", "", "", "", "> typing"])
        self.assertEqual(tuple(self.terminal.emulator.margins or ()), (0, 3))
        self.assertEqual(self.terminal.cursor, (8, 4))

    def test_linesAbove(self) -> None:
        """
        Each line shows above the input line, scrolling the others up; the
        input line and its cursor stay as they were.
        """
        for line in ("one", "two", "three", "four", "five"):
            self.screen.showLine(line)
        self.assertEqual(
            self.terminal.read(), ["two", "three", "four", "five", "> typing"]
        )
        self.assertEqual(self.terminal.cursor, (8, 4))

    def test_longLineWraps(self) -> None:
        """
        A line longer than the screen is wide wraps, within the region.
        """
        self.screen.showLine("x" * 25)
        self.assertEqual(self.terminal.read()[2:], ["x" * 20, "x" * 5, "> typing"])

    def test_emphasis(self) -> None:
        """
        A highlight is bold yellow, a direct line bold magenta; without
        colour, both are bold; what follows is plain again.
        """
        self.screen.showLine("hi alice", Emphasis.HIGHLIGHT)
        self.screen.showLine("psst", Emphasis.DIRECT)
        self.screen.showLine("plain")
        self.terminal.read()
        buffer = self.terminal.emulator.buffer
        self.assertEqual((buffer[1][0].bold, buffer[1][0].fg), (True, "brown"))
        self.assertEqual((buffer[2][0].bold, buffer[2][0].fg), (True, "magenta"))
        self.assertEqual((buffer[3][0].bold, buffer[3][0].fg), (False, "default"))
        plain = Screen(self.protocol, 20, 5, colour=False)
        plain.showLine("hi alice", Emphasis.HIGHLIGHT)
        self.terminal.read()
        self.assertEqual((buffer[3][0].bold, buffer[3][0].fg), (True, "default"))

    def test_resize(self) -> None:
        """
        After a resize the screen is drawn again at the new size: the
        latest lines at the bottom of the new region, nothing left where
        the input line was.
        """
        for line in ("one", "two", "three", "four", "five"):
            self.screen.showLine(line)
        self.terminal.emulator.resize(8, 30)
        self.screen.resize(30, 8)
        self.screen.showInput("> ", "typing", 6)
        self.assertEqual(
            self.terminal.read(),
            ["", "", "one", "two", "three", "four", "five", "> typing"],
        )
        self.assertEqual(tuple(self.terminal.emulator.margins or ()), (0, 6))
        self.terminal.emulator.resize(4, 30)
        self.screen.resize(30, 4)
        self.screen.showInput("> ", "typing", 6)
        self.assertEqual(self.terminal.read(), ["three", "four", "five", "> typing"])

    def test_redraw(self) -> None:
        """
        Redrawing (Ctrl-L) clears what something else wrote and draws the
        latest lines again, with their emphasis.
        """
        self.screen.showLine("kept", Emphasis.DIRECT)
        self.protocol.cursorPosition(3, 1)
        self.protocol.write(b"garbage")
        self.screen.redraw()
        self.screen.showInput("> ", "typing", 6)
        self.assertEqual(self.terminal.read(), ["", "", "", "kept", "> typing"])
        self.assertTrue(self.terminal.emulator.buffer[3][0].bold)

    def test_small(self) -> None:
        """
        On two rows, the one output row shows the latest line; on one, only
        the input line is shown.
        """
        terminal = _Screen(10, 2)
        protocol = ServerProtocol()
        protocol.makeConnection(terminal.transport)
        screen = Screen(protocol, 10, 2, colour=True)
        screen.start()
        screen.showInput("> ", "x", 1)
        screen.showLine("a long first line")
        screen.showLine("second")
        self.assertEqual(terminal.read(), ["second", "> x"])
        screen.resize(10, 1)
        screen.showLine("unseen")
        screen.showInput("> ", "y", 1)
        self.assertEqual(terminal.read()[0], "> y")

    def test_restore(self) -> None:
        """
        Restoring ends the scroll region and erases the input line, leaving
        the cursor at the start of the last row and the output where it is;
        nothing is drawn after.
        """
        self.screen.showLine("said")
        self.screen.restore()
        self.screen.showLine("late")
        self.screen.showInput("> ", "late", 4)
        self.assertEqual(self.terminal.read(), ["", "", "", "said", ""])
        self.assertEqual(self.terminal.cursor, (0, 4))
        self.assertEqual(tuple(self.terminal.emulator.margins or (0, 4)), (0, 4))
        self.assertEqual(restoreSequence(5), b"\x1b[0m\x1b[r\x1b[5;1H\x1b[2K")


@implementer(ITerminalHandler)
class _Handler:
    """
    Records what a console tells, with a prompt and completions to give.
    """

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.promptText = "> "
        self.candidates: list[str] = []
        self.pauseAfterEachLine = False
        self.console: Any = None
        self.failOn: bytes | None = None

    def lineReceived(self, line: bytes) -> None:
        if line == self.failOn:
            raise ZeroDivisionError("a bug")
        self.events.append(line)
        if self.pauseAfterEachLine:
            self.console.pauseReading()

    def lineTooLong(self) -> None:
        self.events.append("too long")

    def inputEnded(self) -> None:
        self.events.append("ended")

    def outputClosed(self) -> None:
        self.events.append("output closed")

    def prompt(self) -> str:
        return self.promptText

    def completions(self, word: str, first: bool) -> Sequence[str]:
        self.events.append(("complete", word, first))
        return [each for each in self.candidates if each.startswith(word)]


class _Terminal:
    """
    A L{TerminalReader} over insults on a fake terminal of C{width} by
    C{height}, read back through a terminal emulator.
    """

    def __init__(
        self, width: int = 40, height: int = 8, connect: bool = True, **kwargs: Any
    ) -> None:
        self.handler = _Handler()
        self.interrupted: list[None] = []
        self.reader = TerminalReader(
            self.handler,
            kwargs.pop("maxLineLength", 1000),
            interrupt=lambda: self.interrupted.append(None),
            **kwargs,
        )
        self.handler.console = self.reader
        self.screen = _Screen(width, height)
        self.server = TerminalServer(self.reader)
        self.reader.terminalSize(width, height)
        if connect:
            self.connect()

    def connect(self) -> None:
        self.server.makeConnection(self.screen.transport)

    def type(self, data: bytes | str) -> None:
        self.server.dataReceived(data.encode() if isinstance(data, str) else data)

    def rows(self) -> list[str]:
        return self.screen.read()


class TerminalReaderTests(SynchronousTestCase):
    """
    Tests for L{TerminalReader} over insults, on a fake terminal.
    """

    def setUp(self) -> None:
        self.terminal = _Terminal()
        self.reader = self.terminal.reader
        self.handler = self.terminal.handler

    def test_interfaces(self) -> None:
        """
        It is an L{IConsole}, and an insults terminal protocol.
        """
        self.assertTrue(verifyObject(IConsole, self.reader))
        self.assertTrue(verifyObject(ITerminalProtocol, self.reader))
        self.assertEqual(self.reader.maxLineLength, 1000)

    def test_prompt(self) -> None:
        """
        The input line, at the bottom, starts with the handler's prompt.
        """
        self.assertEqual(self.terminal.rows()[-1], ">")
        self.assertEqual(self.terminal.screen.cursor, (2, 7))

    def test_arrivingWhileTyping(self) -> None:
        """
        Lines written while a line is half typed show above it; the half
        line, and the cursor in it, stay as they were; Enter then sends the
        whole line.
        """
        self.terminal.type("half a li")
        self.reader.writeLine("[#lobby] <bob> hi alice")
        self.reader.write(b"and more\n")
        rows = self.terminal.rows()
        self.assertEqual(
            rows[-3:], ["[#lobby] <bob> hi alice", "and more", "> half a li"]
        )
        self.assertEqual(self.terminal.screen.cursor, (11, 7))
        self.terminal.type("ne\r")
        self.assertEqual(self.handler.events, [b"half a line"])
        self.assertEqual(self.terminal.rows()[-1], ">")

    def test_arrivingWhileEditing(self) -> None:
        """
        With the cursor moved back, a line written leaves it where it was.
        """
        self.terminal.type("hello\x1b[D\x1b[D")
        self.reader.writeLine("news")
        self.assertEqual(self.terminal.screen.cursor, (5, 7))
        self.terminal.type("X\r")
        self.assertEqual(self.handler.events, [b"helXlo"])

    def test_editingKeys(self) -> None:
        """
        The editing keys work as the terminal sends them: Home and End,
        Ctrl-A/E/U/W, Backspace, Delete.
        """
        self.terminal.type("say helo\x7flo world\x17\x01\x1b[3~S\x05!\r")
        self.terminal.type("gone\x15kept\r")
        self.assertEqual(self.handler.events, [b"Say hello !", b"kept"])

    def test_utf8(self) -> None:
        """
        A line typed in UTF-8, wide characters and all, is given in UTF-8,
        and drawn at its width.
        """
        self.terminal.type("café 中文")
        self.assertEqual(self.terminal.rows()[-1], "> café 中文")
        self.assertEqual(self.terminal.screen.cursor, (11, 7))
        self.terminal.type("\r")
        self.assertEqual(self.handler.events, ["café 中文".encode()])

    def test_history(self) -> None:
        """
        Up brings back what was sent.
        """
        self.terminal.type("first\rsecond\r\x1b[A\x1b[A\r")
        self.assertEqual(self.handler.events, [b"first", b"second", b"first"])

    def test_completion(self) -> None:
        """
        Tab asks the handler for the completions of the word before the
        cursor.
        """
        self.handler.candidates = ["bob: ", "bobby: "]
        self.terminal.type("bo\t\t")
        self.assertEqual(self.terminal.rows()[-1], "> bobby:")
        self.assertEqual(self.handler.events, [("complete", "bo", True)])

    def test_refusedRingsTheBell(self) -> None:
        """
        A key that can do nothing rings the bell.
        """
        self.terminal.screen.transport.clear()
        self.terminal.type("\x1b[D")
        self.assertIn(b"\x07", self.terminal.screen.transport.value())

    def test_longLine(self) -> None:
        """
        A line longer than the screen is wide scrolls sideways, and is sent
        whole.
        """
        line = "".join(f"{n:02d}" for n in range(40))
        self.terminal.type(line)
        self.assertEqual(self.terminal.rows()[-1], "> " + line[-37:])
        self.terminal.type("\r")
        self.assertEqual(self.handler.events, [line.encode()])

    def test_maxLineLength(self) -> None:
        """
        Typing past the longest line is refused, so no line is ever too
        long.
        """
        terminal = _Terminal(maxLineLength=3)
        terminal.type("abcd\r")
        self.assertEqual(terminal.handler.events, [b"abc"])

    def test_promptChanges(self) -> None:
        """
        When the handler's prompt changes, the next line written redraws
        the input line with it.
        """
        self.terminal.type("x")
        self.handler.promptText = "[#dev] alice> "
        self.reader.writeLine("*** alice joined #dev")
        self.assertEqual(self.terminal.rows()[-1], "[#dev] alice> x")
        self.assertEqual(self.terminal.screen.cursor, (15, 7))

    def test_echo(self) -> None:
        """
        With C{echo}, each line entered shows after the prompt it had, as a
        terminal shows a line typed.
        """
        terminal = _Terminal(echo=True)
        terminal.type("hello\r")
        self.assertEqual(terminal.rows()[-2:], ["> hello", ">"])

    def test_paused(self) -> None:
        """
        While the handler has paused the reader, lines entered are held, and
        typing goes on; resuming gives them.
        """
        self.handler.pauseAfterEachLine = True
        self.terminal.type("one\rtwo\rthr")
        self.assertEqual(self.handler.events, [b"one"])
        self.assertTrue(self.reader.paused)
        self.assertEqual(self.terminal.rows()[-1], "> thr")
        self.reader.resumeReading()
        self.assertEqual(self.handler.events, [b"one", b"two"])

    def test_endOfInput(self) -> None:
        """
        Ctrl-D on an empty line ends the input, after the lines held; keys
        after it do nothing.
        """
        self.handler.pauseAfterEachLine = True
        self.terminal.type("one\rtwo\r\x04more\r")
        self.assertEqual(self.handler.events, [b"one"])
        self.assertFalse(self.reader.exhausted)
        self.handler.pauseAfterEachLine = False
        self.reader.resumeReading()
        self.assertEqual(self.handler.events, [b"one", b"two", "ended"])
        self.assertTrue(self.reader.exhausted)

    def test_ctrlDDeletes(self) -> None:
        """
        Ctrl-D on a line that is not empty deletes, and does not end.
        """
        self.terminal.type("ab\x1b[D\x04\r")
        self.assertEqual(self.handler.events, [b"a"])

    def test_interrupt(self) -> None:
        """
        Ctrl-C, a byte in raw mode, interrupts.
        """
        self.terminal.type("x\x03")
        self.assertEqual(self.terminal.interrupted, [None])

    def test_heldUntilConnected(self) -> None:
        """
        What is written before the terminal is connected shows once it is.
        """
        terminal = _Terminal(connect=False)
        terminal.reader.writeLine("*** connected as alice")
        terminal.reader.writeLine("*** alice joined #lobby")
        terminal.connect()
        self.assertEqual(
            terminal.rows()[-3:],
            ["*** connected as alice", "*** alice joined #lobby", ">"],
        )

    def test_cleaned(self) -> None:
        """
        Nothing written can act on the terminal: escapes and controls are
        shown as U+FFFD, bytes that are not UTF-8 too.
        """
        self.reader.write(b"\x1b[2Jboo\x07 caf\xe9\n")
        self.assertEqual(self.terminal.rows()[-2], "\ufffd[2Jboo\ufffd caf\ufffd")

    def test_partialLineHeld(self) -> None:
        """
        Written bytes show line by line: a line is shown once it ends.
        """
        self.reader.write(b"[Sun] hel")
        self.assertEqual(self.terminal.rows()[-2], "")
        self.reader.write(b"lo\r\n")
        self.assertEqual(self.terminal.rows()[-2], "[Sun] hello")

    def test_resize(self) -> None:
        """
        The terminal's new size lays it out again.
        """
        self.terminal.type("abc")
        self.terminal.screen.emulator.resize(10, 50)
        self.reader.terminalSize(50, 10)
        self.assertEqual(self.reader.size, (50, 10))
        self.assertEqual(self.terminal.rows()[-1], "> abc")
        self.assertEqual(self.terminal.screen.cursor, (5, 9))

    def test_restoreScreen(self) -> None:
        """
        Restoring the screen puts the terminal back, and nothing is drawn
        after.
        """
        self.reader.writeLine("said")
        self.reader.restoreScreen()
        self.reader.writeLine("late")
        self.terminal.type("late")
        rows = self.terminal.rows()
        self.assertEqual(rows[-2:], ["said", ""])
        self.assertIsNone(self.terminal.screen.emulator.margins)

    def test_connectionLost(self) -> None:
        """
        When the terminal is gone, the input ends, C{closed} fires, and
        nothing more is shown or read.
        """
        self.server.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.handler.events, ["ended"])
        self.successResultOf(self.reader.closed)
        self.reader.writeLine("late")
        self.assertNotIn(b"late", self.terminal.screen.transport.value())

    @property
    def server(self) -> TerminalServer:
        return self.terminal.server

    def test_brokenByKey(self) -> None:
        """
        An exception while handling a key puts the screen back, ends the
        input, and closes the connection; C{closed} fails with it.
        """
        self.handler.failOn = b"boom"
        self.terminal.type("boom\r")
        self.assertEqual(self.handler.events, ["ended"])
        self.assertTrue(self.terminal.screen.transport.disconnecting)
        self.assertIsNone(self.terminal.screen.emulator.margins)
        self.assertEqual(self.terminal.rows()[-1], "")
        self.terminal.type("more\r")
        self.server.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(self.reader.closed, ZeroDivisionError)

    def test_brokenByDrawing(self) -> None:
        """
        An exception while drawing (here, the prompt) breaks the console in
        the same way.
        """

        def broken() -> str:
            raise ZeroDivisionError("a bug")

        self.handler.prompt = broken  # type: ignore[method-assign]
        self.reader.writeLine("fine")
        self.terminal.type("x")
        self.assertEqual(self.handler.events, ["ended"])
        self.server.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(self.reader.closed, ZeroDivisionError)

    def test_serverDoesNotReset(self) -> None:
        """
        Closing through L{TerminalServer} does not reset the terminal (which
        would clear it), and goes through the connection's close if given.
        """
        self.server.loseConnection()
        self.assertTrue(self.terminal.screen.transport.disconnecting)
        self.assertNotIn(b"\x1bc", self.terminal.screen.transport.value())
        closed: list[None] = []
        TerminalServer(self.reader, close=lambda: closed.append(None)).loseConnection()
        self.assertEqual(closed, [None])


class _Reactor(MemoryReactorClock):
    """
    A memory reactor whose system event triggers can be removed and fired,
    and which records C{callFromThread}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fromThread: list[Any] = []
        self._ids: dict[int, tuple[str, str, Any]] = {}

    def addSystemEventTrigger(  # type: ignore[override]
        self, phase: str, eventType: str, callable: Any, *args: Any, **kw: Any
    ) -> int:
        triggerID = len(self._ids) + 1
        self._ids[triggerID] = (phase, eventType, callable)
        return triggerID

    def removeSystemEventTrigger(self, triggerID: int) -> None:
        del self._ids[triggerID]

    def fire(self, phase: str, eventType: str) -> list[Any]:
        found = [
            (triggerID, callable)
            for triggerID, (p, e, callable) in self._ids.items()
            if (p, e) == (phase, eventType)
        ]
        for triggerID, _ in found:
            del self._ids[triggerID]
        return [callable() for _, callable in found]

    @property
    def triggerCount(self) -> int:
        return len(self._ids)

    def callFromThread(self, callable: Any, *args: Any, **kw: Any) -> None:
        self.fromThread.append(callable)


class _Mode:
    """
    Records raw mode being entered and left.
    """

    def __init__(self, fail: bool = False) -> None:
        self.events: list[str] = []
        self._fail = fail

    def enter(self) -> None:
        if self._fail:
            raise termios.error(25, "Inappropriate ioctl for device")
        self.events.append("raw")

    def restore(self) -> None:
        self.events.append("restored")


class _Stdio(StringTransport):
    """
    C{StandardIO} in memory: L{finish} is what it does once its output is
    written out after C{loseConnection}.
    """

    def __init__(self, protocol: Any) -> None:
        super().__init__()
        self.protocol = protocol
        protocol.makeConnection(self)

    def finish(self) -> None:
        assert self.disconnecting
        self.protocol.connectionLost(Failure(ConnectionDone()))

    def connectionLost(self, reason: Failure) -> None:
        self.protocol.connectionLost(reason)


class TerminalConnectionTests(SynchronousTestCase):
    """
    Tests for L{TerminalConnection}, with fakes for raw mode, standard
    input and output, the size and its signal, and the reactor.
    """

    def setUp(self) -> None:
        self.reactor = _Reactor()
        self.mode = _Mode()
        self.handler = _Handler()
        self.reader = TerminalReader(self.handler, 100, interrupt=lambda: None)
        self.stdio: list[_Stdio] = []
        self.size = (30, 6)
        self.watching: list[Any] = []
        self.written: list[bytes] = []

    def _connect(self, connectStdio: Any = None) -> TerminalConnection:
        def watch(resized: Any) -> Any:
            self.watching.append(resized)
            return lambda: self.watching.remove(resized)

        def connect(protocol: Any) -> _Stdio:
            stdio = _Stdio(protocol)
            self.stdio.append(stdio)
            return stdio

        connection = TerminalConnection(
            self.reactor,
            self.reader,
            self.mode,
            connectStdio or connect,
            lambda: self.size,
            watch,
            self.written.append,
        )
        connection.start()
        return connection

    def _assertPutBack(self) -> None:
        self.assertEqual(self.mode.events, ["raw", "restored"])
        self.assertEqual(self.watching, [])
        self.assertEqual(self.reactor.triggerCount, 0)

    def test_start(self) -> None:
        """
        Starting enters raw mode, watches the size, has the reactor's
        shutdown wait for it, and draws the screen at the terminal's size.
        """
        self._connect()
        self.assertEqual(self.mode.events, ["raw"])
        self.assertEqual(len(self.watching), 1)
        self.assertEqual(self.reactor.triggerCount, 1)
        self.assertEqual(self.reader.size, (30, 6))
        self.assertIn(b"\x1b[1;5r", self.stdio[0].value())

    def test_resized(self) -> None:
        """
        A change of size is told to the reader.
        """
        self._connect()
        self.size = (50, 10)
        self.watching[0]()
        self.assertEqual(self.reader.size, (50, 10))

    def test_loseConnection(self) -> None:
        """
        Closing puts the screen back through the connection, after what was
        written, and closes it; once it is closed, the mode is put back
        too, and the reader's C{closed} fires.
        """
        connection = self._connect()
        self.reader.writeLine("last words")
        connection.loseConnection()
        stdio = self.stdio[0]
        self.assertTrue(stdio.value().endswith(restoreSequence(6)))
        self.assertLess(stdio.value().index(b"last words"), len(stdio.value()) - 20)
        self.assertEqual(self.mode.events, ["raw"])
        self.assertNoResult(self.reader.closed)
        stdio.finish()
        self._assertPutBack()
        self.assertEqual(self.written, [])
        self.successResultOf(self.reader.closed)
        self.assertEqual(self.handler.events, ["ended"])
        connection.loseConnection()

    def test_deadline(self) -> None:
        """
        A terminal that does not take the last output in
        C{CLOSE_TIMEOUT} seconds is cut off, and put back straight away.
        """
        connection = self._connect()
        connection.loseConnection()
        self.reactor.advance(TerminalConnection.CLOSE_TIMEOUT)
        self._assertPutBack()
        self.assertEqual(self.written, [restoreSequence(6)])
        self.successResultOf(self.reader.closed)

    def test_lost(self) -> None:
        """
        When the terminal goes away by itself, the screen is put back
        straight to it, and the mode too; the input ends.
        """
        self._connect()
        self.stdio[0].connectionLost(Failure(ConnectionLost()))
        self._assertPutBack()
        self.assertEqual(self.written, [restoreSequence(6)])
        self.assertEqual(self.handler.events, ["ended"])
        self.successResultOf(self.reader.closed)

    def test_shutdown(self) -> None:
        """
        The reactor stopping closes the connection, and waits for the
        terminal to be put back.
        """
        self._connect()
        [waiting] = self.reactor.fire("before", "shutdown")
        self.assertNoResult(waiting)
        self.assertTrue(self.stdio[0].disconnecting)
        self.stdio[0].finish()
        self.successResultOf(waiting)
        self._assertPutBack()

    def test_shutdownWaitsAtMostTheDeadline(self) -> None:
        """
        A shutdown does not wait longer than the deadline.
        """
        self._connect()
        [waiting] = self.reactor.fire("before", "shutdown")
        self.reactor.advance(TerminalConnection.CLOSE_TIMEOUT)
        self.successResultOf(waiting)
        self._assertPutBack()

    def test_brokenReader(self) -> None:
        """
        An exception in the reader closes through the connection: the
        screen and the mode are put back, and C{closed} fails with it.
        """
        self._connect()
        self.handler.failOn = b"boom"
        self.stdio[0].protocol.dataReceived(b"boom\r")
        self.assertTrue(self.stdio[0].disconnecting)
        self.stdio[0].finish()
        self._assertPutBack()
        self.failureResultOf(self.reader.closed, ZeroDivisionError)

    def test_startFails(self) -> None:
        """
        If standard input and output cannot be connected, everything is put
        back and the error raised.
        """

        def broken(protocol: Any) -> Any:
            raise OSError("no")

        self.assertRaises(OSError, self._connect, broken)
        self._assertPutBack()
        self.assertEqual(self.written, [])

    def test_notATerminal(self) -> None:
        """
        If raw mode cannot be had, nothing else is done.
        """
        self.mode = _Mode(fail=True)
        self.assertRaises(termios.error, self._connect)
        self.assertEqual((self.watching, self.stdio), ([], []))
        self.assertEqual(self.reactor.triggerCount, 0)

    def test_transport(self) -> None:
        """
        The connection writes what it is given to the terminal, until it is
        lost.
        """
        connection = self._connect()
        connection.writeSequence([b"\x07", b"!"])
        self.assertTrue(self.stdio[0].value().endswith(b"\x07!"))
        self.assertEqual(connection.getPeer(), self.stdio[0].getPeer())
        self.assertEqual(connection.getHost(), self.stdio[0].getHost())
        self.stdio[0].connectionLost(Failure(ConnectionLost()))
        connection.write(b"late")
        self.assertFalse(self.stdio[0].value().endswith(b"late"))


def _pty(testCase: SynchronousTestCase) -> tuple[int, int]:
    """
    @return: the two ends of a new pseudo-terminal, closed after the test.
    """
    master, slave = os.openpty()
    # A read of what was not written fails, rather than hangs.
    os.set_blocking(master, False)
    testCase.addCleanup(os.close, master)
    testCase.addCleanup(os.close, slave)
    return master, slave


class TerminalModeTests(SynchronousTestCase):
    """
    Tests for L{TerminalMode}, on a real pseudo-terminal.
    """

    def test_raw(self) -> None:
        """
        Raw mode turns off echo, the terminal's line editing, signals from
        Ctrl-C and Ctrl-Z, CR to LF on input and flow control; output
        processing stays on.  Restoring puts every setting back, and the
        blocking mode.
        """
        _, slave = _pty(self)
        before = termios.tcgetattr(slave)
        mode = TerminalMode(slave)
        mode.enter()
        self.assertTrue(mode.raw)
        iflag, oflag, _, lflag = termios.tcgetattr(slave)[:4]
        for flag in (termios.ECHO, termios.ICANON, termios.ISIG, termios.IEXTEN):
            self.assertFalse(lflag & flag, flag)
        for flag in (termios.ICRNL, termios.IXON):
            self.assertFalse(iflag & flag, flag)
        self.assertTrue(oflag & termios.OPOST)
        os.set_blocking(slave, False)
        mode.restore()
        self.assertFalse(mode.raw)
        self.assertEqual(termios.tcgetattr(slave), before)
        self.assertTrue(os.get_blocking(slave))

    def test_restoreOnce(self) -> None:
        """
        Restoring twice, or without entering, does nothing.
        """
        _, slave = _pty(self)
        mode = TerminalMode(slave)
        mode.restore()
        mode.enter()
        mode.restore()
        termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(slave))
        mode.restore()
        self.assertFalse(mode.raw)

    def test_notATerminal(self) -> None:
        """
        A pipe cannot be put in raw mode.
        """
        reading, writing = os.pipe()
        self.addCleanup(os.close, reading)
        self.addCleanup(os.close, writing)
        mode = TerminalMode(reading)
        self.assertRaises(termios.error, mode.enter)
        self.assertFalse(mode.raw)


class WindowSizeTests(SynchronousTestCase):
    """
    Tests for L{windowSize} and L{watchWindowSize}.
    """

    def test_size(self) -> None:
        """
        The size is the terminal's; 80 by 24 for what is no terminal.
        """
        master, slave = _pty(self)
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.assertEqual(windowSize(slave), (100, 30))
        reading, writing = os.pipe()
        self.addCleanup(os.close, reading)
        self.addCleanup(os.close, writing)
        self.assertEqual(windowSize(reading), (80, 24))

    def test_watch(self) -> None:
        """
        On SIGWINCH the function is called from the reactor; stopping puts
        the handler before back.
        """
        reactor = _Reactor()
        previous = signal.getsignal(signal.SIGWINCH)
        resized: list[None] = []

        def callback() -> None:
            resized.append(None)

        stop = watchWindowSize(reactor)(callback)
        try:
            signal.raise_signal(signal.SIGWINCH)
            self.assertEqual(reactor.fromThread, [callback])
        finally:
            stop()
        self.assertEqual(signal.getsignal(signal.SIGWINCH), previous)


class _Stream:
    """
    A standard stream that says whether it is a terminal.
    """

    def __init__(self, terminal: bool, fd: int = 7, closed: bool = False) -> None:
        self._terminal = terminal
        self._fd = fd
        self._closed = closed

    def isatty(self) -> bool:
        if self._closed:
            raise ValueError("I/O operation on closed file")
        return self._terminal

    def fileno(self) -> int:
        return self._fd


class StandardIOTests(SynchronousTestCase):
    """
    Tests for L{standardIO} and L{wantsScreen}: the terminal interface for
    a person at a terminal, plain lines otherwise.
    """

    TERM = {"TERM": "xterm-256color"}

    def _choose(self, stdin: bool = True, stdout: bool = True, **kwargs: Any) -> IStdio:
        environ = kwargs.pop("environ", self.TERM)
        return standardIO(
            MemoryReactorClock(),
            stdin=_Stream(stdin, 3),  # type: ignore[arg-type]
            stdout=_Stream(stdout, 4),  # type: ignore[arg-type]
            environ=environ,
            **kwargs,
        )

    def test_terminal(self) -> None:
        """
        When standard input and output are both terminals that can move
        their cursor, it is the terminal interface, in colour.
        """
        stdio = self._choose()
        self.assertIsInstance(stdio, TerminalStdio)
        self.assertTrue(verifyObject(IStdio, stdio))
        console = stdio.console(_Handler(), 10, echo=True)
        self.assertIsInstance(console, TerminalReader)
        self.assertTrue(console._colour)  # type: ignore[attr-defined]
        self.assertTrue(console._echo)  # type: ignore[attr-defined]

    def test_noColor(self) -> None:
        """
        C{NO_COLOR} set to anything but nothing turns colour off.
        """
        for value, colour in (("1", False), ("", True)):
            stdio = self._choose(environ={**self.TERM, "NO_COLOR": value})
            console = stdio.console(_Handler(), 10)
            self.assertEqual(console._colour, colour)  # type: ignore[attr-defined]

    def test_plainLines(self) -> None:
        """
        A pipe on either side, a terminal that cannot move its cursor (or
        no C{TERM}), a closed stream, or C{plain}: plain lines.
        """
        for stdio in (
            self._choose(stdin=False),
            self._choose(stdout=False),
            self._choose(environ={"TERM": "dumb"}),
            self._choose(environ={}),
            self._choose(plain=True),
        ):
            self.assertIsInstance(stdio, LineStdio)
        self.assertFalse(
            wantsScreen(_Stream(True, closed=True), _Stream(True), self.TERM)  # type: ignore[arg-type]
        )

    def test_lineStdio(self) -> None:
        """
        L{LineStdio} makes L{LineReader}s, and has no screen.
        """
        stdio = LineStdio(MemoryReactorClock())
        self.assertTrue(verifyObject(IStdio, stdio))
        self.assertFalse(stdio.screen)
        self.assertIsInstance(stdio.console(_Handler(), 10, echo=True), LineReader)

    def test_connectOnAPseudoTerminal(self) -> None:
        """
        L{TerminalStdio.connect} puts a real terminal in raw mode, draws on
        it, and on closing puts it back as it was (here cut off at the
        deadline, since nothing runs the memory reactor's I/O): the screen
        written straight to it, the mode, and C{SIGWINCH}'s handler.
        """
        master, slave = _pty(self)
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 10, 40, 0, 0))
        before = termios.tcgetattr(slave)
        previous = signal.getsignal(signal.SIGWINCH)
        reactor = _Reactor()
        stdio = TerminalStdio(reactor, stdin=slave, stdout=slave)
        console = stdio.console(_Handler(), 100)
        connection = stdio.connect(console)
        try:
            self.assertNotEqual(termios.tcgetattr(slave), before)
            self.assertEqual(console.size, (40, 10))  # type: ignore[attr-defined]
            connection.loseConnection()
            reactor.advance(TerminalConnection.CLOSE_TIMEOUT)
        finally:
            connection._gone(None)
        self.assertEqual(termios.tcgetattr(slave), before)
        self.assertEqual(signal.getsignal(signal.SIGWINCH), previous)
        self.assertTrue(os.read(master, 4096).endswith(restoreSequence(10)))
        self.successResultOf(console.closed)
