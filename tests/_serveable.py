"""
Things for C{twistd netlab serve} to serve in the tests, named as
C{tests._serveable:ATTRIBUTE}.
"""

from __future__ import annotations

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.protocols.wire import Echo


class Hello(Protocol):
    def connectionMade(self) -> None:
        self.transport.write(b"hello\r\n")


factory = Factory.forProtocol(Hello)


class Namespace:
    factory = factory


class HelloFactory(Factory):
    protocol = Hello


def makeFactory() -> Factory:
    return Factory.forProtocol(Echo)


def makeNothing() -> object:
    return 42


def makeTrouble() -> Factory:
    raise RuntimeError("no database")


notAFactory = "just a string"


class Shout(DatagramProtocol):
    def datagramReceived(self, datagram: bytes, addr: object) -> None:
        self.transport.write(datagram.upper(), addr)


shout = Shout()
