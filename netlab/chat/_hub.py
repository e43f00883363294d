"""
The chat model: nicknames, rooms, history and fan-out.

The hub knows participants only through L{IChatParticipant}; it never sees a
transport.  The line protocol is one kind of participant; a test fake, or a
bridge to another node or protocol, can be another.
"""

from __future__ import annotations

from collections import deque

import attrs
from zope.interface import Interface

from netlab.chat._wire import (
    Action,
    ChatEvent,
    History,
    Joined,
    NickChanged,
    Parted,
    PrivateMessage,
    Quit,
    RoomMessage,
    formatLine,
    isValidNick,
    isValidRoom,
    normalizeNick,
)
from netlab.errors import ChatError

__all__ = [
    "DEFAULT_HISTORY",
    "DEFAULT_NOTICE_LIMIT",
    "DEFAULT_ROOM",
    "ChatHub",
    "IChatParticipant",
]

DEFAULT_ROOM = "#lobby"
"""
The room every participant joins on registering.
"""

DEFAULT_HISTORY = 20
"""
How many past messages of a room are replayed to whoever joins it.
"""

DEFAULT_NOTICE_LIMIT = 1000
"""
The most participants a room may have for its C{JOIN}, C{PART}, C{NICK} and
C{QUIT} notices to go to everyone in it; in a larger room they go only to
the participant concerned, since announcing each of N arrivals to N people
costs N squared lines.
"""


class IChatParticipant(Interface):
    """
    Someone in the chat, as the hub sees them.

    Stopping a server is not the hub's business: it is the connections
    that stop (L{netlab.policies.ConnectionGuard.drain} asks each
    L{netlab.policies.IDrainable} protocol to say goodbye, and the line
    protocol then leaves the hub with L{ChatHub.quit}, as any participant
    does when it goes).
    """

    def deliver(event: ChatEvent | History, line: bytes) -> None:
        """
        Something happened that this participant should hear about.

        @param event: what happened.
        @param line: the same, as a line of the chat line protocol (CRLF
            included); formatted once and shared by every recipient, so a
            participant that speaks that protocol just writes it.
        """


@attrs.define(eq=False)
class _Member:
    participant: IChatParticipant
    nick: str
    room: _Room | None = None


@attrs.define(eq=False)
class _Room:
    name: str
    history: deque[tuple[History, bytes]]
    members: dict[IChatParticipant, _Member] = attrs.Factory(dict)


