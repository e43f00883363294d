"""
Chat over IRC: one L{IRCProtocol} per connection, a participant of the
L{ChatHub} beside the line protocol's, so that irssi, WeeChat or ii users
and C{nc} users share rooms, nicknames and private messages.

It is the line protocol's L{ChatProtocol} with IRC for a wire format: the
same limits (line rate, backlog, registration and idle timeouts), the same
batched output and the same drain, with IRC's commands and numerics in
place of the line protocol's.  Twisted's C{twisted.words.protocols.irc.IRC}
is not its base: it decodes each chunk of bytes strictly and drops a
connection whose chunk splits a character, and it looks the server's own
name up in the DNS, blocking, for each connection.

What it supports: registration (C{NICK}, C{USER}, C{CAP LS}/C{END} with no
capabilities, C{PASS} ignored), several channels at once, C{JOIN},
C{PART}, C{PRIVMSG} and C{NOTICE} to channels and nicknames (CTCP
C{ACTION} both ways), C{NICK}, C{NAMES}, C{WHO}, C{WHOIS}, C{LIST},
C{TOPIC} (there are none), C{MODE} (there are none either), C{PING} and
C{PONG} both ways, C{USERHOST}, C{ISON}, C{AWAY} and C{QUIT}.  No channel
operators, modes, topics, bans or services.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from netlab._lines import LineBuffer
from netlab._version import __version__
from netlab.chat._hub import ChatHub
from netlab.chat._ircwire import (
    MAX_LINE,
    decodeLine,
    formatMessage,
    parseMessage,
    splitText,
    unwrapAction,
    wrapAction,
)
from netlab.chat._participant import OutputBatch
from netlab.chat._server import ChatFactory, ChatLimits, ChatProtocol
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
    RoomMessage,
    cleanIRCText,
)
from netlab.errors import ChatError
from netlab.policies import TrafficStats

__all__ = [
    "DEFAULT_PING_INTERVAL",
    "SERVER_NAME",
    "IRCFactory",
    "IRCProtocol",
    "ircRefusalLine",
]

DEFAULT_PING_INTERVAL = 90.0
"""
Seconds between the server's C{PING}s to a quiet client; a client silent
for twice this is disconnected.
"""

SERVER_NAME = "netlab"
"""
The server's name in IRC: the prefix of its numerics, and the host of
every user's prefix (C{nick!nick@netlab}), so that no peer's address is
ever shown.
"""

NICKLEN = 16
CHANNELLEN = 32

_MOTD = (
    "- Welcome to netlab chat, over IRC.",
    "- IRC users and line-protocol users (nc, netlab chat) share the rooms.",
    "- Nicknames: a letter or _, then up to 15 letters, digits, _ or -.",
    "- Rooms: # and up to 31 letters, digits, _ or -.",
)

# The hub's refusal codes, as IRC numerics.
_NO_SUCH_NICK = "401"
_NO_SUCH_CHANNEL = "403"
_CANNOT_SEND = "404"
_NO_RECIPIENT = "411"
_NO_TEXT = "412"
_INPUT_TOO_LONG = "417"
_UNKNOWN_COMMAND = "421"
_NO_NICK_GIVEN = "431"
_ERRONEOUS_NICK = "432"
_NICK_IN_USE = "433"
_NOT_ON_CHANNEL = "442"
_NOT_REGISTERED = "451"
_NEED_MORE_PARAMS = "461"
_ALREADY_REGISTERED = "462"
_NOT_OPERATOR = "482"
_USERS_DONT_MATCH = "502"


def ircRefusalLine(code: str, text: str) -> bytes:
    """
    What a connection refused by the guard (too many connections, or from
    one address) is told, in IRC: an C{ERROR} line, as IRC servers close
    connections.
    """
    return formatMessage("", "ERROR", f"Closing link: {text} ({code})")


def _prefix(nick: str) -> str:
    return f"{nick}!{nick}@{SERVER_NAME}"


class IRCProtocol(ChatProtocol):
    """
    One IRC connection: IRC commands into hub calls, and what the hub
    delivers into IRC messages.
    """

    __slots__ = (
        "_capPending",
        "_created",
        "_joining",
        "_lastHeard",
        "_pendingNick",
        "_pingCall",
        "_pingInterval",
        "_pinged",
        "_registered",
        "_user",
    )

    def __init__(
        self,
        hub: ChatHub,
        clock: IReactorTime,
        limits: ChatLimits,
        batch: OutputBatch[ChatProtocol] | None = None,
        forget: Callable[[ChatProtocol], object] | None = None,
        stats: TrafficStats | None = None,
        pingInterval: float = DEFAULT_PING_INTERVAL,
        created: str = "",
    ) -> None:
        """
        @param pingInterval: seconds of silence after which the client is
            sent a C{PING}; twice that, and it is disconnected; 0 for
            never.
        @param created: when the server started, for C{003}.
        @see: L{ChatProtocol.__init__} for the other parameters.
        """
        super().__init__(hub, clock, limits, batch, forget, stats)
        # IRC's own bound: 512 bytes, CR LF included.
        self._lineBuffer = LineBuffer(MAX_LINE - 1)
        self._pendingNick: str | None = None
        self._registered = False
        self._user = False
        self._capPending = False
        self._joining: list[History] | None = None
        self._pingInterval = pingInterval
        self._pingCall: IDelayedCall | None = None
        self._pinged = False
        self._lastHeard = clock.seconds()
        self._created = created

    # Connection

    def _greet(self) -> None:
        # IRC clients speak first; the server only starts the ping clock.
        if self._pingInterval:
            self._pingCall = self._clock.callLater(self._pingInterval, self._pingCheck)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._pingCall is not None and self._pingCall.active():
            self._pingCall.cancel()
        super().connectionLost(reason)

    def _pingCheck(self) -> None:
        """
        Ping a quiet client, and drop one silent for twice the interval.
        """
        self._pingCall = None
        if self._closing:
            return
        interval = self._pingInterval
        silent = self._clock.seconds() - self._lastHeard
        if silent >= 2 * interval:
            self._close(
                Error("*", "ping-timeout", f"Ping timeout: {silent:.0f} seconds")
            )
            return
        if silent >= interval:
            if not self._pinged:
                self._pinged = True
                self._queue(formatMessage("", "PING", SERVER_NAME, trailing=True))
            wait = 2 * interval - silent
        else:
            wait = interval - silent
        self._pingCall = self._clock.callLater(wait, self._pingCheck)

    def disconnect(self, reason: str) -> None:
        """
        Tell the client C{reason} and close (the drain, L{IDrainable}).
        """
        self._close(Error("*", "shutdown", reason))

    def _slowConsumerLine(self) -> bytes:
        return formatMessage(
            "", "ERROR", "Closing link: you did not read fast enough (backlog)"
        )

    # What the line protocol's machinery sends

    def _send(self, line: Any) -> None:
        """
        Send one of the line protocol's values, in IRC: a notice as a
        C{NOTICE}, and the errors that close a connection (timeouts, the
        drain) as a C{NOTICE} and then an C{ERROR} line.
        """
        if isinstance(line, Notice):
            self._notice(line.text)
        elif isinstance(line, Error):
            self._notice(line.text)
            self._queue(formatMessage("", "ERROR", f"Closing link: {line.text}"))
        else:
            self.deliver(line, b"")

    def _tooLong(self) -> None:
        self._numeric(_INPUT_TOO_LONG, f"Input line was too long (max {MAX_LINE})")

    def _me(self) -> str:
        return self._hub.nickOf(self) or self._pendingNick or "*"

    def _numeric(self, code: str, *params: str, trailing: bool = True) -> None:
        """
        Send a numeric reply to the client; its last parameter is written
        as a trailing one, as free text is, unless C{trailing} is false.
        """
        self._queue(
            formatMessage(SERVER_NAME, code, self._me(), *params, trailing=trailing)
        )

    def _notice(self, text: str) -> None:
        self._queue(
            formatMessage(SERVER_NAME, "NOTICE", self._me(), text, trailing=True)
        )

    def _messages(
        self, source: str, command: str, target: str, text: str, action: bool
    ) -> None:
        """
        Send C{text} to the client as C{command} (C{PRIVMSG} or C{NOTICE}),
        in as many messages as IRC's 512-byte line needs.
        """
        prefix = _prefix(source)
        overhead = len(formatMessage(prefix, command, target, ":")) - 1
        if action:
            overhead += len(wrapAction(""))
        for piece in splitText(text, MAX_LINE - overhead):
            said = wrapAction(piece) if action else piece
            self._queue(formatMessage(prefix, command, target, said, trailing=True))

    # Input

    def _handle(self, line: bytes | None) -> None:
        if line is None:
            self._tooLong()
            return
        self._lastHeard = self._clock.seconds()
        self._pinged = False
        message = parseMessage(decodeLine(line.rstrip(b"\r")))
        if message is None:
            return
        self._stats.messages += 1
        command, params = message.command, message.params
        if command not in ("PING", "PONG"):
            # A client's PONG is no sign of a person: it does not keep an
            # idle connection open.
            self._deadlines.touch()
        handler = getattr(self, f"irc_{command}", None)
        if handler is None:
            if self._registered:
                self._numeric(_UNKNOWN_COMMAND, command[:32], "Unknown command")
            else:
                self._numeric(_NOT_REGISTERED, "You have not registered")
            return
        if not self._registered and command not in _BEFORE_REGISTRATION:
            self._numeric(_NOT_REGISTERED, "You have not registered")
            return
        try:
            handler(params)
        except ChatError as e:
            self._refused(command, params, e)

    def _refused(self, command: str, params: tuple[str, ...], error: ChatError) -> None:
        """
        Answer a refusal of the hub with the numeric an IRC client expects.
        """
        target = params[0] if params else "*"
        if error.code == "nick-invalid":
            self._numeric(_ERRONEOUS_NICK, target, error.text)
        elif error.code == "nick-taken":
            self._numeric(_NICK_IN_USE, target, "Nickname is already in use")
        elif error.code == "no-such-nick":
            self._numeric(_NO_SUCH_NICK, target, "No such nick/channel")
        elif error.code == "room-invalid":
            self._numeric(_NO_SUCH_CHANNEL, target, error.text)
        elif error.code == "too-many-rooms":
            self._numeric("405", target, "You have joined too many channels")
        elif error.code == "not-in-room":
            code = _CANNOT_SEND if command in ("PRIVMSG", "NOTICE") else _NOT_ON_CHANNEL
            self._numeric(code, target, "You're not on that channel")
        else:
            self._notice(f"{command}: {error.text}")

    # Registration

    def irc_CAP(self, params: tuple[str, ...]) -> None:
        sub = params[0].upper() if params else ""
        if sub == "LS":
            if not self._registered:
                self._capPending = True
            self._queue(formatMessage(SERVER_NAME, "CAP", self._me(), "LS", ""))
        elif sub == "LIST":
            self._queue(formatMessage(SERVER_NAME, "CAP", self._me(), "LIST", ""))
        elif sub == "REQ":
            asked = params[1] if len(params) > 1 else ""
            self._queue(
                formatMessage(
                    SERVER_NAME, "CAP", self._me(), "NAK", asked, trailing=True
                )
            )
        elif sub == "END":
            self._capPending = False
            self._tryRegistering()
        else:
            self._numeric("410", sub or "*", "Invalid CAP command")

    def irc_PASS(self, params: tuple[str, ...]) -> None:
        """
        Passwords are not used: ignored.
        """

    def irc_USER(self, params: tuple[str, ...]) -> None:
        if self._registered:
            self._numeric(_ALREADY_REGISTERED, "You may not reregister")
            return
        if len(params) < 4:
            self._numeric(_NEED_MORE_PARAMS, "USER", "Not enough parameters")
            return
        self._user = True
        self._tryRegistering()

    def irc_NICK(self, params: tuple[str, ...]) -> None:
        if not params or not params[0]:
            self._numeric(_NO_NICK_GIVEN, "No nickname given")
            return
        nick = params[0]
        if self._registered:
            claimed = self._hub.claimNick(self, nick)
            claimed.addCallback(lambda _: self._hub.rename(self, nick))
            claimed.addErrback(self._refusedLater, "NICK", (nick,))
            self._pacer.waitFor(claimed)
            return
        self._hub.checkNick(nick)
        self._pendingNick = nick
        self._tryRegistering()

    def _refusedLater(
        self, failure: Failure, command: str, params: tuple[str, ...]
    ) -> None:
        """
        L{_refused}, for what the hub refused after asking the other nodes.
        """
        failure.trap(ChatError)
        error = failure.value
        assert isinstance(error, ChatError)
        if error.code != "gone":
            self._refused(command, params, error)

    def _tryRegistering(self) -> None:
        nick = self._pendingNick
        if self._registered or self._capPending or not self._user or nick is None:
            return
        self._pendingNick = None
        claimed = self._hub.claimNick(self, nick)
        # With a bus, a NICK sent meanwhile waits for this claim: it renames
        # once this one has registered.
        claimed.addCallback(
            lambda _: (
                self._hub.rename(self, nick)
                if self._registered
                else self._register(nick)
            )
        )
        # Taken since NICK: the client must choose again.
        claimed.addErrback(self._refusedLater, "NICK", (nick,))
        # What the client sends meanwhile (JOIN, often) waits for it.
        self._pacer.waitFor(claimed)

    def _register(self, nick: str) -> None:
        self._hub.register(self, nick, joinDefault=False)
        self._registered = True
        self._deadlines.registered()
        self._welcome(nick)

    def _welcome(self, nick: str) -> None:
        version = f"netlab-{__version__}"
        self._numeric("001", f"Welcome to the netlab IRC network, {_prefix(nick)}")
        self._numeric("002", f"Your host is {SERVER_NAME}, running version {version}")
        self._numeric("003", f"This server was created {self._created}".rstrip())
        self._numeric("004", SERVER_NAME, version, "i", "nt", trailing=False)
        self._numeric(
            "005",
            "CHANTYPES=#",
            f"NICKLEN={NICKLEN}",
            f"CHANNELLEN={CHANNELLEN}",
            "CASEMAPPING=ascii",
            "NETWORK=netlab",
            "PREFIX=()",
            "CHANMODES=,,,",
            f"CHANLIMIT=#:{self._hub.roomLimit or ''}",
            f"MAXTARGETS={_MAX_TARGETS}",
            f"TARGMAX=PRIVMSG:{_MAX_TARGETS},NOTICE:{_MAX_TARGETS},"
            f"NAMES:{_MAX_TARGETS},WHOIS:{_MAX_TARGETS}",
            "are supported by this server",
        )
        self._numeric("375", f"- {SERVER_NAME} Message of the day -")
        for text in _MOTD:
            self._numeric("372", text)
        self._numeric("376", "End of /MOTD command.")

    # Channels

    def irc_JOIN(self, params: tuple[str, ...]) -> None:
        if not params:
            self._numeric(_NEED_MORE_PARAMS, "JOIN", "Not enough parameters")
            return
        if params[0] == "0":
            for room in self._hub.roomsOf(self):
                self._hub.part(self, "", room)
            return
        for room in _targets(params[0]):
            try:
                self._join(room)
            except ChatError as e:
                self._refused("JOIN", (room,), e)

    def _join(self, room: str) -> None:
        if self._hub.inRoom(self, room) is not None:
            return
        self._joining = []
        try:
            self._hub.join(self, room, leaveOthers=False)
        finally:
            history, self._joining = self._joining, None
        if self._isLost or self._hub.nickOf(self) is None:
            return
        name = self._hub.inRoom(self, room) or room
        self._numeric("331", name, "No topic is set")
        self._names(name)
        if history:
            # In the room's window, where a client shows the history.
            self._roomNotice(name, f"-- history of {name} --")
            for entry in history:
                self._deliverEvent(entry.event)
            self._roomNotice(name, "-- end of history --")

    def _roomNotice(self, room: str, text: str) -> None:
        self._queue(formatMessage(SERVER_NAME, "NOTICE", room, text, trailing=True))

    def irc_PART(self, params: tuple[str, ...]) -> None:
        if not params:
            self._numeric(_NEED_MORE_PARAMS, "PART", "Not enough parameters")
            return
        reason = params[1] if len(params) > 1 else ""
        for room in _targets(params[0]):
            try:
                self._hub.part(self, cleanIRCText(reason), room)
            except ChatError as e:
                self._refused("PART", (room,), e)

    def irc_NAMES(self, params: tuple[str, ...]) -> None:
        if not params:
            for room in self._hub.roomsOf(self):
                self._names(room, end=False)
            self._numeric("366", "*", "End of /NAMES list")
            return
        for room in _targets(params[0])[:_MAX_TARGETS]:
            self._names(room)

    def _names(self, room: str, end: bool = True) -> None:
        try:
            nicks = self._hub.who(self, room)
        except ChatError:
            nicks = []
        me = self._me()
        line = f":{SERVER_NAME} 353 {me} = {room} :"
        budget = MAX_LINE - len(line.encode()) - 2
        batch: list[str] = []
        length = -1  # of " ".join(batch): the nicknames are ASCII
        for nick in nicks:
            if batch and length + 1 + len(nick) > budget:
                self._numeric("353", "=", room, " ".join(batch))
                batch, length = [], -1
            batch.append(nick)
            length += 1 + len(nick)
        if batch:
            self._numeric("353", "=", room, " ".join(batch))
        if end:
            self._numeric("366", room, "End of /NAMES list")

    def irc_LIST(self, params: tuple[str, ...]) -> None:
        wanted = {room.casefold() for room in _targets(params[0])} if params else None
        self._numeric("321", "Channel", "Users  Name")
        for room, count in self._hub.rooms():
            if wanted is None or room.casefold() in wanted:
                self._numeric("322", room, str(count), "")
        self._numeric("323", "End of /LIST")

    def irc_TOPIC(self, params: tuple[str, ...]) -> None:
        if not params:
            self._numeric(_NEED_MORE_PARAMS, "TOPIC", "Not enough parameters")
        elif len(params) == 1:
            self._numeric("331", params[0], "No topic is set")
        else:
            self._numeric(_NOT_OPERATOR, params[0], "Topics cannot be set on netlab")

    def irc_MODE(self, params: tuple[str, ...]) -> None:
        if not params:
            self._numeric(_NEED_MORE_PARAMS, "MODE", "Not enough parameters")
            return
        target = params[0]
        if target.startswith("#"):
            if not self._hub.hasRoom(target):
                self._numeric(_NO_SUCH_CHANNEL, target, "No such channel")
            elif len(params) > 1 and params[1].lstrip("+").startswith("b"):
                self._numeric("368", target, "End of channel ban list")
            elif len(params) == 1:
                self._numeric("324", target, "+", trailing=False)
            else:
                self._numeric(_NOT_OPERATOR, target, "Modes cannot be set on netlab")
        elif target.casefold() == self._me().casefold():
            self._numeric("221", "+", trailing=False)
        else:
            self._numeric(_USERS_DONT_MATCH, "Cannot change mode for other users")

    # Messages

    def irc_PRIVMSG(self, params: tuple[str, ...], notice: bool = False) -> None:
        command = "NOTICE" if notice else "PRIVMSG"
        if not params:
            if not notice:
                self._numeric(_NO_RECIPIENT, f"No recipient given ({command})")
            return
        if len(params) < 2 or not params[1]:
            if not notice:
                self._numeric(_NO_TEXT, "No text to send")
            return
        read = unwrapAction(params[1])
        if read is None:
            # CTCP requests and replies other than ACTION are not relayed.
            return
        action, text = read[0], cleanIRCText(read[1])
        targets = _targets(params[0])
        if len(targets) > _MAX_TARGETS and not notice:
            for extra in targets[_MAX_TARGETS:]:
                self._numeric("407", extra, "Too many targets")
        for target in targets[:_MAX_TARGETS]:
            try:
                if target.startswith("#"):
                    self._hub.say(self, text, action=action, room=target)
                elif action:
                    self._hub.tell(self, target, f"* {self._me()} {text}")
                else:
                    self._hub.tell(self, target, text)
            except ChatError as e:
                if not notice:
                    self._refused(command, (target,), e)

    def irc_NOTICE(self, params: tuple[str, ...]) -> None:
        # NOTICE never gets an automatic reply (RFC 2812, 3.3.2).
        self.irc_PRIVMSG(params, notice=True)

    # Queries

    def irc_WHO(self, params: tuple[str, ...]) -> None:
        mask = params[0] if params else "*"
        if mask.startswith("#"):
            try:
                nicks = self._hub.who(self, mask)
            except ChatError:
                nicks = []
            for nick in nicks:
                self._whoReply(mask, nick)
        else:
            found = self._hub.whois(mask)
            if found is not None:
                nick, rooms = found
                self._whoReply(rooms[-1] if rooms else "*", nick)
        self._numeric("315", mask, "End of /WHO list")

    def _whoReply(self, room: str, nick: str) -> None:
        self._numeric(
            "352", room, nick, SERVER_NAME, SERVER_NAME, nick, "H", f"0 {nick}"
        )

    def irc_WHOIS(self, params: tuple[str, ...]) -> None:
        if not params:
            self._numeric(_NO_NICK_GIVEN, "No nickname given")
            return
        # WHOIS [server] nick[,nick]
        for wanted in _targets(params[-1])[:_MAX_TARGETS]:
            found = self._hub.whois(wanted)
            if found is None:
                self._numeric(_NO_SUCH_NICK, wanted, "No such nick/channel")
            else:
                nick, rooms = found
                self._numeric("311", nick, nick, SERVER_NAME, "*", nick)
                if rooms:
                    self._numeric("319", nick, " ".join(rooms))
                self._numeric("312", nick, SERVER_NAME, "netlab chat")
            self._numeric("318", wanted, "End of /WHOIS list")

    def irc_USERHOST(self, params: tuple[str, ...]) -> None:
        replies = []
        for wanted in params[:5]:
            found = self._hub.whois(wanted)
            if found is not None:
                replies.append(f"{found[0]}=+{found[0]}@{SERVER_NAME}")
        self._numeric("302", " ".join(replies))

    def irc_ISON(self, params: tuple[str, ...]) -> None:
        online = []
        for wanted in " ".join(params).split():
            found = self._hub.whois(wanted)
            if found is not None:
                online.append(found[0])
        self._numeric("303", " ".join(online))

    def irc_AWAY(self, params: tuple[str, ...]) -> None:
        # Away messages are not kept; the client is told what it expects.
        if params and params[0]:
            self._numeric("306", "You have been marked as being away")
        else:
            self._numeric("305", "You are no longer marked as being away")

    # Connection upkeep

    def irc_PING(self, params: tuple[str, ...]) -> None:
        token = params[0] if params else SERVER_NAME
        self._queue(
            formatMessage(SERVER_NAME, "PONG", SERVER_NAME, token, trailing=True)
        )

    def irc_PONG(self, params: tuple[str, ...]) -> None:
        """
        The client is alive: nothing more to do (being heard is enough).
        """

    def irc_QUIT(self, params: tuple[str, ...]) -> None:
        reason = cleanIRCText(params[0]) if params else ""
        nick = self._me()
        self._hub.quit(self, reason)
        self._queue(
            formatMessage("", "ERROR", f"Closing link: {nick} (Quit: {reason})")
        )
        self._close(None)

    # IChatParticipant

    def deliver(self, event: object, line: bytes) -> None:
        """
        Queue what the hub says as IRC messages; a room's history, while
        the client joins it, is held until the C{JOIN} and C{NAMES}
        replies are sent, and then sent between two C{NOTICE}s, so that it
        does not read as live.
        """
        if isinstance(event, History):
            if self._joining is not None:
                self._joining.append(event)
                return
            event = event.event
        self._deliverEvent(event)

    def _deliverEvent(self, event: object) -> None:
        if isinstance(event, RoomMessage):
            self._messages(event.nick, "PRIVMSG", event.room, event.text, False)
        elif isinstance(event, Action):
            self._messages(event.nick, "PRIVMSG", event.room, event.text, True)
        elif isinstance(event, PrivateMessage):
            self._messages(event.sender, "PRIVMSG", event.recipient, event.text, False)
        elif isinstance(event, Joined):
            self._queue(formatMessage(_prefix(event.nick), "JOIN", event.room))
        elif isinstance(event, Parted):
            self._queue(
                formatMessage(
                    _prefix(event.nick), "PART", event.room, event.reason, trailing=True
                )
            )
        elif isinstance(event, NickChanged):
            self._queue(
                formatMessage(_prefix(event.old), "NICK", event.new, trailing=True)
            )
        elif isinstance(event, Quit):
            self._queue(
                formatMessage(_prefix(event.nick), "QUIT", event.reason, trailing=True)
            )
        elif isinstance(event, Notice):
            self._notice(event.text)


_MAX_TARGETS = 4
"""
The most targets of one C{PRIVMSG}, C{NOTICE}, C{NAMES} or C{WHOIS}.
"""

_BEFORE_REGISTRATION = frozenset(
    {"CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT"}
)


def _targets(text: str) -> list[str]:
    return [target for target in text.split(",") if target]


class IRCFactory(ChatFactory):
    """
    Builds L{IRCProtocol}s for a L{ChatHub}: serve it beside a
    L{ChatFactory} of the same hub (behind the same guard, as C{twistd
    netlab chat --irc} does with
    L{netlab.service.IServiceContext.addListeners}) for IRC users and
    line-protocol users to share the rooms.

    @ivar pingInterval: see L{IRCProtocol.__init__}.
    """

    def __init__(
        self,
        hub: ChatHub,
        clock: IReactorTime,
        limits: ChatLimits | None = None,
        stats: TrafficStats | None = None,
        pingInterval: float = DEFAULT_PING_INTERVAL,
    ) -> None:
        """
        @param pingInterval: see L{IRCProtocol.__init__}.
        @see: L{ChatFactory.__init__} for the other parameters.
        """
        super().__init__(hub, clock, limits, stats)
        self.pingInterval = pingInterval
        self._created = time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(clock.seconds())
        )

    def buildProtocol(self, addr: IAddress | None) -> IRCProtocol:
        protocol = IRCProtocol(
            self.hub,
            self.clock,
            self.limits,
            self._batch,
            self._connections.discard,
            self.stats,
            self.pingInterval,
            self._created,
        )
        protocol.factory = self
        self._connections.add(protocol)
        return protocol
