"""
An echo client on netlab's client library.  With a message, send it, print
its echo and exit; without one, the classic loop: a "> " prompt, each line
typed is sent and its echo printed; an empty line or end of input quits.
Standard input is read by the reactor, like any other connection, so
nothing blocks.

    python examples/echo_client.py [HOST [PORT [MESSAGE...]]]

The same from the command-line client:  netlab echo --host HOST [MESSAGE]
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.protocols.basic import LineReceiver
from zope.interface import implementer

from netlab.echo import DEFAULT_PORT, connectEcho, echo
from netlab.errors import NetlabError


@implementer(IHalfCloseableProtocol)  # at end of input, finish writing first
class Prompt(LineReceiver):
    delimiter = b"\n"

    def __init__(self, client):
        self.client = client
        self.done = Deferred()

    def connectionMade(self):
        self.transport.write(b"> ")

    def lineReceived(self, line):
        line = line.rstrip(b"\r")
        if not line:
            self.transport.loseConnection()
            return
        self.pauseProducing()  # one line at a time: read on once it is back
        self.client.request(line).addCallbacks(self.show, self.failed)

    def show(self, data):
        self.transport.write(data + b"\n> ")
        self.resumeProducing()

    def failed(self, failure):
        self.transport.loseConnection()
        if not self.done.called:
            self.done.errback(failure)

    def readConnectionLost(self):
        # End of input: close standard output once what is written is out.
        self.transport.loseConnection()

    def writeConnectionLost(self):
        pass

    def connectionLost(self, reason):
        if not self.done.called:
            self.done.callback(None)


async def main(reactor, host="localhost", port=str(DEFAULT_PORT), *message):
    endpoint = HostnameEndpoint(reactor, host, int(port))
    try:
        if message:  # one-shot: connect, send, wait for the echo, close
            data = await echo(endpoint, " ".join(message).encode(), timeout=5)
            print(data.decode(errors="replace"))
            return
        client = await connectEcho(endpoint, timeout=5)
    except NetlabError as e:  # refused, unreachable, timed out
        raise SystemExit(f"echo_client: {e}") from None
    prompt = Prompt(client)
    StandardIO(prompt, reactor=reactor)
    try:
        await prompt.done
    except NetlabError as e:
        raise SystemExit(f"echo_client: {e}") from None
    finally:
        await client.close()


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
