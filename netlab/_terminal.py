"""
A person's terminal for the interactive client commands of C{netlab}: what
arrives scrolls above an input line that stays put at the bottom, with line
editing, a history of what was sent and Tab completion.  Built on Twisted's
own terminal support, C{twisted.conch.insults}, over
C{twisted.internet.stdio} in raw mode, and driven by the reactor like
everything else.

The parts, each small and tested on its own:

  - L{KeyDecoder}: keystrokes as insults gives them (single bytes, function
    keys) to characters, decoding UTF-8 as the bytes come, and to key names
    (C{"Ctrl-A"}, C{"Up"});
  - L{LineEditor}: the input line as a pure model, its text and cursor and
    the keys that edit it, with an L{InputHistory} and a L{Completion};
  - L{Screen}: the layout: a scroll region for output, the input line
    below it, drawn at display widths (C{wcwidth}, by grapheme clusters),
    scrolled sideways when it is too long (L{fitInput});
  - L{TerminalReader}: the insults C{TerminalProtocol} that puts them
    together, an L{IConsole} for the same handlers as L{LineReader};
  - L{TerminalMode}: raw mode and back, with C{termios};
  - L{TerminalConnection}: raw mode, C{StandardIO}, C{SIGWINCH} and the
    reactor's shutdown, with the terminal put back on every way out.

L{standardIO} chooses between this and plain lines: the terminal when
standard input and output both are one (and C{TERM} can move a cursor),
L{LineStdio} otherwise, or with C{--plain}.
"""

from __future__ import annotations

import codecs
import importlib.util
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, Protocol, TextIO

import attrs
from twisted.conch.insults.insults import ServerProtocol, TerminalProtocol
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionAborted, ConnectionDone
from twisted.internet.interfaces import IAddress, IDelayedCall, ITransport
from twisted.internet.protocol import connectionDone
from twisted.internet.stdio import StandardIO
from twisted.python.failure import Failure
from wcwidth import grapheme_boundary_before, iter_graphemes, wcswidth
from zope.interface import implementer

from netlab._stdin import (
    Emphasis,
    IConsole,
    IStdio,
    ITerminalHandler,
    LineReader,
    LineStdio,
)
from netlab._text import cleanText

__all__ = [
    "Action",
    "Completer",
    "Completion",
    "InputHistory",
    "InputView",
    "KeyDecoder",
    "LineEditor",
    "Screen",
    "TerminalConnection",
    "TerminalMode",
    "TerminalReader",
    "TerminalServer",
    "TerminalStdio",
    "clusterWidth",
    "fitInput",
    "restoreSequence",
    "standardIO",
    "wantsScreen",
    "watchWindowSize",
    "windowSize",
]


# Keys.

_FUNCTION_KEYS = {
    b"[UP_ARROW]": "Up",
    b"[DOWN_ARROW]": "Down",
    b"[RIGHT_ARROW]": "Right",
    b"[LEFT_ARROW]": "Left",
    b"[HOME]": "Home",
    b"[END]": "End",
    b"[INSERT]": "Insert",
    b"[DELETE]": "Delete",
    b"[PGUP]": "PageUp",
    b"[PGDN]": "PageDown",
    b"[NUMPAD_MIDDLE]": "Begin",
    **{f"[F{n}]".encode(): f"F{n}" for n in range(1, 13)},
}
"""
Names of the function keys insults recognises, by the value of its
C{ServerProtocol} constant (C{ServerProtocol.UP_ARROW} is C{b"[UP_ARROW]"}).
"""

_SEQUENCES = {
    # Application cursor and keypad mode (ESC O x; insults reports them as
    # ESC [ O x).
    b"\x1b[OA": "Up",
    b"\x1b[OB": "Down",
    b"\x1b[OC": "Right",
    b"\x1b[OD": "Left",
    b"\x1b[OH": "Home",
    b"\x1b[OF": "End",
    # rxvt's Home and End.
    b"\x1b[7~": "Home",
    b"\x1b[8~": "End",
    # xterm's modified arrows: Ctrl (5) and Alt (3).
    b"\x1b[1;5C": "Ctrl-Right",
    b"\x1b[1;5D": "Ctrl-Left",
    b"\x1b[1;3C": "Alt-Right",
    b"\x1b[1;3D": "Alt-Left",
}
"""
Names of keys whose escape sequences insults leaves unhandled.
"""

_CONTROLS = {
    0x0D: "Enter",
    0x0A: "Enter",
    0x09: "Tab",
    0x7F: "Backspace",
    0x08: "Backspace",
}

_ALT = b"[ALT]"
_SHIFT = b"[SHIFT]"