class ChatHub:
    """
    Rooms, nicknames and history, and who hears what.

    Every participant is in at most one room at a time: registering puts it
    in the default room, joining another room leaves the current one.  A
    room exists while someone is in it (the default room always), so the
    hub holds no more than its participants make it hold.

    Methods that can be refused raise L{ChatError} with a stable C{code}.

    @ivar defaultRoom: the room participants join on registering.
    @ivar historySize: how many messages of each room are kept and replayed.
    """

    def __init__(
        self,
        defaultRoom: str = DEFAULT_ROOM,
        historySize: int = DEFAULT_HISTORY,
        noticeLimit: int = DEFAULT_NOTICE_LIMIT,
    ) -> None:
        """
        @param defaultRoom: the room participants join on registering.
        @param historySize: how many past messages a room keeps, 0 or more.
        @param noticeLimit: in rooms with more participants than this,
            C{JOIN}, C{PART}, C{NICK} and C{QUIT} notices go only to the
            participant concerned; 0 for no limit.
        @raise ValueError: for an invalid room name or a negative size.
        """
        if not isValidRoom(defaultRoom):
            raise ValueError(f"{defaultRoom!r} is not a room name")
        if historySize < 0:
            raise ValueError("historySize cannot be negative")
        self.defaultRoom = defaultRoom
        self.historySize = historySize
        self.noticeLimit = noticeLimit
        self._members: dict[IChatParticipant, _Member] = {}
        self._nicks: dict[str, _Member] = {}
        self._rooms: dict[str, _Room] = {}
        self._room(defaultRoom)

    # Queries

    def nickOf(self, participant: IChatParticipant) -> str | None:
        """
        @return: the participant's nickname, or C{None} if it has not
            registered.
        """
        member = self._members.get(participant)
        return member.nick if member else None

    def roomOf(self, participant: IChatParticipant) -> str | None:
        """
        @return: the room the participant is in, or C{None}.
        """
        member = self._members.get(participant)
        return member.room.name if member and member.room else None

    def who(self, participant: IChatParticipant) -> list[str]:
        """
        @return: the nicknames in the participant's room, sorted
            case-insensitively.
        @raise ChatError: C{not-in-room}.
        """
        room = self._member(participant).room
        if room is None:
            raise ChatError("not-in-room", "you are in no room; /join one")
        return sorted((m.nick for m in room.members.values()), key=str.casefold)

    def rooms(self) -> list[tuple[str, int]]:
        """
        @return: every room with how many are in it, sorted by name.
        """
        return sorted(
            ((room.name, len(room.members)) for room in self._rooms.values()),
            key=lambda pair: pair[0].casefold(),
        )

    def participants(self) -> list[IChatParticipant]:
        """
        @return: every registered participant.
        """
        return list(self._members)

    # Changes

    def register(self, participant: IChatParticipant, nick: str) -> None:
        """
        Take a participant in under a nickname, and put it in the default
        room (it hears the room's history and its own C{JOIN}).

        @raise ChatError: C{nick-invalid}, C{nick-taken}, or C{registered} if
            it already is.
        """
        if participant in self._members:
            raise ChatError("registered", "you already have a nickname; use /nick")
        self.checkNick(nick)
        member = _Member(participant, nick)
        self._members[participant] = member
        self._nicks[normalizeNick(nick)] = member
        self.join(participant, self.defaultRoom)

    def rename(self, participant: IChatParticipant, nick: str) -> None:
        """
        Change a participant's nickname; its room (or, outside any room,
        the participant alone) hears C{NICK old new}.

        @raise ChatError: C{nick-invalid} or C{nick-taken}.
        """
        member = self._member(participant)
        if nick == member.nick:
            return
        if normalizeNick(nick) != normalizeNick(member.nick) or not isValidNick(nick):
            self.checkNick(nick)
        del self._nicks[normalizeNick(member.nick)]
        event = NickChanged(member.nick, nick)
        member.nick = nick
        self._nicks[normalizeNick(nick)] = member
        if member.room is not None:
            self._notify(member.room, event, participant)
        else:
            participant.deliver(event, formatLine(event))

    def join(self, participant: IChatParticipant, name: str) -> None:
        """
        Move a participant into a room, creating it if need be: it leaves
        its current room (which hears C{PART}), hears the new room's
        history, and the new room (itself included) hears C{JOIN}.

        @raise ChatError: C{room-invalid}.
        """
        member = self._member(participant)
        if not isValidRoom(name):
            raise ChatError(
                "room-invalid",
                f"{name!r} is not a room name: # and up to 31 letters, digits, _ or -",
            )
        room = self._room(name)
        if member.room is room:
            return
        if member.room is not None:
            self._leave(
                member, Parted(member.room.name, member.nick, f"joined {room.name}")
            )
        # Deliveries may end in the participant quitting: check after each.
        if self._members.get(participant) is member:
            for event, line in room.history:
                participant.deliver(event, line)
        if self._members.get(participant) is not member:
            self._forgetIfEmpty(room)
            return
        room.members[participant] = member
        member.room = room
        self._notify(room, Joined(room.name, member.nick), participant)

    def part(self, participant: IChatParticipant, reason: str = "") -> None:
        """
        Take a participant out of its room, which (itself included) hears
        C{PART}.

        @raise ChatError: C{not-in-room}.
        """
        member = self._member(participant)
        if member.room is None:
            raise ChatError("not-in-room", "you are in no room")
        self._leave(member, Parted(member.room.name, member.nick, reason))

    def say(
        self, participant: IChatParticipant, text: str, action: bool = False
    ) -> None:
        """
        Say something in the participant's room: everyone else there hears
        C{MSG} (or C{ACT} for an action), and it joins the room's history.

        @raise ChatError: C{not-in-room}.
        """
        member = self._member(participant)
        room = member.room
        if room is None:
            raise ChatError("not-in-room", "you are in no room; /join one first")
        event = (Action if action else RoomMessage)(room.name, member.nick, text)
        line = formatLine(event)
        # A snapshot: a delivery may end in a participant leaving.
        for other in tuple(room.members):
            if other is not participant:
                other.deliver(event, line)
        if self.historySize:
            room.history.append((History(event), b"HIST " + line))

    def tell(self, participant: IChatParticipant, nick: str, text: str) -> str:
        """
        Send a private message: the recipient hears C{PRIV}.

        @return: the recipient's nickname as registered.
        @raise ChatError: C{no-such-nick}.
        """
        member = self._member(participant)
        recipient = self._nicks.get(normalizeNick(nick))
        if recipient is None:
            raise ChatError("no-such-nick", f"nobody here is called {nick!r}")
        event = PrivateMessage(member.nick, recipient.nick, text)
        recipient.participant.deliver(event, formatLine(event))
        return recipient.nick

    def quit(self, participant: IChatParticipant, reason: str = "") -> None:
        """
        Let a participant go (it quit, or its connection was lost): its
        room hears C{QUIT}, and its nickname is free again.  Does nothing
        for a participant that never registered.
        """
        member = self._members.pop(participant, None)
        if member is None:
            return
        del self._nicks[normalizeNick(member.nick)]
        room = member.room
        if room is not None:
            room.members.pop(participant, None)
            member.room = None
            self._notify(room, Quit(member.nick, reason), None)
            self._forgetIfEmpty(room)

    # Internals

    def _member(self, participant: IChatParticipant) -> _Member:
        member = self._members.get(participant)
        if member is None:
            raise ChatError("not-registered", "choose a nickname first: /nick NAME")
        return member

    def checkNick(self, nick: str) -> None:
        """
        Check that C{nick} could be registered now.

        @raise ChatError: C{nick-invalid} or C{nick-taken}.
        """
        if not isValidNick(nick):
            raise ChatError(
                "nick-invalid",
                f"{nick!r} is not a nickname: a letter or _, then up to 15 "
                "letters, digits, _ or -",
            )
        if normalizeNick(nick) in self._nicks:
            raise ChatError("nick-taken", f"{nick} is taken; choose another")

    def _room(self, name: str) -> _Room:
        key = name.casefold()
        room = self._rooms.get(key)
        if room is None:
            room = self._rooms[key] = _Room(name, deque(maxlen=self.historySize))
        return room

    def _leave(self, member: _Member, event: Parted) -> None:
        room = member.room
        assert room is not None
        self._notify(room, event, member.participant)
        # The participant may have quit while hearing its own PART.
        room.members.pop(member.participant, None)
        if member.room is room:
            member.room = None
        self._forgetIfEmpty(room)

    def _forgetIfEmpty(self, room: _Room) -> None:
        if not room.members and room.name != self.defaultRoom:
            self._rooms.pop(room.name.casefold(), None)

    def _notify(
        self, room: _Room, event: ChatEvent, subject: IChatParticipant | None
    ) -> None:
        """
        Tell a room about someone's C{event}, or, in a room over the notice
        limit, just that someone.
        """
        line = formatLine(event)
        if self.noticeLimit and len(room.members) > self.noticeLimit:
            if subject is not None and subject in room.members:
                subject.deliver(event, line)
            return
        for participant in tuple(room.members):
            participant.deliver(event, line)
