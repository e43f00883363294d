"""
Reference peer: the naive Twisted timestamp server in line mode, a
C{LineReceiver} that answers each line with C{[ctime] line}, on TCP port
PORT of 127.0.0.1.

Usage: C{python ts_naive.py PORT [--max-seconds N]}. It exits by itself
after C{--max-seconds} (600).
"""

from __future__ import annotations

import argparse
import time

from twisted.internet import reactor
from twisted.internet.protocol import ServerFactory
from twisted.protocols.basic import LineReceiver


class TimestampLine(LineReceiver):
    """
    Answer every line with C{[ctime] line}.
    """

    delimiter = b"\n"

    def lineReceived(self, line: bytes) -> None:
        self.sendLine(b"[%s] %s" % (time.ctime().encode("ascii"), line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    factory = ServerFactory()
    factory.protocol = TimestampLine
    reactor.listenTCP(args.port, factory, interface="127.0.0.1")
    reactor.callLater(args.max_seconds, reactor.stop)
    reactor.run()


if __name__ == "__main__":
    main()