class KeyDecoder:
    """
    Keystrokes as C{insults.ServerProtocol} gives them to a terminal
    protocol, turned into keys: a key is either one character of text
    (C{"é"}, decoded from UTF-8 as its bytes arrive one keystroke at a time)
    or the name of a key (C{"Enter"}, C{"Ctrl-W"}, C{"Alt-b"}, C{"Up"},
    C{"Shift-Tab"}).

    Bytes that are not UTF-8 become U+FFFD, as does a sequence cut short by
    another key.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def _flush(self) -> list[str]:
        """
        @return: U+FFFD if part of a UTF-8 sequence is waiting (which
            another key cut short), or nothing.
        """
        pending = self._decoder.getstate()[0]
        self._decoder.reset()
        return ["\ufffd"] if pending else []

    def keystroke(self, keyID: bytes, modifier: bytes | None) -> list[str]:
        """
        @param keyID: a byte, or one of insults' function key constants.
        @param modifier: C{ServerProtocol.ALT}, C{ServerProtocol.SHIFT} or
            C{None}.
        @return: the keys it makes: none while a UTF-8 sequence is still
            coming, one (or U+FFFD, then the key) otherwise.
        """
        name = _FUNCTION_KEYS.get(keyID)
        if name is not None:
            return [*self._flush(), name]
        if len(keyID) != 1:
            return self._flush()
        code = keyID[0]
        if modifier == _ALT:
            keys = self._flush()
            if code in (0x7F, 0x08):
                return [*keys, "Alt-Backspace"]
            if 0x20 < code < 0x7F:
                return [*keys, "Alt-" + chr(code)]
            return keys
        if modifier == _SHIFT and keyID == b"\t":
            return [*self._flush(), "Shift-Tab"]
        if code >= 0x80:
            return list(self._decoder.decode(keyID))
        keys = self._flush()
        if code in _CONTROLS:
            return [*keys, _CONTROLS[code]]
        if code < 0x20:
            return [*keys, "Ctrl-" + chr(0x40 + code)]
        return [*keys, chr(code)]

    def sequence(self, sequence: bytes) -> list[str]:
        """
        @param sequence: an escape sequence insults did not recognise.
        @return: the key it is, if known; nothing otherwise.
        """
        name = _SEQUENCES.get(sequence)
        return [*self._flush(), name] if name is not None else self._flush()


# The input line.


def clusterWidth(text: str) -> int:
    """
    @return: how many columns C{text} takes on a terminal; nothing for what
        has no width (or could not be shown).
    """
    return max(wcswidth(text), 0)


def _clusters(text: str, start: int = 0) -> list[str]:
    return list(iter_graphemes(text, start))


def _typable(character: str) -> bool:
    """
    @return: whether a character may be part of the input line: anything a
        terminal would not act on.
    """
    return cleanText(character) == character


class InputHistory:
    """
    The lines sent since connecting, for Up and Down: Up goes back from the
    line being typed (which is kept, as it was, to come back to), Down goes
    forward to it again.

    @ivar limit: how many lines are kept.
    """

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self._lines: list[str] = []
        self._position = 0
        self._draft = ""

    @property
    def lines(self) -> Sequence[str]:
        """
        The lines kept, oldest first.
        """
        return tuple(self._lines)

    def add(self, line: str) -> None:
        """
        Keep a line sent (unless it is empty, or the same as the last), and
        go back to the end.
        """
        if line and (not self._lines or self._lines[-1] != line):
            self._lines.append(line)
            del self._lines[: -self.limit]
        self._position = len(self._lines)
        self._draft = ""

    def back(self, current: str) -> str | None:
        """
        @param current: the input line now.
        @return: the line before, or C{None} at the oldest.
        """
        if self._position == 0:
            return None
        if self._position == len(self._lines):
            self._draft = current
        self._position -= 1
        return self._lines[self._position]

    def forward(self) -> str | None:
        """
        @return: the line after, the one that was being typed after the
            newest, or C{None} if already there.
        """
        if self._position == len(self._lines):
            return None
        self._position += 1
        if self._position == len(self._lines):
            return self._draft
        return self._lines[self._position]


Completer = Callable[[str, bool], Sequence[str]]
"""
What Tab asks: given the word before the cursor and whether it is the first
of the line, what it may become (see L{ITerminalHandler.completions}).
"""


def _noCompletions(word: str, first: bool) -> Sequence[str]:
    return ()


class Completion:
    """
    Tab completion as irssi does it: the first Tab replaces the word before
    the cursor with the first candidate, each Tab after it with the next
    (Shift-Tab: the one before), round and round, until another key is
    pressed.
    """

    def __init__(self) -> None:
        self._start = 0
        self._candidates: Sequence[str] = ()
        self._index = -1

    def reset(self) -> None:
        """
        Another key was pressed: the next Tab starts again.
        """
        self._candidates = ()
        self._index = -1

    def complete(
        self, text: str, cursor: int, completer: Completer, step: int = 1
    ) -> tuple[str, int] | None:
        """
        @param step: 1 for the next candidate, -1 for the one before.
        @return: the text and cursor after completing, or C{None} if there
            is nothing to complete the word to.
        """
        if not self._candidates:
            start = text.rfind(" ", 0, cursor) + 1
            word = text[start:cursor]
            candidates = [each for each in completer(word, start == 0) if each]
            if not candidates:
                return None
            self._start, self._candidates = start, candidates
            self._index = 0 if step > 0 else len(candidates) - 1
        else:
            self._index = (self._index + step) % len(self._candidates)
        replacement = self._candidates[self._index]
        # The word (or the candidate before) runs from the start to the
        # cursor.
        text = text[: self._start] + replacement + text[cursor:]
        return text, self._start + len(replacement)


class Action(Enum):
    """
    What a key asks of the input line's owner, as L{LineEditor.press}
    returns it.
    """

    EDITED = "edited"
    """
    The text or the cursor may have changed: draw the input line.
    """

    REFUSED = "refused"
    """
    The key could do nothing there (ring the bell).
    """

    SUBMIT = "submit"
    """
    Enter: take the line with L{LineEditor.submit}.
    """

    END = "end"
    """
    Ctrl-D on an empty line: the end of input.
    """

    INTERRUPT = "interrupt"
    """
    Ctrl-C.
    """

    REDRAW = "redraw"
    """
    Ctrl-L: clear the screen and draw it again.
    """


@attrs.define(eq=False)
class LineEditor:
    """
    The input line, as a pure model: its text and cursor, the keys that
    edit it (those of readline and irssi: see L{press}), the history of
    lines sent, and Tab completion.  No terminal: feed it keys, read its
    C{text} and C{cursor}.

    The cursor moves, and Backspace and Delete remove, whole grapheme
    clusters (C{e} with its accent, an emoji with its modifiers), so it is
    never inside a character as the person sees it.

    @ivar maxBytes: the longest line, in bytes of UTF-8; what would make it
        longer is refused as it is typed.
    @ivar completer: what Tab completes words to.
    @ivar history: the lines sent, for Up and Down.
    @ivar text: the line as typed so far.
    @ivar cursor: where the cursor is: an index into C{text}, at the start
        of a grapheme cluster or the end.
    """

    maxBytes: int
    completer: Completer = _noCompletions
    history: InputHistory = attrs.field(factory=InputHistory)
    text: str = ""
    cursor: int = 0
    _killed: str = attrs.field(default="", init=False)
    _completion: Completion = attrs.field(factory=Completion, init=False)

    def press(self, key: str) -> Action:
        """
        Press a key, as L{KeyDecoder} names it: a character is typed in at
        the cursor; Left/Right (Ctrl-B/Ctrl-F), Home/End (Ctrl-A/Ctrl-E),
        Ctrl-Left/Ctrl-Right and Alt-b/Alt-f (by words) move; Backspace and
        Delete remove; Ctrl-D removes too, or ends the input on an empty
        line; Ctrl-U and Ctrl-K cut to the start and to the end, Ctrl-W and
        Alt-Backspace the word before, Alt-d the word after, and Ctrl-Y
        puts back what was cut last; Up/Down (Ctrl-P/Ctrl-N) go through the
        lines sent; Tab and Shift-Tab complete; Enter sends; Ctrl-C
        interrupts, Ctrl-L redraws.  Other keys do nothing.

        @return: what the key asks of whoever shows the line.
        """
        if key not in ("Tab", "Shift-Tab"):
            self._completion.reset()
        if len(key) == 1:
            return self.insert(key)
        binding = _BINDINGS.get(key)
        if binding is None:
            return Action.REFUSED
        return binding(self)

    def submit(self) -> str:
        """
        Take the line (after Enter): it is kept in the history, and the
        input line is empty again.

        @return: the line.
        """
        line = self.text
        self.history.add(line)
        self._set("", 0)
        return line

    def _set(self, text: str, cursor: int) -> Action:
        self.text, self.cursor = text, cursor
        return Action.EDITED

    def _previous(self, index: int) -> int:
        return grapheme_boundary_before(self.text, index)

    def _next(self, index: int) -> int:
        cluster = next(iter_graphemes(self.text, index), "")
        return index + len(cluster)

    def insert(self, text: str) -> Action:
        """
        Type text in at the cursor: what a terminal would act on is left
        out, and so is what would make the line longer than C{maxBytes}.

        @return: L{Action.REFUSED} if anything was left out.
        """
        typed = "".join(each for each in text if _typable(each))
        room = self.maxBytes - len(self.text.encode("utf-8"))
        fits = typed.encode("utf-8")[: max(room, 0)].decode("utf-8", "ignore")
        if fits:
            self._set(
                self.text[: self.cursor] + fits + self.text[self.cursor :],
                self.cursor + len(fits),
            )
        return Action.EDITED if fits == text else Action.REFUSED

    # Moving.

    def left(self) -> Action:
        if self.cursor == 0:
            return Action.REFUSED
        return self._set(self.text, self._previous(self.cursor))

    def right(self) -> Action:
        if self.cursor == len(self.text):
            return Action.REFUSED
        return self._set(self.text, self._next(self.cursor))

    def home(self) -> Action:
        return self._set(self.text, 0)

    def end(self) -> Action:
        return self._set(self.text, len(self.text))

    def _wordBefore(self) -> int:
        """
        @return: where the word before the cursor starts, after any spaces
            before the cursor.
        """
        index = self.cursor
        while index > 0 and self.text[index - 1] == " ":
            index -= 1
        while index > 0 and self.text[index - 1] != " ":
            index = self._previous(index)
        return index

    def _wordAfter(self) -> int:
        """
        @return: where the word after the cursor ends.
        """
        index = self.cursor
        while index < len(self.text) and self.text[index] == " ":
            index += 1
        while index < len(self.text) and self.text[index] != " ":
            index = self._next(index)
        return index

    def wordLeft(self) -> Action:
        return self._set(self.text, self._wordBefore())

    def wordRight(self) -> Action:
        return self._set(self.text, self._wordAfter())

    # Removing.

    def _cut(self, start: int, end: int, keep: bool = True) -> Action:
        if start == end:
            return Action.REFUSED
        if keep:
            self._killed = self.text[start:end]
        return self._set(self.text[:start] + self.text[end:], start)

    def backspace(self) -> Action:
        if self.cursor == 0:
            return Action.REFUSED
        return self._cut(self._previous(self.cursor), self.cursor, keep=False)

    def delete(self) -> Action:
        if self.cursor == len(self.text):
            return Action.REFUSED
        return self._cut(self.cursor, self._next(self.cursor), keep=False)

    def deleteOrEnd(self) -> Action:
        """
        Ctrl-D: the end of input on an empty line, Delete otherwise.
        """
        return Action.END if not self.text else self.delete()

    def cutToStart(self) -> Action:
        return self._cut(0, self.cursor)

    def cutToEnd(self) -> Action:
        return self._cut(self.cursor, len(self.text))

    def cutWordBefore(self) -> Action:
        return self._cut(self._wordBefore(), self.cursor)

    def cutWordAfter(self) -> Action:
        return self._cut(self.cursor, self._wordAfter())

    def paste(self) -> Action:
        """
        Ctrl-Y: put back what was cut last.
        """
        if not self._killed:
            return Action.REFUSED
        return self.insert(self._killed)

    # History and completion.

    def _recall(self, line: str | None) -> Action:
        if line is None:
            return Action.REFUSED
        return self._set(line, len(line))

    def historyBack(self) -> Action:
        return self._recall(self.history.back(self.text))

    def historyForward(self) -> Action:
        return self._recall(self.history.forward())

    def _complete(self, step: int) -> Action:
        completed = self._completion.complete(
            self.text, self.cursor, self.completer, step
        )
        if completed is None:
            return Action.REFUSED
        return self._set(*completed)

    def complete(self) -> Action:
        return self._complete(1)

    def completeBack(self) -> Action:
        return self._complete(-1)


_BINDINGS: Mapping[str, Callable[[LineEditor], Action]] = {
    "Enter": lambda editor: Action.SUBMIT,
    "Ctrl-C": lambda editor: Action.INTERRUPT,
    "Ctrl-L": lambda editor: Action.REDRAW,
    "Ctrl-D": LineEditor.deleteOrEnd,
    "Left": LineEditor.left,
    "Ctrl-B": LineEditor.left,
    "Right": LineEditor.right,
    "Ctrl-F": LineEditor.right,
    "Home": LineEditor.home,
    "Ctrl-A": LineEditor.home,
    "End": LineEditor.end,
    "Ctrl-E": LineEditor.end,
    "Ctrl-Left": LineEditor.wordLeft,
    "Alt-Left": LineEditor.wordLeft,
    "Alt-b": LineEditor.wordLeft,
    "Ctrl-Right": LineEditor.wordRight,
    "Alt-Right": LineEditor.wordRight,
    "Alt-f": LineEditor.wordRight,
    "Backspace": LineEditor.backspace,
    "Delete": LineEditor.delete,
    "Ctrl-U": LineEditor.cutToStart,
    "Ctrl-K": LineEditor.cutToEnd,
    "Ctrl-W": LineEditor.cutWordBefore,
    "Alt-Backspace": LineEditor.cutWordBefore,
    "Alt-d": LineEditor.cutWordAfter,
    "Ctrl-Y": LineEditor.paste,
    "Up": LineEditor.historyBack,
    "Ctrl-P": LineEditor.historyBack,
    "Down": LineEditor.historyForward,
    "Ctrl-N": LineEditor.historyForward,
    "Tab": LineEditor.complete,
    "Shift-Tab": LineEditor.completeBack,
}
"""
The keys of L{LineEditor.press} other than characters.
"""


# The screen.


@attrs.frozen
class InputView:
    """
    What of the input line fits on the screen, as L{fitInput} finds it.

    @ivar prompt: the prompt as shown (its end, if it is too long).
    @ivar text: the part of the text shown, after the prompt.
    @ivar column: the cursor's column, from 0.
    @ivar offset: where in the text the part shown starts.
    """

    prompt: str
    text: str
    column: int
    offset: int


def _clipStart(text: str, columns: int) -> str:
    """
    @return: the end of C{text} that fits in C{columns}.
    """
    kept: list[str] = []
    used = 0
    for cluster in reversed(_clusters(text)):
        used += clusterWidth(cluster)
        if used > columns:
            break
        kept.append(cluster)
    return "".join(reversed(kept))


def fitInput(
    prompt: str, text: str, cursor: int, width: int, offset: int = 0
) -> InputView:
    """
    Fit the input line on one row of the screen: the prompt (at most half
    the row), then as much of the text as fits, scrolled sideways so that
    the cursor is always shown.  The last column is left empty, for the
    cursor at the end of the line.

    @param cursor: the cursor, at a grapheme cluster's start in C{text}.
    @param width: the row's width, in columns.
    @param offset: where the part shown started last time: kept if the
        cursor is still shown from there, so that the text does not jump
        about as the cursor moves.
    @return: what to show.
    """
    width = max(width, 2)
    prompt = _clipStart(prompt, width // 2)
    room = width - clusterWidth(prompt) - 1
    if room < 1:
        prompt, room = "", width - 1
    if clusterWidth(text) <= room:
        offset = 0
    else:
        offset = min(offset, cursor)
        while clusterWidth(text[offset:cursor]) > room:
            offset += len(next(iter_graphemes(text, offset)))
        # Use the room to the right too: after a deletion at the end, show
        # more of what comes before.
        while offset > 0:
            before = grapheme_boundary_before(text, offset)
            if clusterWidth(text[before:]) > room:
                break
            offset = before
    shown: list[str] = []
    used = 0
    for cluster in iter_graphemes(text, offset):
        used += clusterWidth(cluster)
        if used > room:
            break
        shown.append(cluster)
    column = clusterWidth(prompt) + clusterWidth(text[offset:cursor])
    return InputView(prompt, "".join(shown), column, offset)


def restoreSequence(height: int) -> bytes:
    """
    @param height: the terminal's height, in rows.
    @return: what puts a terminal laid out by L{Screen} back: plain
        characters, no scroll region, the cursor at the start of the last
        row (the input line's, erased).
    """
    return b"\x1b[0m\x1b[r\x1b[%d;1H\x1b[2K" % (height,)


_EMPHASIS = {
    Emphasis.NONE: ((), ()),
    Emphasis.HIGHLIGHT: (("1",), ("1", "33")),
    Emphasis.DIRECT: (("1",), ("1", "35")),
}
"""
The graphic renditions of each emphasis, without colour and with it: bold;
bold yellow for a highlight, bold magenta for what is said to the person
alone.
"""


class Screen:
    """
    The layout of a terminal with an input line: every row but the last is
    a scroll region where output appears at the bottom and scrolls up; the
    last row is the input line, which output never touches, and where the
    cursor is left.  Draws through an insults C{ITerminalTransport}.

    The terminal's own wrapping is used.  The latest lines are kept, enough
    to fill a screen, so that a resize (which each terminal moves its
    contents about for in its own way) or Ctrl-L can draw the screen again
    from scratch.  A terminal of fewer than three rows has no scroll
    region: its one output row shows the latest line.

    @cvar KEPT: how many of the latest lines are kept.
    """

    KEPT = 500

    def __init__(
        self, terminal: ServerProtocol, width: int, height: int, colour: bool
    ) -> None:
        """
        @param width: the terminal's width, in columns.
        @param height: the terminal's height, in rows.
        @param colour: whether emphasis may use colour, not only bold.
        """
        self._terminal = terminal
        self._width = width
        self._height = height
        self._colour = colour
        self._offset = 0
        self._column = 0
        self._latest: deque[tuple[str, Emphasis]] = deque(maxlen=self.KEPT)
        self.restored = False

    @property
    def height(self) -> int:
        """
        The terminal's height, in rows.
        """
        return self._height

    def start(self) -> None:
        """
        Lay the screen out; draw the input line next.
        """
        self._layout()

    def _layout(self) -> None:
        if self._height >= 3:
            # 1-based: every row but the last.
            self._terminal.setScrollRegion(1, self._height - 1)

    def resize(self, width: int, height: int) -> None:
        """
        The terminal's size changed: draw it all again at the new size (see
        L{redraw}).
        """
        self._width, self._height = width, height
        self.redraw()

    def redraw(self) -> None:
        """
        Clear the screen and draw it again: the layout, and the latest lines
        at the bottom of the scroll region; draw the input line next.
        """
        if self.restored:
            return
        self._terminal.eraseDisplay()
        self._layout()
        # Each line takes a row at least: these are enough to fill it.
        latest = list(self._latest)[-max(self._height - 1, 1) :]
        for text, emphasis in latest:
            self._show(text, emphasis)

    def showLine(self, text: str, emphasis: Emphasis = Emphasis.NONE) -> None:
        """
        Show a line of output above the input line, scrolling what is
        there up; the cursor goes back to the input line.

        @param text: the line, with nothing in it a terminal acts on (see
            L{cleanText}).
        """
        if self.restored:
            return
        self._latest.append((text, emphasis))
        self._show(text, emphasis)

    def _show(self, text: str, emphasis: Emphasis) -> None:
        terminal = self._terminal
        if self._height >= 3:
            terminal.cursorPosition(0, self._height - 2)
            terminal.write(b"\n")
            self._write(text, emphasis)
        elif self._height == 2:
            terminal.cursorPosition(0, 0)
            terminal.eraseLine()
            self._write(_clipEnd(text, self._width - 1), emphasis)
        terminal.cursorPosition(self._column, self._height - 1)

    def _write(self, text: str, emphasis: Emphasis) -> None:
        plain, coloured = _EMPHASIS[emphasis]
        rendition = coloured if self._colour else plain
        if rendition:
            self._terminal.selectGraphicRendition(*rendition)
        self._terminal.write(text.encode("utf-8"))
        if rendition:
            self._terminal.selectGraphicRendition("0")

    def showInput(self, prompt: str, text: str, cursor: int) -> None:
        """
        Draw the input line: the prompt, the text (as much as fits, around
        the cursor: see L{fitInput}), and the cursor.
        """
        if self.restored:
            return
        view = fitInput(prompt, text, cursor, self._width, self._offset)
        self._offset, self._column = view.offset, view.column
        terminal = self._terminal
        terminal.cursorPosition(0, self._height - 1)
        terminal.eraseLine()
        terminal.write((view.prompt + view.text).encode("utf-8"))
        terminal.cursorPosition(view.column, self._height - 1)

    def restore(self) -> None:
        """
        Put the terminal back as it was before L{start} (see
        L{restoreSequence}); nothing is drawn after.
        """
        if not self.restored:
            self.restored = True
            self._terminal.write(restoreSequence(self._height))


def _clipEnd(text: str, columns: int) -> str:
    """
    @return: the start of C{text} that fits in C{columns}.
    """
    kept: list[str] = []
    used = 0
    for cluster in iter_graphemes(text):
        used += clusterWidth(cluster)
        if used > columns:
            break
        kept.append(cluster)
    return "".join(kept)


# The protocol.


def _interruptProcess() -> None:
    """
    Ctrl-C, as a terminal that is not in raw mode has it: SIGINT to this
    process, which the reactor's handler turns into stopping (and
    C{netlab}, into exit status 130).
    """
    signal.raise_signal(signal.SIGINT)


@implementer(IConsole)
class TerminalReader(TerminalProtocol):
    """
    A terminal in raw mode as an L{IConsole}: the insults terminal protocol
    that reads keys into a L{LineEditor} and draws a L{Screen}, for the same
    handlers as L{LineReader} (with their prompt and completions: see
    L{ITerminalHandler}).

    Each line entered is given to the handler as a L{LineReader} gives
    lines (in UTF-8, held back while the handler has paused it); what is
    written shows above the input line, which is never broken by it.
    Ctrl-D on an empty line ends the input; Ctrl-C calls C{interrupt}.

    Output written before the terminal is connected is held until then, and
    dropped once the screen is put back.  An exception while handling a key
    or drawing puts the screen back, ends the input and makes C{closed}
    fail with it.

    @ivar closed: fires when the terminal is disconnected; fails with the
        exception, if one broke the console.
    """

    def __init__(
        self,
        handler: ITerminalHandler,
        maxLineLength: int,
        echo: bool = False,
        colour: bool = True,
        interrupt: Callable[[], None] = _interruptProcess,
    ) -> None:
        """
        @param handler: told of each line, and of the end of input.
        @param maxLineLength: the longest line, in bytes; typing more is
            refused.
        @param echo: show each line entered above the input line, after
            the prompt it had, as a terminal shows a line typed.
        @param colour: whether emphasis may use colour, not only bold.
        @param interrupt: what Ctrl-C does.
        """
        self._handler = handler
        self._lines = LineReader(handler, maxLineLength)
        self._keys = KeyDecoder()
        self._editor = LineEditor(maxLineLength, handler.completions)
        self._echo = echo
        self._colour = colour
        self._interrupt = interrupt
        self._size = (80, 24)
        self._screen: Screen | None = None
        self._prompt = ""
        self._held: list[tuple[str, Emphasis]] = []
        self._partial = b""
        self._ended = False
        self._failure: Failure | None = None
        self.closed: Deferred[None] = Deferred()

    # What the handler sees.

    @property
    def paused(self) -> bool:
        return self._lines.paused

    @property
    def exhausted(self) -> bool:
        return self._lines.exhausted

    @property
    def maxLineLength(self) -> int:
        return self._lines.maxLineLength

    def pauseReading(self) -> None:
        """
        Give no more lines until L{resumeReading}; the person can go on
        typing and entering lines meanwhile.
        """
        self._lines.pauseReading()

    def resumeReading(self) -> None:
        self._lines.resumeReading()

    def write(self, data: bytes) -> None:
        """
        Show output: each line that C{data} ends (in UTF-8, cleaned with
        L{cleanText}), as L{writeLine} does.
        """
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self.writeLine(line.removesuffix(b"\r").decode("utf-8", "replace"))

    def writeLine(self, text: str, emphasis: Emphasis = Emphasis.NONE) -> None:
        """
        Show one line above the input line, cleaned with L{cleanText}.
        """
        text = cleanText(text)
        if self._screen is None:
            if not self.closed.called:
                self._held.append((text, emphasis))
            return
        self._guarded(self._showLine, text, emphasis)

    def _showLine(self, text: str, emphasis: Emphasis) -> None:
        assert self._screen is not None
        self._screen.showLine(text, emphasis)
        if cleanText(self._handler.prompt()) != self._prompt:
            self._drawInput()

    # The terminal.

    @property
    def size(self) -> tuple[int, int]:
        """
        The terminal's width and height, as last told.
        """
        return self._size

    def connectionMade(self) -> None:
        self._guarded(self._start)

    def _start(self) -> None:
        self._screen = Screen(self.terminal, *self._size, self._colour)
        self._screen.start()
        held, self._held = self._held, []
        for text, emphasis in held:
            self._screen.showLine(text, emphasis)
        self._drawInput()

    def terminalSize(self, width: int, height: int) -> None:
        """
        The terminal is C{width} columns by C{height} rows, from now on.
        """
        self._size = (width, height)
        if self._screen is not None:
            self._guarded(self._resize)

    def _resize(self) -> None:
        assert self._screen is not None
        self._screen.resize(*self._size)
        self._drawInput()

    def _drawInput(self) -> None:
        if self._screen is None:
            return
        self._prompt = cleanText(self._handler.prompt())
        self._screen.showInput(self._prompt, self._editor.text, self._editor.cursor)

    def keystrokeReceived(self, keyID: bytes, modifier: bytes | None) -> None:
        self._guarded(self._press, self._keys.keystroke(keyID, modifier))

    def unhandledControlSequence(self, seq: bytes) -> None:
        self._guarded(self._press, self._keys.sequence(seq))

    def _press(self, keys: list[str]) -> None:
        for key in keys:
            if self._ended or self._screen is None:
                return
            action = self._editor.press(key)
            if action is Action.SUBMIT:
                self._submit()
            elif action is Action.END:
                self._endInput()
            elif action is Action.INTERRUPT:
                self._interrupt()
            elif action is Action.REFUSED:
                self.terminal.write(b"\x07")
            elif action is Action.REDRAW:
                self._screen.redraw()
            self._drawInput()

    def _submit(self) -> None:
        prompt = self._prompt
        line = self._editor.submit()
        self._drawInput()
        if self._echo:
            self.writeLine(prompt + line)
        self._lines.dataReceived(line.encode("utf-8") + b"\n")

    # The end.

    def _endInput(self) -> None:
        self._ended = True
        self._lines.readConnectionLost()

    def abandonScreen(self) -> bytes:
        """
        Stop drawing, as L{restoreScreen} does, when the connection can no
        longer write.

        @return: what puts the terminal back (see L{restoreSequence}), for
            writing straight to it when the connection can no longer write
            (nothing if nothing was drawn).
        """
        screen, self._screen = self._screen, None
        if screen is None:
            return b""
        screen.restored = True
        return restoreSequence(screen.height)

    def restoreScreen(self) -> None:
        """
        Put the screen back as it was (through the connection, after what
        was written before), and draw nothing more: the console is closing.
        """
        if self._screen is not None:
            self._screen.restore()

    def _guarded(self, call: Callable[..., None], *args: Any) -> None:
        """
        Call C{call}; an exception breaks the console: the screen is put
        back, the input ends, and the connection is closed, C{closed}
        failing with it.
        """
        if self._failure is not None:
            return
        try:
            call(*args)
        except Exception:
            self._failure = Failure()
            self.restoreScreen()
            self._endInput()
            terminal = getattr(self, "terminal", None)
            if terminal is not None:
                terminal.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        The terminal is gone: the end of input, if it was not told yet, and
        nothing more is shown.
        """
        self._ended = True
        self._screen = None
        self._held = []
        self._lines.connectionLost(reason)
        if not self.closed.called:
            if self._failure is not None:
                self.closed.errback(self._failure)
            else:
                self.closed.callback(None)


