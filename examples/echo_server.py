"""
An echo server (RFC 862), event-driven, built from netlab's factory and
datagram protocol: every byte a TCP client sends comes back, in order, to
any number of clients at once; every UDP datagram comes back to its sender.
TCP and UDP share the port number.

    python examples/echo_server.py [PORT [INTERFACE]]

The same service, from the twistd plugin:

    twistd -n netlab echo --listen tcp:21568 --udp-port 21568
    twistd -n netlab echo --listen tcp:21568:interface=127.0.0.1 \\
        --udp-port 21568 --udp-interface 127.0.0.1
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import react

from netlab.echo import DEFAULT_PORT, EchoDatagramProtocol, EchoFactory


async def main(reactor, port=str(DEFAULT_PORT), interface=""):
    # TCP, on an endpoint.  Twisted reuses the address (SO_REUSEADDR), so a
    # restarted server can listen again at once, and reads no more from a
    # client than it takes back: flow control is built into the protocol.
    where = f"tcp:{port}:interface={interface}" if interface else f"tcp:{port}"
    stream = await serverFromString(reactor, where).listen(EchoFactory())
    # UDP, on the reactor (there are no datagram endpoints), behind netlab's
    # reflection guard, so that forged senders cannot aim it at others.
    datagrams = reactor.listenUDP(
        int(port),
        EchoDatagramProtocol(reactor),
        interface=interface,
        maxPacketSize=65536,
    )
    tcp, udp = stream.getHost().port, datagrams.getHost().port
    print(f"echo_server: waiting on TCP {tcp} and UDP {udp}...", flush=True)
    await Deferred()  # serve until interrupted (Ctrl-C)


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
