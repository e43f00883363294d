"""
The chat's WebSocket messages, as pure functions and frozen values: no I/O.

Each message is one JSON object in a text frame.  What the server sends is
what the line protocol sends (L{netlab.chat._wire}), as an object: the
line's tag in lower case is its C{type}, and its fields are the event's
fields by name (L{toObject})::

    MSG #lobby bob hi          {"type": "msg", "room": "#lobby", "nick": "bob", "text": "hi"}
    PRIV bob alice psst        {"type": "priv", "from": "bob", "to": "alice", "text": "psst"}
    OK who #lobby alice bob    {"type": "ok", "command": "who", "room": "#lobby", "nicks": ["alice", "bob"]}

What a client sends is a command (L{parseMessage}):
C{{"type": "say", "text": "hi"}} is the line C{hi}, C{{"type": "join",
"room": "#dev"}} is C{/join #dev}, and so on.
"""  # noqa: E501

from __future__ import annotations

import json
import re
from typing import Any

import attrs

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
    cleanText,
    stripFormatting,
)

__all__ = [
    "COMMAND_FIELDS",
    "WebCommand",
    "formatMessage",
    "parseMessage",
    "toObject",
]

_TYPES: dict[type, str] = {
    RoomMessage: "msg",
    Action: "act",
    PrivateMessage: "priv",
    Joined: "join",
    Parted: "part",
    NickChanged: "nick",
    Quit: "quit",
    Notice: "note",
    History: "hist",
    Reply: "ok",
    Error: "err",
}

_RENAMED = {"sender": "from", "recipient": "to"}
"""
Fields whose JSON name is the line protocol's (C{PRIV <from> <to> <text>})
rather than the attribute's, which cannot be C{from}.
"""

_REPLY_FIELD = {"nick": "nick", "join": "room", "part": "room", "msg": "to"}
"""
The field of the one value of these commands' replies.
"""


def toObject(line: ServerLine) -> dict[str, Any]:
    """
    What the server sends, as the JSON object a WebSocket client gets.

    @return: C{{"type": T, ...}}, C{T} the line protocol's tag in lower
        case; the fields of the event by name (C{sender} and C{recipient}
        of a private message are C{from} and C{to}); a history line's
        event as an object under C{event}; a reply's values under names of
        their own (see L{netlab.chat._json}).  IRC's formatting codes are
        taken out of text, as for the line protocol.
    """
    if isinstance(line, Reply):
        return _reply(line)
    if isinstance(line, History):
        return {"type": "hist", "event": toObject(line.event)}
    result: dict[str, Any] = {"type": _TYPES[type(line)]}
    for field in attrs.fields(type(line)):
        value = getattr(line, field.name)
        if isinstance(value, str) and not value.isprintable():
            # Text from an IRC user: its formatting codes are for IRC.
            value = stripFormatting(value)
        result[_RENAMED.get(field.name, field.name)] = value
    return result


def _reply(reply: Reply) -> dict[str, Any]:
    command, values = reply.command, reply.values
    result: dict[str, Any] = {"type": "ok", "command": command}
    if command == "who" and values:
        result["room"] = values[0]
        result["nicks"] = list(values[1:])
    elif command == "rooms":
        result["rooms"] = [
            {"room": room, "count": int(count)}
            for room, count in zip(values[::2], values[1::2], strict=False)
        ]
    elif command in _REPLY_FIELD and len(values) == 1:
        result[_REPLY_FIELD[command]] = values[0]
    elif values:
        result["values"] = list(values)
    return result


def formatMessage(line: ServerLine) -> str:
    """
    @return: what the server sends, as the text of one WebSocket message:
        L{toObject}'s object in compact JSON (UTF-8 once the frame is
        written, not escaped).
    """
    return json.dumps(toObject(line), ensure_ascii=False, separators=(",", ":"))


COMMAND_FIELDS: dict[str, tuple[str, ...]] = {
    "nick": ("nick",),
    "say": ("text",),
    "me": ("text",),
    "join": ("room",),
    "part": ("reason",),
    "msg": ("to", "text"),
    "who": (),
    "rooms": (),
    "quit": ("reason",),
}
"""
Every command a client may send, and its fields, in the order of the
arguments of L{netlab.chat._participant.ChatCommands}' method of the same
name.
"""

_OPTIONAL = frozenset({"reason"})

USAGE = {
    name: json.dumps(
        {"type": name, **{field: field.upper() for field in fields}},
    )
    for name, fields in COMMAND_FIELDS.items()
}
"""
What a command looks like, for the text of its C{usage} error.
"""

_NAME = re.compile(r"[a-z][a-z-]{0,15}", re.ASCII)
_SURROGATES = re.compile("[\ud800-\udfff]")


@attrs.frozen
class WebCommand:
    """
    A command from a WebSocket client.

    @ivar name: its C{type}: a key of L{COMMAND_FIELDS}.
    @ivar args: the values of its fields, in the order L{COMMAND_FIELDS}
        gives, already cleaned with L{cleanText} (an optional field left
        out is C{""}).
    """

    name: str
    args: tuple[str, ...] = ()


def parseMessage(text: str, maxLength: int) -> WebCommand | Error:
    """
    Read the text of one message from a WebSocket client.

    Fields other than a command's own are ignored.  Text is cleaned as the
    line protocol cleans it (L{cleanText}), and a UTF-16 surrogate that
    JSON's C{\\u} escapes can make, which no UTF-8 text holds, becomes
    U+FFFD.  Never raises.

    @param maxLength: the most bytes the strings of the command's fields
        may hold together, in UTF-8: C{--max-line-length}.
    @return: the command, or the error to answer it with: C{bad-json} (not
        a JSON object), C{unknown-command} (no C{type}, or not one of
        L{COMMAND_FIELDS}), C{usage} (a field missing, or not a string) or
        C{line-too-long}.
    """
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        return Error(
            "*",
            "bad-json",
            "messages are JSON objects, one in each text frame; that one was dropped",
        )
    name = value.get("type")
    if not isinstance(name, str) or name not in COMMAND_FIELDS:
        command = name if isinstance(name, str) and _NAME.fullmatch(name) else "*"
        shown = repr(name[:32]) if isinstance(name, str) else "given"
        return Error(
            command,
            "unknown-command",
            f"no message type {shown}; the types are {', '.join(COMMAND_FIELDS)}",
        )
    args: list[str] = []
    size = 0
    for field in COMMAND_FIELDS[name]:
        arg = value.get(field, "" if field in _OPTIONAL else None)
        if not isinstance(arg, str):
            return Error(name, "usage", USAGE[name])
        size += len(arg.encode("utf-8", "surrogatepass"))
        args.append(arg)
    if size > maxLength:
        return Error(
            name,
            "line-too-long",
            f"messages may hold {maxLength} bytes of text at most; "
            "that one was dropped",
        )
    return WebCommand(
        name, tuple(cleanText(_SURROGATES.sub("\ufffd", arg)) for arg in args)
    )
