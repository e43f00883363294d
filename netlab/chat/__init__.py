"""
The line chat service: nicknames, rooms, history and private messages over
a line protocol that people can use with C{nc} or C{telnet} and programs
can parse (see L{netlab.chat._wire}, and "The chat line protocol" in the
reference documentation).

The model is L{ChatHub}, which knows participants only through
L{IChatParticipant}; L{ChatFactory} serves the line protocol on any stream
endpoint, behind a L{netlab.policies.ConnectionGuard} whose drain stops it;
L{connectChat} gives a client L{ChatSession}.
"""

from netlab.chat._client import (
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_TIMEOUT,
    ChatSession,
    EventStream,
    SessionEvent,
    connectChat,
)
from netlab.chat._hub import (
    DEFAULT_HISTORY,
    DEFAULT_NOTICE_LIMIT,
    DEFAULT_ROOM,
    ChatHub,
    IChatParticipant,
)
from netlab.chat._server import DEFAULT_PORT, ChatFactory, ChatLimits, ChatProtocol
from netlab.chat._wire import (
    Action,
    ChatEvent,
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
    parseServerLine,
)

__all__ = [
    "DEFAULT_HISTORY",
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_NOTICE_LIMIT",
    "DEFAULT_PORT",
    "DEFAULT_ROOM",
    "DEFAULT_TIMEOUT",
    "Action",
    "ChatEvent",
    "ChatFactory",
    "ChatHub",
    "ChatLimits",
    "ChatProtocol",
    "ChatSession",
    "Error",
    "EventStream",
    "History",
    "IChatParticipant",
    "Joined",
    "NickChanged",
    "Notice",
    "Parted",
    "PrivateMessage",
    "Quit",
    "Reply",
    "RoomMessage",
    "ServerLine",
    "SessionEvent",
    "connectChat",
    "formatLine",
    "parseServerLine",
]
