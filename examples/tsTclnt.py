"""
The classic timestamp client (tsTclnt) on netlab's client library: a "> "
prompt, each line typed is sent and its stamped reply printed; an empty
line or end of input quits.  Standard input is read by the reactor, like
any other connection, so nothing blocks.

    python examples/tsTclnt.py [HOST [PORT]]

The same from the command-line client:  netlab ts --host HOST
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.protocols.basic import LineReceiver

from netlab.errors import NetlabError
from netlab.timestamp import DEFAULT_PORT, connectTimestamp, formatStamp


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
        self.pauseProducing()  # one request at a time, like the classic
        self.client.request(line).addCallbacks(self.show, self.failed)

    def show(self, reply):
        stamped = formatStamp(reply.when, reply.data, reply.format)
        self.transport.write(stamped + b"\n> ")
        self.resumeProducing()

    def failed(self, failure):
        self.transport.loseConnection()
        if not self.done.called:
            self.done.errback(failure)

    def connectionLost(self, reason):
        if not self.done.called:
            self.done.callback(None)


async def main(reactor, host="localhost", port=str(DEFAULT_PORT)):
    endpoint = HostnameEndpoint(reactor, host, int(port))
    try:
        client = await connectTimestamp(endpoint, timeout=5)
    except NetlabError as e:  # refused, unreachable, timed out
        raise SystemExit(f"tsTclnt: {e}") from None
    prompt = Prompt(client)
    StandardIO(prompt, reactor=reactor)
    try:
        await prompt.done
    except NetlabError as e:
        raise SystemExit(f"tsTclnt: {e}") from None
    finally:
        await client.close()


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
