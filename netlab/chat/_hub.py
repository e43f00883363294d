"""
The chat model: nicknames, rooms, history and fan-out.

The hub knows participants only through L{IChatParticipant}; it never sees a
transport.  The line protocol is one kind of participant; a test fake, or a
bridge to another node or protocol, can be another.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs
from twisted.internet.defer import Deferred, fail, succeed
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
    "DEFAULT_ROOM_LIMIT",
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

DEFAULT_ROOM_LIMIT = 20
"""
The most rooms one participant may be in at once (IRC users join several;
line-protocol users are in one).
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
    # The rooms it is in, by case-folded name, in the order it joined them.
    rooms: dict[str, _Room] = attrs.Factory(dict)

    @property
    def room(self) -> _Room | None:
        """
        The room it joined last, of those it is in.
        """
        return next(reversed(self.rooms.values()), None)


@attrs.define(eq=False)
class _Room:
    name: str
    history: deque[tuple[History, bytes]]
    members: dict[IChatParticipant, _Member] = attrs.Factory(dict)

    @property
    def key(self) -> str:
        """
        Its name as the hub files it: case-folded.
        """
        return self.name.casefold()


class ChatHub:
    """
    Rooms, nicknames and history, and who hears what.

    A participant is in a set of rooms.  Registering puts it in the default
    room; L{join} moves it to another room (it leaves the rooms it was in,
    as the line protocol's C{/join} does), or, with C{leaveOthers=False},
    adds one (as IRC's C{JOIN} does).  Calls that act on "the
    participant's room" when no room is named (L{say}, L{part}, L{who},
    L{roomOf}) take the room it joined last.  A room exists while someone
    is in it (the default room always), so the hub holds no more than its
    participants make it hold.

    A notice about a participant (C{NICK}, C{QUIT}) goes once to everyone
    who shares a room with it, however many rooms they share.

    Methods that can be refused raise L{ChatError} with a stable C{code}.

    @ivar defaultRoom: the room participants join on registering.
    @ivar historySize: how many messages of each room are kept and replayed.
    """

    def __init__(
        self,
        defaultRoom: str = DEFAULT_ROOM,
        historySize: int = DEFAULT_HISTORY,
        noticeLimit: int = DEFAULT_NOTICE_LIMIT,
        roomLimit: int = DEFAULT_ROOM_LIMIT,
    ) -> None:
        """
        @param defaultRoom: the room participants join on registering.
        @param historySize: how many past messages a room keeps, 0 or more.
        @param noticeLimit: in rooms with more participants than this,
            C{JOIN}, C{PART}, C{NICK} and C{QUIT} notices go only to the
            participant concerned; 0 for no limit.
        @param roomLimit: the most rooms one participant may be in at once;
            0 for no limit.
        @raise ValueError: for an invalid room name or a negative size.
        """
        if not isValidRoom(defaultRoom):
            raise ValueError(f"{defaultRoom!r} is not a room name")
        if historySize < 0:
            raise ValueError("historySize cannot be negative")
        self.defaultRoom = defaultRoom
        self.historySize = historySize
        self.noticeLimit = noticeLimit
        self.roomLimit = roomLimit
        self._members: dict[IChatParticipant, _Member] = {}
        self._nicks: dict[str, _Member] = {}
        self._rooms: dict[str, _Room] = {}
        self._room(defaultRoom)
        self._claiming: dict[IChatParticipant, str] = {}
        # With a bus: each participant's last claim not answered yet.
        self._claimsInFlight: dict[IChatParticipant, Deferred[None]] = {}
        self.bus: Any = None
        """
        The L{netlab.chat._bus.ChatBus} that makes this hub one node of
        several, or C{None} (one process, as by default).
        """

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
        @return: the room the participant joined last of those it is in,
            or C{None}.
        """
        member = self._members.get(participant)
        room = member.room if member else None
        return room.name if room else None

    def roomsOf(self, participant: IChatParticipant) -> list[str]:
        """
        @return: the rooms the participant is in, in the order it joined
            them.
        """
        member = self._members.get(participant)
        return [room.name for room in member.rooms.values()] if member else []

    def who(self, participant: IChatParticipant, room: str | None = None) -> list[str]:
        """
        @param room: the room to list, which the participant need not be
            in; its own room (see L{roomOf}) if C{None}.
        @return: the nicknames in the room, sorted case-insensitively.
        @raise ChatError: C{not-in-room} (no room named, and it is in
            none), or C{no-such-room}.
        """
        member = self._member(participant)
        if room is None:
            found = member.room
            if found is None:
                raise ChatError("not-in-room", "you are in no room; /join one")
        else:
            found = self._rooms.get(room.casefold())
            if found is None:
                raise ChatError("no-such-room", f"there is no room {room!r}")
        return sorted((m.nick for m in found.members.values()), key=str.casefold)

    def hasRoom(self, room: str) -> bool:
        """
        @return: whether a room called C{room} (regardless of case) exists.
        """
        return room.casefold() in self._rooms

    def inRoom(self, participant: IChatParticipant, room: str) -> str | None:
        """
        @return: the name of the room called C{room} (regardless of case)
            if the participant is in it, or C{None}.
        """
        member = self._members.get(participant)
        found = member.rooms.get(room.casefold()) if member else None
        return found.name if found else None

    def whois(self, nick: str) -> tuple[str, list[str]] | None:
        """
        @return: the nickname as registered (matched regardless of case)
            and the rooms its participant is in, or C{None} if nobody has
            it.
        """
        member = self._nicks.get(normalizeNick(nick))
        if member is None:
            return None
        return member.nick, [room.name for room in member.rooms.values()]

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

    def register(
        self, participant: IChatParticipant, nick: str, joinDefault: bool = True
    ) -> None:
        """
        Take a participant in under a nickname, and put it in the default
        room (it hears the room's history and its own C{JOIN}).

        @param joinDefault: whether it joins the default room; an IRC user
            joins the rooms it wants.
        @raise ChatError: C{nick-invalid}, C{nick-taken}, or C{registered} if
            it already is.
        """
        if participant in self._members:
            raise ChatError("registered", "you already have a nickname; use /nick")
        self.checkNick(nick)
        member = _Member(participant, nick)
        self._members[participant] = member
        self._nicks[normalizeNick(nick)] = member
        if self._publishes(participant):
            self.bus.publish("reg", self._entry(member), nick=nick)
        if joinDefault:
            self.join(participant, self.defaultRoom)

    def rename(self, participant: IChatParticipant, nick: str) -> None:
        """
        Change a participant's nickname; everyone who shares a room with
        it, and the participant itself, hear C{NICK old new}, once each.

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
        if self._publishes(participant):
            self.bus.publish(
                "nick",
                self._entry(member),
                normalizeNick(event.old),
                nick=event.old,
                new=nick,
            )
        self._notifyRooms(member, event, participant)

    def join(
        self, participant: IChatParticipant, name: str, leaveOthers: bool = True
    ) -> None:
        """
        Put a participant in a room, creating it if need be: it hears the
        room's history, and the room (itself included) hears C{JOIN}.

        @param leaveOthers: whether it first leaves every other room it is
            in (each hears C{PART}, with the reason C{joined ROOM}): the
            line protocol's one room at a time.  If C{False}, it stays in
            them, as on IRC.  Either way, joining a room it is in changes
            nothing there.
        @raise ChatError: C{room-invalid}; with a bus, C{bus-unavailable}
            while too much waits for Redis (the bus's C{mayKeep}).
        """
        member = self._member(participant)
        if self._publishes(participant):
            self.bus.mayKeep()
        if not isValidRoom(name):
            raise ChatError(
                "room-invalid",
                f"{name!r} is not a room name: # and up to 31 letters, digits, _ or -",
            )
        key = name.casefold()
        if (
            not leaveOthers
            and self._publishes(participant, True)
            and self.roomLimit
            and key not in member.rooms
            and len(member.rooms) >= self.roomLimit
        ):
            raise ChatError(
                "too-many-rooms",
                f"you may be in {self.roomLimit} rooms at most; part one first",
            )
        room = self._room(name)
        if leaveOthers:
            for other in list(member.rooms.values()):
                if other is not room and member.rooms.get(other.key) is other:
                    self._leave(
                        member,
                        other,
                        Parted(other.name, member.nick, f"joined {room.name}"),
                    )
        if member.rooms.get(room.key) is room:
            return
        # Deliveries may end in the participant quitting: check after each.
        if self._members.get(participant) is member:
            for event, line in room.history:
                participant.deliver(event, line)
        if self._members.get(participant) is not member:
            self._forgetIfEmpty(room)
            return
        room.members[participant] = member
        member.rooms[room.key] = room
        if self._publishes(participant):
            self.bus.publish(
                "join",
                self._entry(member),
                nick=member.nick,
                room=room.name,
                leave="1" if leaveOthers else "0",
            )
        self._notify(room, Joined(room.name, member.nick), participant)

    def part(
        self, participant: IChatParticipant, reason: str = "", room: str | None = None
    ) -> None:
        """
        Take a participant out of a room, which (itself included) hears
        C{PART}.

        @param room: the room to leave; its own room (see L{roomOf}) if
            C{None}.
        @raise ChatError: C{not-in-room}; with a bus, C{bus-unavailable}
            while too much waits for Redis.
        """
        member = self._member(participant)
        found = self._roomOfMember(member, room)
        if self._publishes(participant):
            self.bus.mayKeep()
        self._leave(member, found, Parted(found.name, member.nick, reason))
        if self._publishes(participant) and self._members.get(participant) is member:
            self.bus.publish(
                "part",
                self._entry(member),
                nick=member.nick,
                room=found.name,
                reason=reason,
            )

    def say(
        self,
        participant: IChatParticipant,
        text: str,
        action: bool = False,
        room: str | None = None,
    ) -> None:
        """
        Say something in a room the participant is in: everyone else there
        hears C{MSG} (or C{ACT} for an action), and it joins the room's
        history.

        @param room: the room; its own room (see L{roomOf}) if C{None}.
        @raise ChatError: C{not-in-room}.
        """
        member = self._member(participant)
        found = self._roomOfMember(member, room)
        if self._publishes(participant):
            # Heard, by everyone, when it comes back from the bus: one order.
            self.bus.publish(
                "say",
                None,
                sender=participant,
                nick=member.nick,
                room=found.name,
                text=text,
                act="1" if action else "0",
            )
            return
        self._said(found, participant, member.nick, text, action)

    def _said(
        self,
        room: _Room,
        sender: IChatParticipant | None,
        nick: str,
        text: str,
        action: bool,
    ) -> None:
        event = (Action if action else RoomMessage)(room.name, nick, text)
        line = formatLine(event)
        # A snapshot: a delivery may end in a participant leaving.
        for other in tuple(room.members):
            if other is not sender:
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
        if self._publishes(participant) and self.bus.isRemote(recipient.participant):
            self.bus.publish(
                "priv", None, nick=member.nick, to=recipient.nick, text=text
            )
            return recipient.nick
        event = PrivateMessage(member.nick, recipient.nick, text)
        recipient.participant.deliver(event, formatLine(event))
        return recipient.nick

    def quit(self, participant: IChatParticipant, reason: str = "") -> None:
        """
        Let a participant go (it quit, or its connection was lost):
        everyone who shared a room with it hears C{QUIT}, once, and its
        nickname is free again.  Does nothing for a participant that never
        registered.
        """
        self._claiming.pop(participant, None)
        self._claimsInFlight.pop(participant, None)
        member = self._members.pop(participant, None)
        if member is None:
            return
        del self._nicks[normalizeNick(member.nick)]
        if self._publishes(participant):
            self.bus.publish(
                "quit",
                None,
                normalizeNick(member.nick),
                nick=member.nick,
                reason=reason,
            )
        rooms = list(member.rooms.values())
        for room in rooms:
            room.members.pop(participant, None)
        self._notifyRooms(member, Quit(member.nick, reason), None)
        member.rooms.clear()
        for room in rooms:
            self._forgetIfEmpty(room)

    # With a bus: what may wait for the other nodes, and what they say

    def claimNick(self, participant: IChatParticipant, nick: str) -> Deferred[None]:
        """
        Check that C{participant} may take C{nick} (to L{register} or
        L{rename} with it next), and, with a bus, claim it on every node
        first.  Without a bus the Deferred has fired when this returns, so
        a participant that goes on in its callback behaves as it did
        before there were buses.

        With a bus, a participant's claims are made one at a time, in the
        order they were asked for: a second C{/nick} sent before the first
        was answered is claimed once the first's Deferred (and what its
        caller added to it) has run, so its callers see each answer in
        order and act on the state the one before left.

        @return: fires once C{nick} is its to take, or fails with
            L{ChatError} (C{nick-invalid}, C{nick-taken}, or
            C{bus-unavailable}); fails with C{gone} if the participant
            quit meanwhile.
        """
        previous = self._claimsInFlight.get(participant)
        if previous is None:
            claimed = self._claimNow(participant, nick)
        else:
            claimed = Deferred()

            def next(result: object) -> object:
                if self._claimsInFlight.get(participant) is None:
                    claimed.errback(
                        ChatError("gone", "you left before your nickname was claimed")
                    )
                else:
                    self._claimNow(participant, nick).chainDeferred(claimed)
                return result

            previous.addBoth(next)
        if claimed.called:
            return claimed
        self._claimsInFlight[participant] = claimed

        def finished(result: object) -> object:
            if self._claimsInFlight.get(participant) is claimed:
                del self._claimsInFlight[participant]
            return result

        return claimed.addBoth(finished)

    def _claimNow(self, participant: IChatParticipant, nick: str) -> Deferred[None]:
        member = self._members.get(participant)
        try:
            if member is not None and normalizeNick(nick) == normalizeNick(member.nick):
                if not isValidNick(nick):
                    self.checkNick(nick)
                return succeed(None)
            self.checkNick(nick)
            if not self._publishes(participant):
                return succeed(None)
            claimed: Deferred[bool] = self.bus.claim(nick)
        except ChatError as e:
            return fail(e)
        self._claiming[participant] = nick

        def done(free: bool) -> None:
            if self._claiming.pop(participant, None) != nick:
                if free:
                    self.bus.release(nick)
                raise ChatError("gone", "you left before your nickname was claimed")
            if not free or normalizeNick(nick) in self._nicks:
                if free:
                    # Held here by a user of a node just lost, whose claim
                    # that node's loss freed: the claim is not kept.
                    self.bus.release(nick)
                raise ChatError("nick-taken", f"{nick} is taken; choose another")

        return claimed.addCallback(done)  # type: ignore[return-value]

    def deliverSaid(
        self,
        room: str,
        nick: str,
        text: str,
        action: bool,
        sender: IChatParticipant | None = None,
    ) -> None:
        """
        A line said in C{room} by C{nick}, as the bus gives it back: its
        members here hear it (all but its sender), and it joins the room's
        history.

        @param sender: the participant of this node who said it, if one
            did (found by the entry, not by its nickname: the sender may
            have renamed since, and another taken its old name).
        """
        found = self._rooms.get(room.casefold())
        if found is None:
            return
        self._said(found, sender, nick, text, action)

    def deliverPrivate(self, sender: str, nick: str, text: str) -> None:
        """
        A private message from another node: C{nick} hears it if it is
        here.
        """
        recipient = self._nicks.get(normalizeNick(nick))
        if recipient is None or self.bus.isRemote(recipient.participant):
            return
        event = PrivateMessage(sender, recipient.nick, text)
        recipient.participant.deliver(event, formatLine(event))

    def remember(self, room: str, nick: str, text: str, action: bool) -> None:
        """
        Add a past line to C{room}'s history, if the room exists (a node
        starting reads them from the bus).
        """
        found = self._rooms.get(room.casefold())
        if found is not None and self.historySize:
            event = (Action if action else RoomMessage)(found.name, nick, text)
            found.history.append((History(event), b"HIST " + formatLine(event)))

    def _publishes(self, participant: IChatParticipant, orNoBus: bool = False) -> bool:
        """
        @return: whether a change of C{participant} goes on the bus (there
            is one, and it is a user of this node); with C{orNoBus}, also
            C{True} without a bus.
        """
        if self.bus is None:
            return orNoBus
        return not self.bus.isRemote(participant)

    def _entry(self, member: _Member) -> tuple[str, str]:
        rooms = " ".join(room.name for room in member.rooms.values())
        return normalizeNick(
            member.nick
        ), f"{self.bus.node}\x1f{member.nick}\x1f{rooms}"

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

    def _roomOfMember(self, member: _Member, name: str | None) -> _Room:
        """
        @return: the room called C{name} that C{member} is in, or the one
            it joined last if C{name} is C{None}.
        @raise ChatError: C{not-in-room}.
        """
        if name is None:
            room = member.room
            if room is None:
                raise ChatError("not-in-room", "you are in no room; /join one first")
            return room
        room = member.rooms.get(name.casefold())
        if room is None:
            raise ChatError("not-in-room", f"you are not in {name}")
        return room

    def _room(self, name: str) -> _Room:
        key = name.casefold()
        room = self._rooms.get(key)
        if room is None:
            room = self._rooms[key] = _Room(name, deque(maxlen=self.historySize))
        return room

    def _leave(self, member: _Member, room: _Room, event: Parted) -> None:
        self._notify(room, event, member.participant)
        # The participant may have quit while hearing its own PART.
        room.members.pop(member.participant, None)
        if member.rooms.get(room.key) is room:
            del member.rooms[room.key]
        self._forgetIfEmpty(room)

    def _forgetIfEmpty(self, room: _Room) -> None:
        if not room.members and room.name != self.defaultRoom:
            if self._rooms.get(room.key) is room:
                del self._rooms[room.key]

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

    def _notifyRooms(
        self, member: _Member, event: ChatEvent, subject: IChatParticipant | None
    ) -> None:
        """
        Tell everyone who shares a room with C{member} about its C{event},
        once each, following each room's notice limit, and C{subject} (the
        member itself, or C{None} once it has gone) in any case.
        """
        line = formatLine(event)
        recipients: dict[IChatParticipant, None] = {}
        for room in member.rooms.values():
            if not (self.noticeLimit and len(room.members) > self.noticeLimit):
                recipients.update(dict.fromkeys(room.members))
        if subject is not None:
            recipients[subject] = None
        for participant in recipients:
            participant.deliver(event, line)
