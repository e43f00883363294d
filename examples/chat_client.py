"""
A group chat client on netlab's client library: what others say in your
room is printed as it happens; each line you type is said to the room (or
is a command: /join #room, /who, /msg NICK TEXT, /me TEXT...).  /quit or
end of input leaves.  Standard input is read by the reactor, like the
connection to the server, so nothing blocks.

    python examples/chat_client.py NICK [HOST [PORT]]

The same from the command-line client:  netlab chat --nick NICK --host HOST
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.protocols.basic import LineReceiver
from zope.interface import implementer

from netlab.chat import (
    DEFAULT_PORT,
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
    connectChat,
)
from netlab.errors import NetlabError


def describe(event):
    """
    An event from the server (a frozen value of netlab.chat), for a person.
    """
    match event:
        case RoomMessage(room, nick, text):
            return f"[{room}] <{nick}> {text}"
        case Action(room, nick, text):
            return f"[{room}] * {nick} {text}"
        case PrivateMessage(sender, _, text):
            return f"<- {sender}: {text}"
        case History(past):
            return describe(past) + " (earlier)"
        case Joined(room, nick):
            return f"*** {nick} joined {room}"
        case Parted(room, nick, reason):
            return f"*** {nick} left {room} {reason}".rstrip()
        case NickChanged(old, new):
            return f"*** {old} is now {new}"
        case Quit(nick, reason):
            return f"*** {nick} quit {reason}".rstrip()
        case Notice(text):
            return f"*** {text}"
        case Error(_, code, text):
            return f"! {text} ({code})"
    return repr(event)  # a kind of event this client does not know


@implementer(IHalfCloseableProtocol)  # at end of input, leave cleanly
class Chat(LineReceiver):
    delimiter = b"\n"

    def __init__(self, session):
        self.session = session
        self.done = Deferred()
        self.leaving = False

    def connectionMade(self):
        self.session.addListener(self.show)
        # However the chat ends, close standard output once it is written.
        self.session.closed.addCallback(lambda _: self.transport.loseConnection())

    def show(self, event):
        self.transport.write(describe(event).encode() + b"\n")

    def lineReceived(self, line):
        text = line.rstrip(b"\r").decode(errors="replace")
        if text == "/quit" or text.startswith("/quit "):
            self.leave(text[len("/quit ") :])
        elif text and not self.leaving:
            try:
                reply = self.session.sendCommand(text)  # None for a plain line
            except (ValueError, NetlabError) as e:
                self.transport.write(f"! {e}\n".encode())
                return
            if reply is not None:  # a command: show its reply
                reply.addCallbacks(self.replied, self.refused)

    def replied(self, reply):
        self.transport.write(f"ok {reply.command} {' '.join(reply.values)}\n".encode())

    def refused(self, failure):
        self.transport.write(f"! {failure.value}\n".encode())

    def leave(self, reason=""):
        if not self.leaving:
            self.leaving = True
            self.session.quit(reason)  # then the session closes

    def readConnectionLost(self):
        self.leave()

    def writeConnectionLost(self):
        self.leave()

    def connectionLost(self, reason):
        self.leave()
        if not self.done.called:
            self.done.callback(None)


async def main(reactor, nick, host="localhost", port=str(DEFAULT_PORT)):
    endpoint = HostnameEndpoint(reactor, host, int(port))
    try:
        session = await connectChat(endpoint, nick, timeout=5, clock=reactor)
    except NetlabError as e:  # refused, timed out, nickname taken...
        raise SystemExit(f"chat_client: {e}") from None
    # Right after registering, before the room's history and our own JOIN.
    chat = Chat(session)
    StandardIO(chat, reactor=reactor)
    await chat.done
    await session.closed


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
