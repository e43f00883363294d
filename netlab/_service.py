"""
Services that listen, shared by every netlab service: stream endpoints from
endpoint strings, UDP ports, and clear errors when either cannot start.
"""

from __future__ import annotations

import errno
from typing import Any

from twisted.application.internet import StreamServerEndpointService, UDPServer
from twisted.application.service import MultiService
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import DatagramProtocol

from netlab.errors import StartupError

_HINTS = {
    errno.EADDRINUSE: "another program is using it; stop it or choose another",
    errno.EACCES: "permission denied; ports below 1024 need privileges, choose another",
    errno.EADDRNOTAVAIL: "no interface of this machine has that address; "
    "choose another",
}


def _reason(e: BaseException) -> str:
    """
    Say in a few words why a listen failed.
    """
    cause: BaseException = e
    if isinstance(e, CannotListenError) and isinstance(e.socketError, BaseException):
        cause = e.socketError
    if isinstance(cause, OSError) and cause.errno in _HINTS:
        return _HINTS[cause.errno]
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause) or type(cause).__name__


def parseEndpoint(reactor: Any, description: str) -> Any:
    """
    Parse a server endpoint string the way C{--listen} does.

    @param reactor: the reactor the endpoint will listen with.
    @param description: a Twisted server endpoint string, for example
        C{tcp:21567} or C{tcp6:port=21567:interface=\\:\\:1}.
    @return: the C{IStreamServerEndpoint}.
    @raise StartupError: if the string is not a usable endpoint.
    """
    try:
        return serverFromString(reactor, description)
    except Exception as e:
        if description.startswith("systemd:") and isinstance(e, (IndexError, KeyError)):
            # What a systemd: endpoint raises when no socket was passed in.
            raise StartupError(
                f"--listen {description}: no socket was passed in by systemd "
                "for it; start netlab from a systemd socket unit that provides "
                "one, or use tcp:"
            ) from None
        raise StartupError(
            f"--listen {description}: not a usable endpoint ({_reason(e)}); "
            "see 'Endpoint strings' in the README, e.g. tcp:21567"
        ) from None


class EndpointService(StreamServerEndpointService):
    """
    Listens on one endpoint, and fails at once with a L{StartupError} that
    names the endpoint string if it cannot.
    """

    _raiseSynchronously = True

    def __init__(
        self, reactor: Any, description: str, factory: IProtocolFactory
    ) -> None:
        """
        @param reactor: the reactor to listen with.
        @param description: a server endpoint string.
        @param factory: the factory for accepted connections.
        @raise StartupError: if the string is not a usable endpoint.
        """
        super().__init__(parseEndpoint(reactor, description), factory)
        self.description = description

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except Exception as e:
            raise StartupError(
                f"cannot listen on {self.description}: {_reason(e)} (--listen)"
            ) from e


class DatagramService(UDPServer):
    """
    Listens on one UDP port, and fails at once with a L{StartupError} if it
    cannot.
    """

    def __init__(
        self,
        reactor: Any,
        port: int,
        protocol: DatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 65536,
    ) -> None:
        """
        @param reactor: the reactor to listen with.
        @param port: the UDP port; 0 picks a free one.
        @param protocol: the protocol for received datagrams.
        @param interface: the local address to bind, C{""} for all IPv4
            addresses, C{"::"} for all IPv6 (and IPv4, where the system
            maps them).
        @param maxPacketSize: the largest datagram read whole.
        """
        super().__init__(
            port,
            protocol,
            interface=interface,
            maxPacketSize=maxPacketSize,
            reactor=reactor,
        )
        self.description = f"udp:{port}" + (
            f":interface={interface}" if interface else ""
        )

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except Exception as e:
            raise self._cannotListen(e) from e

    def startService(self) -> None:
        # twist starts services without privilegedStartService.
        try:
            super().startService()
        except Exception as e:
            raise self._cannotListen(e) from e

    def _cannotListen(self, e: Exception) -> StartupError:
        return StartupError(
            f"cannot listen on {self.description}: {_reason(e)} "
            "(--udp-port, --udp-interface)"
        )


class ExitOnStartupError(MultiService):
    """
    The top service of a twistd/twist run: a service that cannot start ends
    the process with one line on standard error and exit status 1, rather
    than a traceback.

    When twistd daemonizes, the error is left as the L{StartupError} it is:
    twistd then reports it to the launching process (C{An error has
    occurred: ...}), removes its pid file and exits 1, which it does only
    for exceptions.
    """

    def __init__(self, program: str, daemon: bool = False) -> None:
        """
        @param program: how the line names the program, e.g.
            C{netlab tsserv}.
        @param daemon: whether twistd is daemonizing.
        """
        super().__init__()
        self.program = program
        self.daemon = daemon

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except StartupError as e:
            self._exit(e)

    def startService(self) -> None:
        try:
            super().startService()
        except StartupError as e:
            self._exit(e)

    def _exit(self, error: StartupError) -> None:
        if self.daemon:
            raise error
        raise SystemExit(f"{self.program}: error: {error}") from None
