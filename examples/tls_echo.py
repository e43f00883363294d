"""
netlab's clients over TLS: every client takes an IStreamClientEndpoint, so
TLS is an endpoint away.  This one has a message echoed by a TLS echo
server, checking that the server's certificate is valid for HOST and
signed by the CA certificate in CA_FILE (a self-signed server certificate
is its own CA).

    python examples/tls_echo.py HOST PORT CA_FILE [MESSAGE]

Against, for example:
    twistd -n netlab echo --no-udp --listen ssl:8443:privateKey=key.pem:certKey=cert.pem

Exit status 1 (one line) if the connection or the handshake fails.
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.ssl import (
    Certificate,
    optionsForClientTLS,
    trustRootFromCertificates,
)
from twisted.internet.task import react

from netlab.echo import echo
from netlab.errors import NetlabError


def tlsEndpoint(reactor, host, port, caFile):
    # Trust only the CA certificate of caFile; without trustRoot,
    # optionsForClientTLS trusts the system's certificate authorities.
    with open(caFile, "rb") as pem:
        authority = Certificate.loadPEM(pem.read())
    options = optionsForClientTLS(host, trustRootFromCertificates([authority]))
    return wrapClientTLS(options, HostnameEndpoint(reactor, host, port))


async def main(reactor, host, port, caFile, message="hello"):
    endpoint = tlsEndpoint(reactor, host, int(port), caFile)
    try:
        data = await echo(endpoint, message.encode(), timeout=10, clock=reactor)
    except NetlabError as e:  # a certificate not trusted: ConnectionClosed
        raise SystemExit(f"tls_echo: {e}") from None
    print(data.decode())


if __name__ == "__main__":
    react(
        lambda reactor, *args: Deferred.fromCoroutine(main(reactor, *args)),
        sys.argv[1:],
    )
