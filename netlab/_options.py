"""
What the command lines share: option value checks (for twistd's and the
client's options alike), and the endpoint a client's options name: TCP to
C{--host} and C{--port}, with TLS for C{--tls} and C{--ca-file}, or any
client endpoint string given with C{--connect}.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    clientFromString,
    wrapClientTLS,
)
from twisted.internet.error import ConnectError, ConnectionClosed
from twisted.internet.interfaces import (
    IHandshakeListener,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.ssl import (
    Certificate,
    optionsForClientTLS,
    platformTrust,
    trustRootFromCertificates,
)
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python import usage
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

from netlab.errors import NetlabError


def positiveFloat(value: str) -> float:
    """
    @return: C{value} as a number of seconds greater than 0.
    @raise ValueError: otherwise.
    """
    number = float(value)
    if not number > 0:
        raise ValueError(f"{value} is not a positive number of seconds")
    return number


def positiveInt(value: str) -> int:
    """
    @return: C{value} as a whole number of at least 1.
    @raise ValueError: otherwise.
    """
    number = int(value)
    if number < 1:
        raise ValueError(f"{value} is not a positive whole number")
    return number


positiveInt.coerceDoc = "A positive whole number."  # type: ignore[attr-defined]


TLS_FLAGS: list[list[Any]] = [
    [
        "tls",
        None,
        "TCP: connect with TLS, verifying the server's certificate for --host "
        "against the system's trusted certificate authorities.",
    ],
]
"""
The client options' flags for TLS: C{--tls}.
"""

TLS_PARAMETERS: list[list[Any]] = [
    [
        "ca-file",
        None,
        None,
        "TCP: connect with TLS (implies --tls), trusting the certificate "
        "authorities in this PEM file instead of the system's: for a server "
        "with a private or self-signed certificate.",
    ],
]
"""
The client options' parameters for TLS: C{--ca-file FILE}.
"""


def checkTLSOptions(options: Mapping[str, Any]) -> bool:
    """
    Check a client's C{--tls} and C{--ca-file} against its other options,
    from C{postOptions}.

    @param options: the parsed options, with C{tls}, C{ca-file},
        C{connect} and (if the command has it) C{udp}.
    @return: whether the client connects with TLS: C{--tls} or
        C{--ca-file}.
    @raise usage.UsageError: if TLS is asked for with C{--connect}, whose
        endpoint string says itself whether to use TLS, or with C{--udp}.
    """
    tls = bool(options["tls"] or options["ca-file"])
    if not tls:
        return False
    named = "--tls" if options["tls"] else "--ca-file"
    if options["connect"]:
        raise usage.UsageError(
            f"{named} is for --host and --port; with --connect, use a tls: "
            "endpoint string, e.g. tls:host=example.net:port=21568"
        )
    if options.get("udp"):
        raise usage.UsageError(f"{named} is for TCP; leave out --udp")
    return True


def certificateAuthorities(path: str) -> Any:
    """
    Read the certificate authorities a client trusts from a PEM file.

    @param path: the file, holding one or more PEM certificates.
    @return: a trust root for C{optionsForClientTLS} (an
        C{IOpenSSLTrustRoot}, which Twisted does not export).
    @raise NetlabError: if the file cannot be read or holds no certificate.
    """
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise NetlabError(
            f"--ca-file {path}: cannot read it ({e.strerror or e}); give a "
            "readable PEM file of CA certificates"
        ) from None
    try:
        found = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise NetlabError(
            f"--ca-file {path}: holds no PEM certificate; give a PEM file of "
            "CA certificates (-----BEGIN CERTIFICATE-----)"
        ) from None
    return trustRootFromCertificates(
        [Certificate.loadPEM(each.public_bytes(Encoding.PEM)) for each in found]
    )


def clientEndpoint(reactor: Any, options: Mapping[str, Any]) -> IStreamClientEndpoint:
    """
    The endpoint that C{--connect}, or else C{--host} and C{--port}, name:
    with TLS if C{--tls} or C{--ca-file} is given, verifying that the
    server's certificate is valid for C{--host}.

    @raise NetlabError: if C{--connect} is not a client endpoint string, or
        the C{--ca-file} cannot be read.
    """
    if options["connect"]:
        try:
            endpoint = cast(
                IStreamClientEndpoint, clientFromString(reactor, options["connect"])
            )
        except Exception as e:
            raise NetlabError(
                f"--connect {options['connect']}: not a client endpoint string ({e})"
            ) from None
        if options["connect"].split(":", 1)[0].lower() in ("tls", "ssl"):
            return HandshakeFirst(endpoint)
        return endpoint
    endpoint = HostnameEndpoint(reactor, options["host"], options["port"])
    if not (options.get("tls") or options.get("ca-file")):
        return endpoint
    path = options.get("ca-file")
    trustRoot = platformTrust() if path is None else certificateAuthorities(path)
    return HandshakeFirst(
        wrapClientTLS(optionsForClientTLS(options["host"], trustRoot), endpoint)
    )


class TLSHandshakeFailed(ConnectError):
    """
    The TLS handshake with the server failed.
    """

    MESSAGE = "the TLS handshake failed"


def _describeTLSFailure(reason: Failure) -> str:
    """
    Say in a few words why a TLS handshake failed.
    """
    error = reason.value
    if isinstance(error, VerificationError):
        return "the server's certificate is not for the host connected to"
    if isinstance(error, SSL.Error):
        details = error.args[0] if error.args else None
        if isinstance(details, list):
            said = [entry[-1] for entry in details if isinstance(entry, tuple)]
            if any(said):
                return ", ".join(each for each in said if each)
        return str(error) or "a TLS error"
    if isinstance(error, ConnectionClosed):
        return "the server closed the connection"
    return str(error) or type(error).__name__


@implementer(IHandshakeListener)
class _HandshakeWatcher(ProtocolWrapper):
    """
    Stands between a TLS connection and the client's protocol, and connects
    the client's protocol only once the handshake is done.

    @ivar handshake: fires with the client's protocol, connected, once the
        handshake is done, or fails with L{TLSHandshakeFailed} if the
        connection is lost first (the client's protocol then never hears of
        it).  Cancelling it aborts the connection.
    """

    def __init__(
        self, factory: WrappingFactory[_HandshakeWatcher], wrappedProtocol: IProtocol
    ) -> None:
        super().__init__(factory, wrappedProtocol)
        self.handshake: Deferred[IProtocol] = Deferred(self._cancel)

    def makeConnection(self, transport: Any) -> None:
        # As ProtocolWrapper does, but without connecting the client's
        # protocol yet.
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)

    def _cancel(self, handshake: Deferred[IProtocol]) -> None:
        transport: Any = self.transport
        transport.abortConnection()

    def handshakeCompleted(self) -> None:
        if self.handshake.called:
            return
        # The wrapper is the client protocol's transport, as for any
        # ProtocolWrapper.
        self.wrappedProtocol.makeConnection(self)  # type: ignore[arg-type]
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()
        self.handshake.callback(self.wrappedProtocol)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.handshake.called:
            super().connectionLost(reason)
            return
        self.factory.unregisterProtocol(self)
        self.handshake.errback(TLSHandshakeFailed(string=_describeTLSFailure(reason)))


class _HandshakeWatching(WrappingFactory[_HandshakeWatcher]):
    protocol = _HandshakeWatcher


@implementer(IStreamClientEndpoint)
class HandshakeFirst:
    """
    A TLS client endpoint whose connections count as made once the TLS
    handshake is done, and fail with a L{TLSHandshakeFailed} saying why
    when it fails (an unknown certificate authority, a certificate for
    another host, a server that does not speak TLS), rather than as a
    connection the server closed.

    The client's protocol is connected once the handshake is done, so
    that it never hears of a connection that failed; what it sends at once
    goes out no later than it would have, TLS sending nothing before.
    """

    def __init__(self, endpoint: IStreamClientEndpoint) -> None:
        """
        @param endpoint: a TLS client endpoint, from C{wrapClientTLS} or a
            C{tls:} string.
        """
        self._endpoint = endpoint

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        """
        Connect, and wait for the handshake.

        @return: a Deferred that fires with C{protocolFactory}'s protocol,
            or fails with the endpoint's failure or L{TLSHandshakeFailed}.
        """
        connecting = cast(
            "Deferred[_HandshakeWatcher]",
            self._endpoint.connect(_HandshakeWatching(protocolFactory)),
        )

        def handshake(watcher: _HandshakeWatcher) -> Deferred[IProtocol]:
            return watcher.handshake

        return connecting.addCallback(handshake)


def choice(kind: type[enum.Enum]) -> Callable[[str], enum.Enum]:
    """
    @return: an option coercer to one of C{kind}'s values, whose error
        names them all.
    """
    names = ", ".join(member.value for member in kind)

    def coerce(value: str) -> enum.Enum:
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{value!r} is not one of {names}") from None

    coerce.coerceDoc = f"One of: {names}."  # type: ignore[attr-defined]
    return coerce


def port(value: str) -> int:
    """
    @return: C{value} as a port number, 0 to 65535.
    @raise ValueError: otherwise.
    """
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"{value} is not a port number (0 to 65535)")
    return number


port.coerceDoc = "0 to 65535; 0 picks a free port."  # type: ignore[attr-defined]


def nonNegative(value: str) -> float:
    """
    @return: C{value} as a number, 0 or more.
    @raise ValueError: otherwise.
    """
    number = float(value)
    if not number >= 0:
        raise ValueError(f"{value} is not 0 or more")
    return number


nonNegative.coerceDoc = "0 or more; 0 turns it off."  # type: ignore[attr-defined]


def wholeNumber(value: str) -> int:
    """
    @return: C{value} as a whole number, 0 or more.
    @raise ValueError: otherwise.
    """
    number = nonNegative(value)
    if not number.is_integer():
        # 2.5 would be cut to 2 without a word; inf would raise
        # OverflowError, a traceback rather than a usage error.
        raise ValueError(f"{value} is not a whole number")
    return int(number)


wholeNumber.coerceDoc = "A whole number, 0 or more."  # type: ignore[attr-defined]


def rate(value: str) -> float:
    """
    @return: C{value} as a rate per second, 0 or more.
    @raise ValueError: otherwise.
    """
    number = float(value)
    if not number >= 0:
        raise ValueError(f"{value} is not a rate (0 or more per second)")
    return number


rate.coerceDoc = "Per second; 0 for no limit."  # type: ignore[attr-defined]


def burst(value: str) -> float:
    """
    @return: C{value} as a burst size, 1 or more.
    @raise ValueError: otherwise.
    """
    number = float(value)
    if not number >= 1:
        raise ValueError(f"{value} is not a burst size (1 or more)")
    return number


burst.coerceDoc = "At least 1."  # type: ignore[attr-defined]
