"""
Who is in the room a chat client is in, as far as the client has heard:
the nicknames that Tab completes, the most recently active first.
"""

from __future__ import annotations

from collections.abc import Iterable

from netlab.chat._client import SessionEvent
from netlab.chat._wire import (
    Action,
    Joined,
    NickChanged,
    Parted,
    Quit,
    RoomMessage,
    normalizeNick,
)

__all__ = ["Roster"]


class Roster:
    """
    The people in one room, kept from the events a session hears (joins,
    departures, renames, messages) and from the answer to C{/who}.

    @ivar room: the room, or C{None} outside any.
    """

    def __init__(self) -> None:
        self.room: str | None = None
        # By normalized nickname: the nickname, and when it last spoke.
        self._people: dict[str, tuple[str, int]] = {}
        self._spoken = 0

    @property
    def nicks(self) -> list[str]:
        """
        The nicknames in the room, sorted.
        """
        return sorted((nick for nick, _ in self._people.values()), key=str.casefold)

    def reset(self, room: str | None, nicks: Iterable[str] = ()) -> None:
        """
        The client is in C{room} now (or none), with C{nicks}; what was
        known of who spoke last is kept for those still here.
        """
        if room != self.room:
            self._people = {}
        self.room = room
        people = {}
        for nick in nicks:
            key = normalizeNick(nick)
            people[key] = (nick, self._people.get(key, (nick, 0))[1])
        self._people = people

    def _add(self, nick: str, spoke: bool = False) -> None:
        key = normalizeNick(nick)
        when = self._people.get(key, (nick, 0))[1]
        if spoke:
            self._spoken += 1
            when = self._spoken
        self._people[key] = (nick, when)

    def heard(self, event: SessionEvent, me: str) -> None:
        """
        Keep up with an event the session heard.

        @param me: the session's nickname, as it is after the event.
        """
        mine = isinstance(event, (Joined, Parted)) and (
            normalizeNick(event.nick) == normalizeNick(me)
        )
        if isinstance(event, Joined):
            if mine:
                self.reset(event.room)
            elif event.room == self.room:
                self._add(event.nick)
        elif isinstance(event, Parted):
            if mine and event.room == self.room:
                self.reset(None)
            elif event.room == self.room:
                self._people.pop(normalizeNick(event.nick), None)
        elif isinstance(event, Quit):
            self._people.pop(normalizeNick(event.nick), None)
        elif isinstance(event, NickChanged):
            known = self._people.pop(normalizeNick(event.old), None)
            if known is not None:
                self._people[normalizeNick(event.new)] = (event.new, known[1])
        elif isinstance(event, (RoomMessage, Action)) and event.room == self.room:
            self._add(event.nick, spoke=True)

    def complete(self, prefix: str, me: str) -> list[str]:
        """
        @return: the nicknames in the room that start with C{prefix}
            (whatever its case), but C{me}: those who spoke most recently
            first, then the others in alphabetical order.
        """
        start = prefix.casefold()
        mine = normalizeNick(me)
        found = [
            (-when, nick.casefold(), nick)
            for key, (nick, when) in self._people.items()
            if key != mine and nick.casefold().startswith(start)
        ]
        return [nick for _, _, nick in sorted(found)]
