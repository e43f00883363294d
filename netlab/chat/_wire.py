"""
The chat line protocol, as pure functions and frozen values: no I/O.

Bytes at the edge, C{str} inside: L{parseCommand} turns a line a client sent
into a L{Command}; L{formatLine} turns what the server says into one line
of bytes; L{parseServerLine} turns such a line back into
a value, for clients.

Every line the server sends starts with a tag that says what it is::

    MSG <room> <nick> <text>          a message to a room
    ACT <room> <nick> <text>          an action (/me) in a room
    PRIV <from> <to> <text>           a private message, to its recipient
    JOIN <room> <nick>                someone joined a room
    PART <room> <nick> [<reason>]     someone left a room
    NICK <old> <new>                  someone changed nickname
    QUIT <nick> [<reason>]            someone left the chat
    HIST <line>                       a line of a room's history, replayed
    NOTE <text>                       a notice from the server, for people
    OK <command> [<value>...]         the reply to a command
    ERR <command> <code> <text>       a command or line was refused

Fields are separated by one space; the last field of MSG, ACT, PRIV, PART,
QUIT, NOTE and ERR is the rest of the line and may contain spaces.  Every
slash command gets exactly one OK or ERR line naming it, in order; a plain
line (C{say}) or C{/me} gets no reply unless it is refused (C{ERR say ...});
an ERR about no command in particular (an over-long line, bad UTF-8, being
disconnected) names the command C{*}.  Lines end with CRLF.
"""

from __future__ import annotations

import re

import attrs

from netlab._text import UNSAFE, cleanText
from netlab.errors import ProtocolError

__all__ = [
    "Action",
    "ChatEvent",
    "Command",
    "Error",
    "History",
    "Joined",
    "NickChanged",
    "Notice",
    "Parted",
    "PrivateMessage",
    "Quit",
    "Reply",
    "RoomMessage",
    "ServerLine",
    "cleanText",
    "formatLine",
    "isValidNick",
    "isValidNodeName",
    "isValidRoom",
    "normalizeNick",
    "parseCommand",
    "parseServerLine",
]

NICK_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,15}", re.ASCII)
"""
A nickname: a letter or underscore, then up to 15 letters, digits, C{_} or
C{-}.
"""

ROOM_PATTERN = re.compile(r"#[A-Za-z0-9_-]{1,31}", re.ASCII)
"""
A room: C{#} and 1 to 31 letters, digits, C{_} or C{-}.
"""

_RESERVED = frozenset({"server", "netlab"})


_FORMATTING_CODES = "\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f"
"""
IRC's text formatting codes: bold, colour, hex colour, reset, monospace,
reverse, italics, strikethrough, underline.
"""

# IRC text: everything cleanText makes safe, but the formatting codes.
_UNSAFE_BUT_FORMATTING = {
    code: replacement
    for code, replacement in UNSAFE.items()
    if chr(code) not in _FORMATTING_CODES
}

_FORMATTING = re.compile(
    "\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?"
    "|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    "|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)


def cleanIRCText(text: str) -> str:
    """
    L{cleanText} for text from an IRC user: IRC's formatting codes (bold,
    colours, italics...) are kept, for the other IRC users; L{formatLine}
    takes them out for everyone else.
    """
    return text.translate(_UNSAFE_BUT_FORMATTING)


def stripFormatting(text: str) -> str:
    """
    @return: C{text} without IRC's formatting codes (a colour code with its
        colour numbers).
    """
    return _FORMATTING.sub("", text)


def isValidNick(nick: str) -> bool:
    """
    @return: whether C{nick} may be used as a nickname.
    """
    return NICK_PATTERN.fullmatch(nick) is not None and nick.casefold() not in _RESERVED


def isValidNodeName(node: str) -> bool:
    """
    @return: whether C{node} is a node's name: letters, digits, C{-}, C{_}
        and C{.} only.
    """
    return bool(node) and all(c.isalnum() or c in "-_." for c in node)


