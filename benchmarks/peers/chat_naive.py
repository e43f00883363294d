"""
Reference peer: the classic naive Twisted chat, a C{LineReceiver} per client
and a dict of users. The first line (C{NAME} or C{/nick NAME}) names the
client; every later line goes to all the others as C{<name> line}. On TCP
port PORT of 127.0.0.1.

Usage: C{python chat_naive.py PORT [--max-seconds N]}. It exits by itself
after C{--max-seconds} (600).
"""

from __future__ import annotations

import argparse

from twisted.internet import reactor
from twisted.internet.protocol import ServerFactory
from twisted.protocols.basic import LineReceiver


class Chat(LineReceiver):
    """
    One chat client: named by its first line, then broadcasting.
    """

    delimiter = b"\n"

    def __init__(self, users: dict[bytes, Chat]) -> None:
        self.users = users
        self.name: bytes | None = None

    def connectionMade(self) -> None:
        self.sendLine(b"What's your name?")

    def connectionLost(self, reason: object = None) -> None:
        if self.name is not None and self.users.get(self.name) is self:
            del self.users[self.name]

    def lineReceived(self, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if self.name is None:
            self.handleName(line)
        else:
            self.handleChat(line)

    def handleName(self, line: bytes) -> None:
        name = line.removeprefix(b"/nick ").strip()
        if not name or name in self.users:
            self.sendLine(b"Name taken, please choose another.")
            return
        self.name = name
        self.users[name] = self
        self.sendLine(b"Welcome, %s!" % (name,))

    def handleChat(self, line: bytes) -> None:
        message = b"<%s> %s" % (self.name, line)
        for protocol in self.users.values():
            if protocol is not self:
                protocol.sendLine(message)


class ChatFactory(ServerFactory):
    """
    Holds the users of all clients.
    """

    def __init__(self) -> None:
        self.users: dict[bytes, Chat] = {}

    def buildProtocol(self, addr: object) -> Chat:
        return Chat(self.users)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    reactor.listenTCP(args.port, ChatFactory(), interface="127.0.0.1")
    reactor.callLater(args.max_seconds, reactor.stop)
    reactor.run()


if __name__ == "__main__":
    main()