class TerminalServer(ServerProtocol):
    """
    insults' C{ServerProtocol} for a L{TerminalReader}, as
    L{TerminalConnection} connects it: closing does not reset the terminal
    (which would clear what the person can still read; the reader puts the
    screen back itself) but goes through the connection, and the connection
    is told when it is lost before the reader is.
    """

    def __init__(
        self,
        reader: TerminalReader,
        lost: Callable[[Failure], None] = lambda reason: None,
        close: Callable[[], None] | None = None,
    ) -> None:
        """
        @param lost: told first when the connection is lost.
        @param close: closes the connection; the transport's
            C{loseConnection} if C{None}.
        """
        super().__init__(lambda: reader)
        self._lost = lost
        self._close = close

    def loseConnection(self) -> None:
        if self._close is not None:
            self._close()
        elif self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        try:
            self._lost(reason)
        finally:
            super().connectionLost(reason)


# Raw mode.


class TerminalMode:
    """
    A terminal's mode: raw for L{TerminalReader} (no echo, no line editing
    by the terminal, keys one at a time, Ctrl-C and Ctrl-Z as bytes rather
    than signals, no flow control), and back as it was.  Output processing
    is left on, so a line written to standard error by something else still
    starts at the left.
    """

    def __init__(self, fd: int, others: Sequence[int] = ()) -> None:
        """
        @param fd: the terminal, as standard input.
        @param others: other descriptors of it (standard output), whose
            blocking mode is put back too (C{StandardIO} makes them
            non-blocking).
        """
        self._fd = fd
        self._fds = (fd, *others)
        self._saved: list[Any] | None = None
        self._blocking: list[bool] = []

    @property
    def raw(self) -> bool:
        """
        Whether the terminal is in raw mode (L{enter} was called, and not
        L{restore}).
        """
        return self._saved is not None

    def enter(self) -> None:
        """
        Put the terminal in raw mode.

        @raise termios.error: if C{fd} is no terminal.
        """
        import termios

        saved = termios.tcgetattr(self._fd)
        mode = termios.tcgetattr(self._fd)
        mode[0] &= ~(
            termios.BRKINT
            | termios.ICRNL
            | termios.INLCR
            | termios.IGNCR
            | termios.INPCK
            | termios.ISTRIP
            | termios.IXON
        )
        mode[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
        mode[6][termios.VMIN] = 1
        mode[6][termios.VTIME] = 0
        self._blocking = [os.get_blocking(fd) for fd in self._fds]
        termios.tcsetattr(self._fd, termios.TCSANOW, mode)
        self._saved = saved

    def restore(self) -> None:
        """
        Put the terminal back as it was before L{enter}; again, or without
        L{enter}, nothing.
        """
        import termios

        saved, self._saved = self._saved, None
        if saved is None:
            return
        try:
            termios.tcsetattr(self._fd, termios.TCSANOW, saved)
        finally:
            for fd, blocking in zip(self._fds, self._blocking, strict=False):
                try:
                    os.set_blocking(fd, blocking)
                except OSError:
                    pass


class _Mode(Protocol):
    def enter(self) -> None: ...

    def restore(self) -> None: ...


def watchWindowSize(reactor: Any) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """
    @return: a function that calls its argument, from the reactor, each
        time the terminal's size changes (C{SIGWINCH}), and returns the
        function that stops it (putting the handler before back).
    """

    def watch(resized: Callable[[], None]) -> Callable[[], None]:
        def handler(number: int, frame: Any) -> None:
            reactor.callFromThread(resized)

        previous = signal.signal(signal.SIGWINCH, handler)
        if previous is None:
            # Not installed from Python.
            previous = signal.SIG_DFL

        def stop() -> None:
            signal.signal(signal.SIGWINCH, previous)

        return stop

    return watch


def windowSize(fd: int) -> tuple[int, int]:
    """
    @return: the width and height of the terminal C{fd}; 80 by 24 if it
        does not say.
    """
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return (80, 24)
    return (size.columns or 80, size.lines or 24)


@implementer(ITransport)
class TerminalConnection:
    """
    A L{TerminalReader} connected to the person's terminal: raw mode, insults
    over C{StandardIO}, the size as it changes, and everything put back (the
    screen, then the mode) on every way out: L{loseConnection}, the terminal
    or standard input lost, an exception in the reader, the reactor
    stopping (which waits for it).

    Made by L{TerminalStdio.connect}; the collaborators are parameters, so
    that tests can give fakes.

    @cvar CLOSE_TIMEOUT: seconds that writing out the last output may take
        (a terminal whose output is suspended, with Ctrl-S, takes none);
        after them the connection is cut and the terminal put back at once.
    """

    CLOSE_TIMEOUT = 2.0

    def __init__(
        self,
        reactor: Any,
        reader: TerminalReader,
        mode: _Mode,
        connectStdio: Callable[[TerminalServer], Any],
        size: Callable[[], tuple[int, int]],
        watchSize: Callable[[Callable[[], None]], Callable[[], None]],
        writeNow: Callable[[bytes], object],
    ) -> None:
        """
        @param reactor: for the deadline and the shutdown trigger.
        @param mode: raw mode, entered and restored.
        @param connectStdio: connects the protocol to standard input and
            output (a C{StandardIO}), and returns the transport.
        @param size: the terminal's width and height, now.
        @param watchSize: see L{watchWindowSize}.
        @param writeNow: writes straight to the terminal, when the
            transport can no longer.
        """
        self._reactor = reactor
        self._reader = reader
        self._mode = mode
        self._connectStdio = connectStdio
        self._size = size
        self._watchSize = watchSize
        self._writeNow = writeNow
        self._stdio: Any = None
        self._stopWatching: Callable[[], None] | None = None
        self._trigger: Any = None
        self._deadline: IDelayedCall | None = None
        self._closing = False
        self._lost = False
        self._waiting: list[Deferred[None]] = []

    def start(self) -> None:
        """
        Enter raw mode, and connect the reader, which draws its screen.
        """
        self._mode.enter()
        try:
            self._stopWatching = self._watchSize(self._resized)
            self._trigger = self._reactor.addSystemEventTrigger(
                "before", "shutdown", self._shutdown
            )
            self._reader.terminalSize(*self._size())
            self._stdio = self._connectStdio(
                TerminalServer(self._reader, self._gone, self.loseConnection)
            )
        except BaseException:
            self._gone(None)
            raise

    def _resized(self) -> None:
        if not self._lost:
            self._reader.terminalSize(*self._size())

    # ITransport, of which L{IStdio.connect} promises loseConnection.

    def write(self, data: bytes) -> None:
        """
        Write to the terminal, as it is: the reader's screen does not know.
        """
        if self._stdio is not None and not self._lost:
            self._stdio.write(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    def getPeer(self) -> IAddress:
        return self._stdio.getPeer()  # type: ignore[no-any-return]

    def getHost(self) -> IAddress:
        return self._stdio.getHost()  # type: ignore[no-any-return]

    def loseConnection(self) -> None:
        """
        Put the screen back, write out what is left, close; then put the
        mode back.  After L{CLOSE_TIMEOUT} seconds the connection is cut.
        """
        if self._closing or self._lost:
            return
        self._closing = True
        self._reader.restoreScreen()
        self._deadline = self._reactor.callLater(self.CLOSE_TIMEOUT, self._cut)
        self._stdio.loseConnection()

    def _cut(self) -> None:
        self._deadline = None
        self._stdio.connectionLost(
            Failure(ConnectionAborted("the terminal took too long to write"))
        )

    def _shutdown(self) -> Deferred[None]:
        """
        The reactor is stopping: close, and have it wait until the terminal
        is put back.
        """
        self._trigger = None
        self.loseConnection()
        if self._lost:
            return succeed(None)
        waiting: Deferred[None] = Deferred()
        self._waiting.append(waiting)
        return waiting

    def _gone(self, reason: Failure | None) -> None:
        """
        The connection is lost, however: put everything back (the screen
        straight to the terminal, unless it was written out as the
        connection closed cleanly), and the mode last of all.
        """
        if self._lost:
            return
        self._lost = True
        try:
            if self._deadline is not None and self._deadline.active():
                self._deadline.cancel()
            if self._trigger is not None:
                self._reactor.removeSystemEventTrigger(self._trigger)
            if self._stopWatching is not None:
                self._stopWatching()
            written = (
                self._closing
                and reason is not None
                and reason.check(ConnectionDone) is not None
            )
            sequence = self._reader.abandonScreen()
            if sequence and not written:
                self._writeNow(sequence)
        finally:
            self._mode.restore()
            waiting, self._waiting = self._waiting, []
            for each in waiting:
                each.callback(None)


def _writeTo(fd: int) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        try:
            os.write(fd, data)
        except OSError:
            pass

    return write


@implementer(IStdio)
class TerminalStdio:
    """
    Standard input and output as a person's terminal: each console is a
    L{TerminalReader}, connected by a L{TerminalConnection}.
    """

    screen = True

    def __init__(
        self, reactor: Any, colour: bool = True, stdin: int = 0, stdout: int = 1
    ) -> None:
        """
        @param reactor: the reactor that reads standard input.
        @param colour: whether emphasis may use colour (not where
            C{NO_COLOR} is set).
        @param stdin: the terminal's descriptor for input.
        @param stdout: the terminal's descriptor for output.
        """
        self._reactor = reactor
        self._colour = colour
        self._stdin = stdin
        self._stdout = stdout

    def console(
        self, handler: ITerminalHandler, maxLineLength: int, echo: bool = False
    ) -> IConsole:
        """
        @return: a L{TerminalReader}.
        """
        return TerminalReader(handler, maxLineLength, echo=echo, colour=self._colour)

    def connect(self, console: IConsole) -> TerminalConnection:
        """
        @param console: a L{TerminalReader} made by L{console}.
        @raise termios.error: if standard input is no terminal after all.
        """
        assert isinstance(console, TerminalReader)
        connection = TerminalConnection(
            self._reactor,
            console,
            TerminalMode(self._stdin, [self._stdout]),
            lambda protocol: StandardIO(  # type: ignore[call-arg]
                protocol, stdin=self._stdin, stdout=self._stdout, reactor=self._reactor
            ),
            lambda: windowSize(self._stdout),
            watchWindowSize(self._reactor),
            _writeTo(self._stdout),
        )
        connection.start()
        return connection


_DUMB = frozenset({"", "dumb", "unknown"})
"""
Values of C{TERM} for terminals that cannot move their cursor.
"""


def _isTerminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except ValueError:
        # A closed stream.
        return False


def wantsScreen(
    stdin: TextIO | None, stdout: TextIO | None, environ: Mapping[str, str]
) -> bool:
    """
    @return: whether a person is at a terminal that can have an input line:
        standard input and output are both terminals, C{TERM} names one
        that can move its cursor, and this system has C{termios}.
    """
    return (
        _isTerminal(stdin)
        and _isTerminal(stdout)
        and environ.get("TERM", "") not in _DUMB
        and importlib.util.find_spec("termios") is not None
    )


def standardIO(
    reactor: Any,
    plain: bool = False,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> IStdio:
    """
    Standard input and output as an interactive command should use them: a
    L{TerminalStdio} for a person at a terminal (see L{wantsScreen}), with
    colour unless C{NO_COLOR} is set (to anything but nothing); plain lines,
    L{LineStdio}, for pipes, scripts and C{--plain}.

    @param plain: lines even on a terminal (C{--plain}).
    @param stdin: standard input; C{sys.stdin} if C{None}.
    @param stdout: standard output; C{sys.stdout} if C{None}.
    @param environ: the environment; C{os.environ} if C{None}.
    """
    environ = os.environ if environ is None else environ
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    if plain or not wantsScreen(stdin, stdout, environ):
        return LineStdio(reactor)
    return TerminalStdio(
        reactor,
        colour=not environ.get("NO_COLOR"),
        stdin=stdin.fileno(),
        stdout=stdout.fileno(),
    )
