"""
Redis for the chat bus: the C{--bus} address, the startup probe, and
connections through C{txredisapi}.

C{txredisapi} imports the global reactor when it is imported, so it is
imported here only when a connection is built, which happens only with
C{--bus}: a chat without a bus imports nothing of it.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    UNIXClientEndpoint,
    wrapClientTLS,
)
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory

from netlab.errors import StartupError

__all__ = [
    "DEFAULT_NODE_TIMEOUT",
    "DEFAULT_REDIS_PORT",
    "BusAddress",
    "IRedis",
    "busEndpoint",
    "parseBusAddress",
    "probe",
    "redisFactory",
]

DEFAULT_NODE_TIMEOUT = 15.0
"""
Seconds without a heartbeat after which a node is lost (C{--node-timeout}).
"""

DEFAULT_REDIS_PORT = 6379
"""
Redis's port when C{--bus} names none.
"""

PROBE_TIMEOUT = 5.0
"""
Seconds the startup probe waits for Redis to answer.
"""


@attrs.frozen
class BusAddress:
    """
    Where Redis is, from C{--bus}.

    @ivar scheme: C{redis}, C{rediss} (TLS) or C{unix}.
    @ivar host: the host name, for C{redis} and C{rediss}.
    @ivar port: the TCP port.
    @ivar path: the socket's path, for C{unix}.
    @ivar db: the database number, selected after connecting.
    @ivar password: sent with C{AUTH} after connecting, if any.
    """

    scheme: str
    host: str = ""
    port: int = DEFAULT_REDIS_PORT
    path: str = ""
    db: int = 0
    password: str | None = attrs.field(default=None, repr=False)

    def display(self) -> str:
        """
        @return: the address as a URL without its password, for logs and
            errors.
        """
        if self.scheme == "unix":
            return f"unix:{self.path}"
        secret = ":***@" if self.password is not None else ""
        return f"{self.scheme}://{secret}{self.host}:{self.port}/{self.db}"


def parseBusAddress(url: str) -> BusAddress:
    """
    Read C{redis://[:password@]host[:port][/db]}, C{rediss://...} (TLS) or
    C{unix:PATH}.

    @raise ValueError: with what to write instead, for anything else.
    """
    if url.startswith("unix:"):
        path = url[len("unix:") :]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise ValueError(f"{url!r} names no socket: give unix:/path/to/redis.sock")
        return BusAddress("unix", path=path)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not a Redis address: give redis://[:password@]host"
            "[:port][/db], rediss://... for TLS, or unix:/path"
        )
    try:
        port = parts.port or DEFAULT_REDIS_PORT
    except ValueError:
        raise ValueError(f"{url!r} has no valid port") from None
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise ValueError(f"{url!r}: the database, after /, is a number")
    password = unquote(parts.password) if parts.password is not None else None
    return BusAddress(parts.scheme, parts.hostname, port, db=int(db), password=password)


def _encode(*args: bytes | str | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def probe(
    address: BusAddress,
    timeout: float = PROBE_TIMEOUT,
    connect: Callable[[BusAddress, float], socket.socket] | None = None,
    presence: tuple[str, str] | None = None,
) -> None:
    """
    Check, before the service starts, that Redis answers at C{address}
    (with its password and database): a connection that retries for ever,
    as the bus's does, would never report it.  It blocks, as listening on
    a port does at startup, for at most C{timeout} seconds.

    @param connect: opens the socket (for tests); by default TCP, TLS
        (verified) or a Unix socket, by C{address.scheme}.
    @param presence: the node's name and its presence key, if it is to be
        checked that no live node has that name already.
    @raise StartupError: one line naming the address and the reason.
    """
    commands = []
    if address.password is not None:
        commands.append(_encode("AUTH", address.password))
    if address.db:
        commands.append(_encode("SELECT", address.db))
    commands.append(_encode("PING"))
    if presence is not None:
        commands.append(_encode("EXISTS", presence[1]))
    try:
        sock = (connect or _connect)(address, timeout)
        try:
            sock.sendall(b"".join(commands))
            replies = b""
            while replies.count(b"\r\n") < len(commands):
                data = sock.recv(4096)
                if not data:
                    raise OSError("Redis closed the connection")
                replies += data
        finally:
            sock.close()
    except (OSError, ssl.SSLError) as e:
        reason = e.strerror or str(e) if isinstance(e, OSError) else str(e)
        raise StartupError(
            f"--bus {address.display()}: cannot reach Redis ({reason}); "
            "start it or fix --bus"
        ) from None
    answers = replies.split(b"\r\n")[: len(commands)]
    for reply in answers:
        if reply.startswith(b"-"):
            raise StartupError(
                f"--bus {address.display()}: Redis refused us "
                f"({reply[1:].decode('utf-8', 'replace')}); fix --bus"
            )
    if presence is not None and answers[-1] != b":0":
        raise StartupError(
            f"--node {presence[0]}: a node of that name is running on "
            f"{address.display()} (or was killed less than --node-timeout "
            "ago); choose another --node"
        )


def _connect(address: BusAddress, timeout: float) -> socket.socket:
    if address.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address.path)
        return sock
    sock = socket.create_connection((address.host, address.port), timeout)
    if address.scheme == "rediss":
        return ssl.create_default_context().wrap_socket(
            sock, server_hostname=address.host
        )
    return sock


def busEndpoint(reactor: Any, address: BusAddress) -> IStreamClientEndpoint:
    """
    @return: the endpoint that reaches Redis at C{address}; for
        C{rediss://}, TLS that verifies the server's certificate for its
        host name (C{txredisapi}'s own TLS does not verify).
    """
    if address.scheme == "unix":
        return UNIXClientEndpoint(reactor, address.path)
    endpoint = HostnameEndpoint(reactor, address.host, address.port)
    if address.scheme == "rediss":
        from twisted.internet.ssl import optionsForClientTLS

        return wrapClientTLS(optionsForClientTLS(address.host), endpoint)
    return endpoint


class IRedis(Protocol):
    """
    What the bus needs of a Redis connection: one command, its reply later.
    Replies are bytes, lists and ints as Redis sends them (no decoding,
    no numbers read from text).
    """

    def execute_command(self, *args: bytes | str | int) -> Deferred[Any]: ...


def redisFactory(
    clock: IReactorTime,
    address: BusAddress,
    onReady: Callable[[IRedis], object],
    onLost: Callable[[IRedis], object],
) -> Factory:
    """
    A factory of C{txredisapi} protocols that return bytes as they came
    (C{charset=None}: no decoding; C{convertNumbers=False}: the text C{42}
    stays C{b"42"} rather than becoming an int, and C{1.50} a float), and
    that authenticate and select the database here rather than through
    C{txredisapi}'s factory (which C{connectProtocol} would not give them).

    C{txredisapi}'s parser reads what follows a bulk reply in the same
    chunk a reactor turn later, with C{callLater} of the global reactor;
    its protocols here use C{clock}'s instead.

    @param clock: the reactor whose C{callLater} they use.
    @param onReady: called with each protocol once it has authenticated
        and selected its database.
    @param onLost: called with each protocol whose connection is lost.
    """
    import txredisapi  # type: ignore[import-untyped]

    class _Protocol(txredisapi.RedisProtocol):  # type: ignore[misc]
        def connectionMade(self) -> Any:
            done = super().connectionMade()
            steps: Deferred[Any] = Deferred()
            if address.password is not None:
                steps.addCallback(
                    lambda _: self.execute_command("AUTH", address.password)
                )
            if address.db:
                steps.addCallback(lambda _: self.execute_command("SELECT", address.db))
            steps.addCallback(lambda _: onReady(self))
            steps.addErrback(lambda _: self.transport.loseConnection())
            steps.callback(None)
            return done

        def connectionLost(self, why: Any) -> None:
            super().connectionLost(why)
            onLost(self)

    class _Factory(Factory):
        # The bus logs its own connections, named by node and URL; Twisted's
        # "Starting factory <...>" at every connection would only repeat it.
        noisy = False

        def buildProtocol(self, addr: Any) -> Any:
            protocol = _Protocol(charset=None, convertNumbers=False)
            protocol.callLater = clock.callLater
            protocol.factory = self
            return protocol

    return _Factory()
