"""
Address resolution and IPv6 in practice: an echo server listening on both
loopback addresses, 127.0.0.1 (IPv4) and ::1 (IPv6), on the same port; then
a client that resolves each host name with getaddrinfo(), printing the
(family, type, proto, canonname, sockaddr) tuples, and connects to it by
name with HostnameEndpoint, printing the address it reached.

    python examples/dual_stack.py [PORT [HOST ...]]

PORT 0 (the default) picks a free one; the hosts default to localhost,
127.0.0.1 and ::1.  Exit status 1 if a host could not be reached.

Two explicit listeners keep the server on loopback.  A single
tcp6:PORT:interface=\\:\\: listener also takes IPv4 connections where the
system allows it (IPV6_V6ONLY off, the Linux default), as ::ffff:a.b.c.d.
"""

import socket
import sys

from twisted.internet.address import IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
)
from twisted.internet.error import CannotListenError
from twisted.internet.task import react
from twisted.internet.threads import deferToThreadPool

from netlab.echo import EchoFactory, connectEcho
from netlab.errors import NetlabError


def showAddress(address):
    """
    C{host:port}, with the brackets an IPv6 address needs in a URL or after
    C{nc}: C{[::1]:21568}.
    """
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"{host}:{address.port}"


async def resolve(reactor, host, port):
    # getaddrinfo() blocks (it may ask DNS): run it in the reactor's thread
    # pool, as HostnameEndpoint itself does, never in the reactor thread.
    return await deferToThreadPool(
        reactor,
        reactor.getThreadPool(),
        socket.getaddrinfo,
        host,
        port,
        socket.AF_UNSPEC,  # IPv4 and IPv6
        socket.SOCK_STREAM,
    )


async def main(reactor, port="0", *hosts):
    hosts = hosts or ("localhost", "127.0.0.1", "::1")
    factory = EchoFactory()

    # The server: IPv4 first, on PORT (0: any free port), then IPv6 on the
    # same port number.  The two are separate sockets.
    ipv4 = await TCP4ServerEndpoint(reactor, int(port), interface="127.0.0.1").listen(
        factory
    )
    port = ipv4.getHost().port
    print(f"server: listening on {showAddress(ipv4.getHost())}")
    try:
        ipv6 = await TCP6ServerEndpoint(reactor, port, interface="::1").listen(factory)
        print(f"server: listening on {showAddress(ipv6.getHost())}")
    except CannotListenError as e:  # no IPv6 loopback here, or the port is taken
        print(f"server: not on ::1 ({e.socketError})")

    # The client.
    failed = 0
    for host in hosts:
        try:
            infos = await resolve(reactor, host, port)
        except socket.gaierror as e:
            print(f"{host}: cannot resolve: {e}")
            failed += 1
            continue
        print(f"{host}: getaddrinfo gives")
        for family, kind, proto, canonname, sockaddr in infos:
            print(f"  ({family.name}, {kind.name}, {proto}, {canonname!r}, {sockaddr})")

        # HostnameEndpoint resolves the name itself and tries every address
        # it gets, IPv6 and IPv4, a moment apart ("happy eyeballs"); the
        # first to connect wins.
        endpoint = HostnameEndpoint(reactor, host, port, timeout=5)
        try:
            client = await connectEcho(endpoint, timeout=5)
            try:
                peer = client.transport.getPeer()  # the address that won
                data = await client.request(f"hello {host}".encode())
            finally:
                await client.close()
        except NetlabError as e:
            print(f"{host}: {e}")
            failed += 1
            continue
        family = "IPv6" if isinstance(peer, IPv6Address) else "IPv4"
        print(f"{host}: reached {showAddress(peer)} over {family}: {data.decode()}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
