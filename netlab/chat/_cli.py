"""
C{netlab chat}: the interactive terminal chat client, built only on
L{netlab.chat._client}'s session API.

Lines typed are sent as they are typed: plain text is said in the current
room, and C{/join}, C{/part}, C{/who}, C{/rooms}, C{/msg}, C{/me}, C{/nick},
C{/quit} and C{/help} are commands; what others say and do is shown as it
happens, formatted for a person by L{formatForPerson}, private messages and
mentions of one's nickname emphasised (L{emphasisFor}).  Standard input and
output are driven by the reactor: on a terminal through
L{netlab._terminal.TerminalReader}, with an input line of its own whose
prompt names the room and Tab completing nicknames (from a
L{netlab.chat._roster.Roster}) and commands; otherwise, or with C{--plain},
line by line through L{netlab._stdin.LineReader}.  End of input (Ctrl-D)
quits, as C{/quit} does.  Registered in the entry point group
C{netlab.clients} as L{client}.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure
from zope.interface import implementer

from netlab._clientoptions import PLAIN_FLAG, ConnectionOptions, connectionParameters
from netlab._options import TLS_FLAGS, clientEndpoint
from netlab._stdin import (
    ConsoleFactory,
    Emphasis,
    IStdio,
    ITerminalHandler,
    LineReader,
)
from netlab._terminal import standardIO
from netlab.chat._client import (
    DEFAULT_TIMEOUT,
    MAX_RECEIVE_LENGTH,
    ChatSession,
    SessionEvent,
    connectChat,
)
from netlab.chat._roster import Roster
from netlab.chat._server import DEFAULT_PORT
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
    cleanText,
    isValidNick,
    normalizeNick,
    parseCommand,
)
from netlab.errors import ChatError, ConnectionClosed, NetlabError, ProtocolError
from netlab.service import NetlabClient

__all__ = [
    "ChatClientOptions",
    "ChatTerminal",
    "client",
    "emphasisFor",
    "formatForPerson",
    "mentions",
    "runChat",
]

_log = Logger()


class ChatClientOptions(ConnectionOptions):
    """
    C{netlab chat}: chat on a chat server, interactively.
    """

    synopsis = "[options] --nick NICK"
    longdesc = (
        "Connect to a chat server as NICK and chat: each line typed is said "
        "in the current room, or is a command (/join #room, /part, /who, "
        "/rooms, /msg NICK TEXT, /me TEXT, /nick NEW, /quit [REASON], /help; "
        "// starts a line that begins with a slash). What others say is "
        "shown as it happens. End of input (Ctrl-D) quits. On a terminal, "
        "what arrives scrolls above an input line of its own, with line "
        "editing, Up/Down through what was sent, and Tab completing "
        "nicknames and commands; --plain (or a pipe) reads and prints plain "
        "lines instead."
    )
    optParameters: list[list[Any]] = [
        ["nick", "n", None, "The nickname to chat under (required)."],
        *connectionParameters(DEFAULT_PORT, DEFAULT_TIMEOUT),
    ]

    optFlags: list[list[Any]] = [*TLS_FLAGS, PLAIN_FLAG]

    def postOptions(self) -> None:
        super().postOptions()
        nick = self["nick"]
        if nick is None:
            raise usage.UsageError("choose a nickname with --nick")
        if not isValidNick(nick):
            raise usage.UsageError(
                f"--nick {nick}: a nickname is a letter or _, then up to 15 "
                "letters, digits, _ or -"
            )


def formatForPerson(event: SessionEvent | Reply, me: str | None = None) -> str:
    """
    Write an event (or a command's reply) as one line for a person to read,
    without a line ending.  Every field is passed through L{cleanText}, so
    nothing in it can act on a terminal.

    @param event: what the server said.
    @param me: this client's nickname, to tell private messages sent from
        those received.
    @return: e.g. C{[#lobby] <alice> hi}, C{*** alice joined #lobby} or
        C{! nick-taken: that nickname is taken}.
    """
    if isinstance(event, RoomMessage):
        return cleanText(f"[{event.room}] <{event.nick}> {event.text}")
    if isinstance(event, Action):
        return cleanText(f"[{event.room}] * {event.nick} {event.text}")
    if isinstance(event, PrivateMessage):
        if me is not None and normalizeNick(event.sender) == normalizeNick(me):
            return cleanText(f"-> {event.recipient}: {event.text}")
        return cleanText(f"<- {event.sender}: {event.text}")
    if isinstance(event, Joined):
        return cleanText(f"*** {event.nick} joined {event.room}")
    if isinstance(event, Parted):
        reason = f" ({event.reason})" if event.reason else ""
        return cleanText(f"*** {event.nick} left {event.room}{reason}")
    if isinstance(event, NickChanged):
        return cleanText(f"*** {event.old} is now {event.new}")
    if isinstance(event, Quit):
        reason = f" ({event.reason})" if event.reason else ""
        return cleanText(f"*** {event.nick} quit{reason}")
    if isinstance(event, Notice):
        return cleanText(f"*** {event.text}")
    if isinstance(event, History):
        return "(earlier) " + formatForPerson(event.event, me)
    if isinstance(event, Error):
        return cleanText(f"! {event.code}: {event.text}")
    values = " ".join(event.values) or "ok"
    return cleanText(f"*** {event.command}: {values}")


def mentions(text: str, nick: str) -> bool:
    """
    @return: whether C{text} mentions C{nick}, as a word of its own (not
        part of a longer nickname), whatever its case.
    """
    pattern = rf"(?<![A-Za-z0-9_-]){re.escape(nick)}(?![A-Za-z0-9_-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def emphasisFor(event: SessionEvent | Reply, me: str) -> Emphasis:
    """
    @param me: this client's nickname.
    @return: how much an event should stand out: a private message
        received is L{Emphasis.DIRECT}; a message or action of someone
        else's that mentions C{me} (see L{mentions}), history included, is
        L{Emphasis.HIGHLIGHT}; the rest, none.
    """
    if isinstance(event, History):
        event = event.event
    if isinstance(event, PrivateMessage):
        if normalizeNick(event.sender) != normalizeNick(me):
            return Emphasis.DIRECT
    elif isinstance(event, (RoomMessage, Action)):
        if normalizeNick(event.nick) != normalizeNick(me) and mentions(event.text, me):
            return Emphasis.HIGHLIGHT
    return Emphasis.NONE


def _formatFailure(failure: Failure) -> str:
    reason = failure.value
    if isinstance(reason, ChatError):
        return cleanText(f"! {reason.code}: {reason.text}")
    if isinstance(reason, NetlabError):
        return cleanText(f"! {reason}")
    return cleanText(f"! {reason!r}")


_HELP = (
    "*** plain text is said in the current room; // starts a line with a /",
    "*** /join #room, /part [reason], /who, /rooms, /msg NICK TEXT, /me TEXT,",
    "*** /nick NEW, /quit [reason], /help (the server's help)",
)

_KEYS_HELP = (
    "*** keys: Tab completes nicknames and commands, Up/Down go through what",
    "*** you sent, Ctrl-A/E/U/W/K/Y edit, Ctrl-D (on an empty line) leaves,",
    "*** Ctrl-C leaves at once",
)


@implementer(ITerminalHandler)
class ChatTerminal:
    """
    A person's terminal, over standard input and output, for a
    L{ChatSession}: each line typed becomes a command or something said,
    and every event and reply is printed, private messages and mentions
    emphasised where the console can show it (see L{emphasisFor}).

    It listens to the session from when it is made, so it can be made
    right after the session registers without missing the first events;
    what it prints before its reader is connected to the terminal is held
    until then.

    End of input quits, as C{/quit} does, but output goes on until the
    session has closed: with input from a pipe, the replies to the commands
    in it are all printed.

    On a console with an input line of its own, the prompt names the room
    and the nickname (C{[#lobby] alice> }), and Tab completes commands and
    the nicknames of the room (C{bob: } at the start of a line).

    @ivar reader: the console to connect to standard input and output.
    @ivar done: fires when the chat is over: after C{/quit}, or end of
        input (which quits); fails with L{ConnectionClosed} if the server
        closed the connection first.
    @ivar closed: fires when nothing more can be printed: the terminal is
        disconnected, or its output closed (the reader's C{closed}).
    """

    def __init__(
        self,
        session: ChatSession,
        makeConsole: ConsoleFactory = LineReader,
        trackRoom: bool = False,
    ) -> None:
        """
        @param makeConsole: makes the console (L{reader}).
        @param trackRoom: ask who is in each room joined (C{/who}), for
            completing nicknames; for a console with an input line.
        """
        self._session = session
        self._quitting = False
        self._trackRoom = trackRoom
        self._roster = Roster()
        self._roster.reset(session.room)
        self.reader = makeConsole(self, MAX_RECEIVE_LENGTH)
        self.done: Deferred[None] = Deferred()
        self.closed = self.reader.closed
        session.addListener(self._event)
        session.closed.addCallback(self._sessionClosed)
        self._commands: dict[str, Callable[[str], None]] = {
            "join": self._join,
            "part": self._part,
            "who": self._who,
            "rooms": self._rooms,
            "msg": self._msg,
            "me": self._me,
            "nick": self._nick,
            "quit": self._quit,
            "help": self._help,
        }

    # Output.

    def _print(self, text: str, emphasis: Emphasis = Emphasis.NONE) -> None:
        self.reader.writeLine(text, emphasis)

    def _event(self, event: SessionEvent) -> None:
        me = self._session.nick
        room = self._roster.room
        self._roster.heard(event, me)
        if self._trackRoom and self._roster.room not in (None, room):
            self._askWho(self._roster.room)
        self._print(formatForPerson(event, me), emphasisFor(event, me))

    def _askWho(self, room: str | None) -> None:
        """
        Ask who is in the room just joined, for completing nicknames; a
        failure is not the person's business.
        """

        def found(nicks: list[str]) -> None:
            if self._roster.room == room:
                self._roster.reset(room, nicks)

        def failed(failure: Failure) -> None:
            failure.trap(NetlabError)

        self._session.who().addCallbacks(found, failed)

    # What the input line shows and completes.

    def prompt(self) -> str:
        """
        @return: C{[#room] nick> }, or C{nick> } outside any room.
        """
        nick, room = self._session.nick, self._session.room
        return f"[{room}] {nick}> " if room else f"{nick}> "

    def completions(self, word: str, first: bool) -> Sequence[str]:
        """
        @return: for a first word with a slash, the commands it starts
            (C{/join }); otherwise the nicknames of the room it starts,
            followed by C{": "} at the start of a line and a space
            elsewhere.
        """
        if first and word.startswith("/"):
            name = word[1:].lower()
            return [
                f"/{each} " for each in sorted(self._commands) if each.startswith(name)
            ]
        suffix = ": " if first else " "
        return [
            nick + suffix for nick in self._roster.complete(word, self._session.nick)
        ]

    def _failed(self, failure: Failure) -> None:
        self._print(_formatFailure(failure))

    def _sessionClosed(self, result: object) -> None:
        if self._quitting:
            return
        self._session.removeListener(self._event)
        self._print("*** disconnected")
        if not self.done.called:
            self.done.errback(ConnectionClosed("the chat server closed the connection"))

    # Input.

    def lineReceived(self, line: bytes) -> None:
        if self._quitting or self.done.called:
            return
        if not line:
            return
        try:
            command = parseCommand(line)
        except ProtocolError:
            self._print("! that line is not UTF-8; it was not sent")
            return
        try:
            if command.name == "say":
                self._say(command.args)
                return
            handler = self._commands.get(command.name)
            if handler is None:
                self._other(line.decode("utf-8"))
            else:
                handler(command.args)
        except (ValueError, NetlabError) as e:
            self._print(cleanText(f"! {e}"))

    def lineTooLong(self) -> None:
        self._print("! that line is far too long; it was not sent")

    def _say(self, text: str) -> None:
        self._session.say(text)
        if self._session.room is not None:
            self._print(
                formatForPerson(
                    RoomMessage(self._session.room, self._session.nick, text)
                )
            )

    def _me(self, text: str) -> None:
        self._session.me(text)
        if self._session.room is not None:
            self._print(
                formatForPerson(Action(self._session.room, self._session.nick, text))
            )

    def _join(self, room: str) -> None:
        # The server's JOIN line shows it.
        self._session.join(room).addErrback(self._failed)

    def _part(self, reason: str) -> None:
        # The server's PART line shows it.
        self._session.part(reason).addErrback(self._failed)

    def _nick(self, nick: str) -> None:
        # The server's NICK line shows it.
        self._session.rename(nick).addErrback(self._failed)

    def _who(self, args: str) -> None:
        def show(nicks: list[str]) -> None:
            room = self._session.room or "?"
            self._print(cleanText(f"*** in {room}: {' '.join(nicks)}"))

        self._session.who().addCallbacks(show, self._failed)

    def _rooms(self, args: str) -> None:
        def show(rooms: list[tuple[str, int]]) -> None:
            listed = ", ".join(f"{room} ({count})" for room, count in rooms)
            self._print(cleanText(f"*** rooms: {listed or 'none'}"))

        self._session.rooms().addCallbacks(show, self._failed)

    def _msg(self, args: str) -> None:
        nick, _, text = args.partition(" ")
        if not nick or not text:
            self._print("! usage: /msg NICK TEXT")
            return

        def show(recipient: str) -> None:
            self._print(
                formatForPerson(
                    PrivateMessage(self._session.nick, recipient, text),
                    self._session.nick,
                )
            )

        self._session.tell(nick, text).addCallbacks(show, self._failed)

    def _help(self, args: str) -> None:
        for line in _HELP + (_KEYS_HELP if self._trackRoom else ()):
            self._print(line)
        self._other("/help")

    def _other(self, line: str) -> None:
        def show(reply: Reply) -> None:
            if reply.command != "help":
                self._print(formatForPerson(reply))

        d = self._session.sendCommand(line)
        if d is not None:
            d.addCallbacks(show, self._failed)

    def _quit(self, reason: str) -> None:
        self._quitting = True
        self._session.quit(reason).addBoth(self._finish)

    def _finish(self, result: object) -> None:
        if isinstance(result, Failure):
            _log.failure("quitting the chat failed", result)
        if not self.done.called:
            self.done.callback(None)

    def _ended(self) -> None:
        if not self._quitting and not self.done.called:
            self._quit("")

    def inputEnded(self) -> None:
        """
        End of input: quit, as C{/quit} does.
        """
        self._ended()

    def outputClosed(self) -> None:
        """
        Output was closed: nobody can see the chat any more, so quit.
        """
        self._ended()


async def runChat(reactor: Any, options: ChatClientOptions) -> int:
    """
    Run C{netlab chat}: connect, register, then chat over standard input
    and output until C{/quit} or end of input.

    @param reactor: the reactor, which also drives standard input.
    @param options: the parsed L{ChatClientOptions}.
    @return: the exit status, 0.
    @raise NetlabError: if connecting or registering failed (L{ChatError}
        for a refused nickname), or the server closed the connection.
    """
    session = await connectChat(
        clientEndpoint(reactor, options), options["nick"], options["timeout"], reactor
    )
    await _chatOn(session, standardIO(reactor, options["plain"]))
    return 0


async def _chatOn(session: ChatSession, stdio: IStdio) -> None:
    """
    Chat on a registered session through a terminal, until the chat is
    over and what was printed has been written out (and the terminal put
    back as it was); then close the session, whatever happened.

    @param stdio: standard input and output, which make and connect the
        L{ChatTerminal}'s console.
    """
    # Made at once, so it hears the history and the JOIN that follow.
    terminal = ChatTerminal(session, stdio.console, trackRoom=stdio.screen)
    terminal._print(
        cleanText(f"*** connected as {session.nick}; /help for help, /quit to leave")
    )
    transport = stdio.connect(terminal.reader)
    try:
        await terminal.done
    finally:
        # Wait until what was printed has been written out.
        transport.loseConnection()
        try:
            await terminal.closed
        finally:
            await session.close()


def _run(reactor: Any, options: usage.Options) -> Deferred[int]:
    return Deferred.fromCoroutine(runChat(reactor, cast(ChatClientOptions, options)))


client = NetlabClient("Chat on a netlab chat server.", ChatClientOptions, _run)
"""
C{netlab chat}, as the entry point C{netlab.clients} names it.
"""