def normalizeNick(nick: str) -> str:
    """
    @return: the key under which C{nick} is unique: nicknames differing
        only in case are the same.
    """
    return nick.casefold()


def isValidRoom(room: str) -> bool:
    """
    @return: whether C{room} is a room name.
    """
    return ROOM_PATTERN.fullmatch(room) is not None


@attrs.frozen
class Command:
    """
    A line from a client.

    @ivar name: the command without its slash (C{"join"}), or C{"say"} for
        a plain line.
    @ivar args: the rest of the line after the command and one space (the
        text, for C{"say"}), already cleaned with L{cleanText}.
    """

    name: str
    args: str


def parseCommand(line: bytes) -> Command:
    """
    Parse one line from a client, without its line ending.

    A line starting with C{/} is a command (C{/join #dev}); C{//} starts a
    plain line that begins with a slash; anything else is a plain line to
    say.  Command names are case-insensitive.

    @raise ProtocolError: if the line is not UTF-8.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("the line is not valid UTF-8") from None
    text = cleanText(text)
    if text.startswith("/") and not text.startswith("//"):
        name, _, args = text[1:].partition(" ")
        return Command(name.lower(), args.strip())
    if text.startswith("//"):
        text = text[1:]
    return Command("say", text)


@attrs.frozen
class RoomMessage:
    """
    C{MSG room nick text}: a line said in a room.
    """

    room: str
    nick: str
    text: str


@attrs.frozen
class Action:
    """
    C{ACT room nick text}: an action (C{/me waves}) in a room.
    """

    room: str
    nick: str
    text: str


@attrs.frozen
class PrivateMessage:
    """
    C{PRIV sender recipient text}: a private message.
    """

    sender: str
    recipient: str
    text: str


@attrs.frozen
class Joined:
    """
    C{JOIN room nick}: someone joined a room.
    """

    room: str
    nick: str


@attrs.frozen
class Parted:
    """
    C{PART room nick [reason]}: someone left a room.
    """

    room: str
    nick: str
    reason: str = ""


@attrs.frozen
class NickChanged:
    """
    C{NICK old new}: someone changed nickname.
    """

    old: str
    new: str


@attrs.frozen
class Quit:
    """
    C{QUIT nick [reason]}: someone left the chat.
    """

    nick: str
    reason: str = ""


@attrs.frozen
class Notice:
    """
    C{NOTE text}: a notice from the server, meant for people.
    """

    text: str


@attrs.frozen
class History:
    """
    C{HIST line}: a room's past message or action, replayed on joining.
    """

    event: RoomMessage | Action


@attrs.frozen
class Reply:
    """
    C{OK command value...}: a command succeeded.

    @ivar command: the command's name, e.g. C{"who"}.
    @ivar values: what it returns, e.g. the nicknames in the room.
    """

    command: str
    values: tuple[str, ...] = ()


@attrs.frozen
class Error:
    """
    C{ERR command code text}: a command or line was refused.

    @ivar command: the refused command's name (C{"say"} for a plain line),
        or C{"*"} for none in particular.
    @ivar code: a stable, machine-readable reason, e.g. C{"nick-taken"}.
    @ivar text: what to tell a person.
    """

    command: str
    code: str
    text: str


ChatEvent = (
    RoomMessage
    | Action
    | PrivateMessage
    | Joined
    | Parted
    | NickChanged
    | Quit
    | Notice
)
"""
Something that happened, which the hub tells participants about.
"""

ServerLine = ChatEvent | History | Reply | Error
"""
Anything a server sends.
"""


def _join(*fields: str) -> bytes:
    return " ".join(fields).encode("utf-8") + b"\r\n"


def formatLine(line: ServerLine) -> bytes:
    """
    Write anything a server sends as one line, CRLF included.

    Free text is expected to be clean already (see L{cleanText}); any CR or
    LF left in it is replaced, so one value is always one line, and IRC's
    formatting codes (see L{cleanIRCText}) are taken out.
    """
    if isinstance(line, RoomMessage):
        return _join("MSG", line.room, line.nick, _oneLine(line.text))
    if isinstance(line, Action):
        return _join("ACT", line.room, line.nick, _oneLine(line.text))
    if isinstance(line, PrivateMessage):
        return _join("PRIV", line.sender, line.recipient, _oneLine(line.text))
    if isinstance(line, Joined):
        return _join("JOIN", line.room, line.nick)
    if isinstance(line, Parted):
        reason = (_oneLine(line.reason),) if line.reason else ()
        return _join("PART", line.room, line.nick, *reason)
    if isinstance(line, NickChanged):
        return _join("NICK", line.old, line.new)
    if isinstance(line, Quit):
        reason = (_oneLine(line.reason),) if line.reason else ()
        return _join("QUIT", line.nick, *reason)
    if isinstance(line, Notice):
        return _join("NOTE", _oneLine(line.text))
    if isinstance(line, History):
        return b"HIST " + formatLine(line.event)
    if isinstance(line, Reply):
        return _join("OK", line.command, *line.values)
    return _join("ERR", line.command, line.code, _oneLine(line.text))


def _oneLine(text: str) -> str:
    text = text.replace("\r", "\ufffd").replace("\n", "\ufffd")
    if text.isprintable():
        return text
    # Text from an IRC user, with formatting codes.
    return stripFormatting(text)


def _fields(text: str, count: int) -> list[str]:
    """
    Split off C{count} space-separated fields; the last is the rest.
    """
    fields = text.split(" ", count - 1)
    if len(fields) != count:
        raise ValueError("too few fields")
    return fields


def _word(text: str) -> str:
    if not text or " " in text:
        raise ValueError("not a single word")
    return text


def parseServerLine(line: bytes) -> ServerLine:
    """
    Parse one line a server sent, with or without its line ending.

    C{parseServerLine(formatLine(x)) == x} for every value C{x} whose text
    is clean and whose words (rooms, nicknames, codes, command names and
    values) contain no space and are not empty.

    @raise ProtocolError: if the line is not one the server sends; nothing
        else is raised, whatever the bytes.
    """
    try:
        text = line.decode("utf-8").removesuffix("\n").removesuffix("\r")
        tag, _, rest = text.partition(" ")
        if tag == "MSG":
            room, nick, said = _fields(rest, 3)
            return RoomMessage(_word(room), _word(nick), said)
        if tag == "ACT":
            room, nick, said = _fields(rest, 3)
            return Action(_word(room), _word(nick), said)
        if tag == "PRIV":
            sender, recipient, said = _fields(rest, 3)
            return PrivateMessage(_word(sender), _word(recipient), said)
        if tag == "JOIN":
            room, nick = _fields(rest, 2)
            return Joined(_word(room), _word(nick))
        if tag == "PART":
            room, _, rest = rest.partition(" ")
            nick, _, reason = rest.partition(" ")
            return Parted(_word(room), _word(nick), reason)
        if tag == "NICK":
            old, new = _fields(rest, 2)
            return NickChanged(_word(old), _word(new))
        if tag == "QUIT":
            nick, _, reason = rest.partition(" ")
            return Quit(_word(nick), reason)
        if tag == "NOTE":
            return Notice(rest)
        if tag == "HIST":
            event = parseServerLine(rest.encode("utf-8"))
            if not isinstance(event, (RoomMessage, Action)):
                raise ValueError("history holds only messages and actions")
            return History(event)
        if tag == "OK":
            command, *values = rest.split(" ")
            return Reply(_word(command), tuple(_word(value) for value in values))
        if tag == "ERR":
            command, code, said = _fields(rest, 3)
            return Error(_word(command), _word(code), said)
        raise ValueError(f"unknown tag {tag[:16]!r}")
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ProtocolError(f"not a chat server line: {e}") from None
