"""
Services that listen, shared by every netlab service: stream endpoints from
endpoint strings, UDP ports, and clear errors when either cannot start.
"""

from __future__ import annotations

import errno
from typing import Any

from cryptography import x509
from OpenSSL.crypto import FILETYPE_PEM
from twisted.application.internet import StreamServerEndpointService, UDPServer
from twisted.application.service import MultiService
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.ssl import Certificate, KeyPair
from twisted.logger import Logger
from twisted.python.filepath import FilePath

from netlab.errors import StartupError

_log = Logger()

DEFAULT_UNIX_MODE = "660"
"""
The mode of a C{unix:} socket file when C{--listen} does not give one (as
C{mode=}): the owner and the group may connect, nobody else.  Twisted's own
default, 666, would let every user of the machine connect.
"""

DEFAULT_BACKLOG = 1024
"""
The listen backlog of a C{tcp:}, C{tcp6:}, C{unix:}, C{ssl:} or C{tls:}
endpoint when its string gives none: how many connections the kernel holds,
made but not yet accepted, during a burst.  Twisted's own default, 50, lets
a burst of a few hundred clients fill it.  The kernel caps it at
C{net.core.somaxconn}.
"""

_BACKLOG_POSITIONS = {"tcp": 3, "unix": 3, "ssl": 6}
"""
Where each of Twisted's own kinds of endpoint string takes its backlog by
position (counting the type as 0).  Twisted knows these by their exact
name.
"""

_PLUGIN_BACKLOG_POSITIONS = {"tcp6": 2, "tls": 3}
"""
The same for the kinds that Twisted's endpoint plugins parse, whatever the
case of their name.
"""


def _backlogPosition(kind: str) -> int | None:
    position = _BACKLOG_POSITIONS.get(kind)
    if position is None:
        position = _PLUGIN_BACKLOG_POSITIONS.get(kind.lower())
    return position


_SOMAXCONN = "/proc/sys/net/core/somaxconn"

_HINTS = {
    errno.EADDRINUSE: "another program is using it; stop it or choose another",
    errno.EACCES: "permission denied; ports below 1024 need privileges, choose another",
    errno.EADDRNOTAVAIL: "no interface of this machine has that address; "
    "choose another",
}

_NOT_ALLOWED = "permission denied; choose a directory this user may create files in"

_UNIX_HINTS = {
    errno.EADDRINUSE: "a file is already there; remove it if no server uses it, "
    "or choose another path",
    errno.EACCES: _NOT_ALLOWED,
    errno.EPERM: _NOT_ALLOWED,
    errno.ENOENT: "its directory does not exist; create it or choose another path",
    errno.ENOTDIR: "a part of the path is not a directory; choose another path",
    errno.EROFS: "the file system is read-only; choose another path",
}

_FILE_HINTS = {
    errno.ENOENT: "no such file; check the path",
    errno.EACCES: "permission denied; make it readable by the user netlab runs as",
    errno.EISDIR: "it is a directory; give the path of a PEM file",
}


def _reason(e: BaseException, kind: str = "tcp") -> str:
    """
    Say in a few words why a listen failed.

    @param kind: the type of the endpoint, as its string starts: C{tcp},
        C{unix}, ...
    """
    cause: BaseException = e
    if isinstance(e, CannotListenError):
        if isinstance(e.socketError, BaseException):
            cause = e.socketError
        elif kind == "unix" and e.socketError == "Cannot acquire lock":
            return (
                "a running server holds its lock file (the path with .lock "
                "added); stop that server or choose another path"
            )
        elif e.socketError:
            return str(e.socketError)
    hints = _UNIX_HINTS if kind == "unix" else _HINTS
    if isinstance(cause, OSError) and cause.errno in hints:
        return hints[cause.errno]
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    if kind == "unix" and "too long" in str(cause):
        return f"{cause}; choose a shorter path"
    return str(cause) or type(cause).__name__


def splitEndpoint(description: str) -> tuple[list[str], dict[str, str]]:
    """
    Split an endpoint string into its arguments as Twisted does: C{:}
    separates them, the first C{=} of one makes it a keyword argument, and a
    backslash makes the character after it plain.

    @param description: an endpoint string, e.g. C{unix:/run/x:mode=600}.
    @return: the positional arguments, the type first (C{["unix",
        "/run/x"]}), and the keyword arguments (C{{"mode": "600"}}).
    @raise ValueError: if the string ends with a lone backslash.
    """
    args: list[str] = []
    kwargs: dict[str, str] = {}
    key: str | None = None
    current: list[str] = []
    characters = iter(description)

    for character in characters:
        if character == "\\":
            escaped = next(characters, None)
            if escaped is None:
                raise ValueError("it ends with a lone backslash")
            current.append(escaped)
        elif character == ":":
            if key is None:
                args.append("".join(current))
            else:
                kwargs[key] = "".join(current)
            key, current = None, []
        elif character == "=" and key is None:
            key, current = "".join(current), []
        else:
            current.append(character)
    if key is None:
        args.append("".join(current))
    else:
        kwargs[key] = "".join(current)
    return args, kwargs


def transportOf(description: str) -> str:
    """
    The C{transport} label of the metrics of connections that come in by a
    server endpoint: C{tcp} for C{tcp:} and C{tcp6:}, C{tls} for C{ssl:}
    and C{tls:}, C{unix} for C{unix:}, and for any other kind
    (C{systemd:}, a plugin's) its type in lower case.

    @param description: a server endpoint string, e.g.
        C{ssl:21567:privateKey=key.pem}.
    @return: the label, e.g. C{"tls"}.
    @raise ValueError: if the string ends with a lone backslash, or has
        no type (nothing but keyword arguments).
    """
    args = splitEndpoint(description)[0]
    if not args:
        raise ValueError("it has no type")
    kind = args[0].lower()
    return {"tcp6": "tcp", "ssl": "tls"}.get(kind, kind)


def withDefaults(description: str) -> str:
    """
    The endpoint string that C{--listen} really listens on:

      - a C{tcp:}, C{tcp6:}, C{unix:}, C{ssl:} or C{tls:} string gets
        C{backlog=1024} (see L{DEFAULT_BACKLOG}) unless it gives one;
      - a C{unix:} string gets C{mode=660} (see L{DEFAULT_UNIX_MODE}) unless
        it gives a mode, and C{lockfile=1} unless it says otherwise, so that
        a socket file left behind by a server that died is removed when the
        next one starts.

    Any other string is left as it is.  (Twisted knows C{tcp:}, C{unix:}
    and C{ssl:} by their exact names, and C{tcp6:} and C{tls:} whatever
    their case.)

    @param description: a server endpoint string.
    @return: the string with the defaults added.
    @raise ValueError: if the string ends with a lone backslash.
    """
    args, kwargs = splitEndpoint(description)
    added = []
    if _backlogPosition(args[0]) is not None and _backlogGiven(args, kwargs) is None:
        added.append(f"backlog={DEFAULT_BACKLOG}")
    if args[0] == "unix":
        # Twisted's unix: takes, in order, the path, mode, backlog and
        # lockfile: each may be given by position, after the type, or by
        # name.
        if "mode" not in kwargs and len(args) < 3:
            added.append(f"mode={DEFAULT_UNIX_MODE}")
        if "lockfile" not in kwargs and len(args) < 5:
            added.append("lockfile=1")
    return ":".join([description, *added])


def _backlogGiven(args: list[str], kwargs: dict[str, str]) -> str | None:
    position = _backlogPosition(args[0])
    if position is None:
        return None
    return _argument(args, kwargs, position, "backlog")


def listenBacklog(description: str) -> int | None:
    """
    @param description: a server endpoint string, as L{withDefaults} gives
        it.
    @return: the listen backlog it asks for, or C{None} if it is not a kind
        whose backlog netlab knows (C{systemd:} sockets are listening
        already, with systemd's backlog).
    """
    try:
        given = _backlogGiven(*splitEndpoint(description))
        return int(given) if given is not None else None
    except ValueError:
        return None


def somaxconn(path: str = _SOMAXCONN) -> int | None:
    """
    @param path: where the kernel says it.
    @return: the kernel's cap on listen backlogs (Linux's
        C{net.core.somaxconn}), or C{None} where it cannot be read.
    """
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _argument(
    args: list[str], kwargs: dict[str, str], position: int, name: str
) -> str | None:
    """
    @return: an endpoint string's argument given at C{position} (counting
        the type as 0) or as C{name=}, or C{None}.
    """
    if len(args) > position:
        return args[position]
    return kwargs.get(name)


def _fileReason(e: OSError) -> str:
    """
    @return: why a file cannot be read, and what to do about it.
    """
    return _FILE_HINTS.get(e.errno or 0, e.strerror or str(e))


def _read(path: str, what: str, option: str = "") -> bytes:
    """
    @param what: what the file is, e.g. C{"the certificate file"}.
    @param option: the argument of the endpoint string that names it, e.g.
        C{"certKey="}.
    @return: the content of the file at C{path}.
    @raise _FileProblem: saying which file cannot be read, and why.
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        named = f" ({option})" if option else ""
        raise _FileProblem(
            f"cannot read {what} {path}{named}: {_fileReason(e)}"
        ) from None


class _FileProblem(Exception):
    """
    A certificate or key file that an endpoint string names cannot be used;
    the message says why.
    """


def _checkSSLFiles(args: list[str], kwargs: dict[str, str]) -> None:
    """
    Check the files of an C{ssl:} endpoint string as Twisted will use them:
    the private key, the certificate (the private key's file if C{certKey=}
    is not given), and any certificate chain and Diffie-Hellman parameters.

    @raise _FileProblem: saying which file cannot be used, and why.
    """
    keyPath = _argument(args, kwargs, 2, "privateKey")
    keyOption = "privateKey="
    if keyPath is None:
        keyPath = "server.pem"
        keyOption = "the default, as privateKey= is not given"
    certificatePath = _argument(args, kwargs, 3, "certKey")
    certificateOption = "certKey="
    if certificatePath is None:
        certificatePath = keyPath
        certificateOption = "the private key file, as certKey= is not given"
    keyPEM = _read(keyPath, "the private key file", keyOption)
    certificatePEM = _read(certificatePath, "the certificate file", certificateOption)
    for position, name, what in [
        (8, "extraCertChain", "the certificate chain file"),
        (9, "dhParameters", "the Diffie-Hellman parameters file"),
    ]:
        path = _argument(args, kwargs, position, name)
        if path is not None:
            _read(path, what, f"{name}=")
    try:
        certificate = Certificate.loadPEM(certificatePEM)
    except Exception:
        raise _FileProblem(
            f"the certificate file {certificatePath} ({certificateOption}) holds "
            "no PEM certificate; name the certificate's file with certKey="
        ) from None
    try:
        key = KeyPair.load(keyPEM, FILETYPE_PEM)
    except Exception:
        raise _FileProblem(
            f"the private key file {keyPath} ({keyOption}) holds no PEM private "
            "key without a passphrase; name the key's file with privateKey="
        ) from None
    if not key.matches(certificate.getPublicKey()):
        raise _FileProblem(
            f"the private key in {keyPath} is not the one of the certificate in "
            f"{certificatePath}; give the key the certificate was made for"
        )


def _dnsNames(certificate: Certificate) -> list[str]:
    """
    @return: the DNS names in a certificate's subjectAltName.
    """
    parsed = x509.load_pem_x509_certificate(certificate.dumpPEM())
    try:
        alternatives = parsed.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
    except x509.ExtensionNotFound:
        return []
    return list(alternatives.value.get_values_for_type(x509.DNSName))


def _checkTLSDirectory(args: list[str], kwargs: dict[str, str]) -> None:
    """
    Check the directory of a C{tls:} endpoint string as Twisted will use
    it: its C{.pem} files, in it or below it, must hold a certificate with
    a DNS name (Twisted picks certificates by the name a client asks for,
    falling back to one of them) and that certificate's private key.

    Twisted itself does not fail when they do not: it listens, and every
    handshake fails.

    @raise _FileProblem: saying what is wrong.
    """
    path = _argument(args, kwargs, 1, "path")
    if path is None:
        return
    directory = FilePath(path)
    if not directory.exists():
        raise _FileProblem(
            f"the directory {path} does not exist; tls: takes a directory of "
            ".pem files with the certificate and its private key"
        )
    if not directory.isdir():
        raise _FileProblem(
            f"{path} is not a directory; tls: takes a directory of .pem files "
            "(ssl: takes a certificate file and a key file)"
        )
    try:
        files = [
            each
            for each in directory.walk()
            if each.basename().endswith(".pem") and each.isfile()
        ]
    except OSError as e:
        raise _FileProblem(
            f"cannot read the directory {path}: {_fileReason(e)}"
        ) from None
    certificates: list[Certificate] = []
    keys: list[KeyPair] = []
    for each in files:
        for block in _pemBlocks(_read(each.path, "the PEM file")):
            try:
                if b"CERTIFICATE" in block.split(b"\n", 1)[0]:
                    certificates.append(Certificate.loadPEM(block))
                else:
                    keys.append(KeyPair.load(block, FILETYPE_PEM))
            except Exception:
                raise _FileProblem(
                    f"{each.path} holds a PEM block that is neither a "
                    "certificate nor a private key without a passphrase; fix "
                    f"it or move it out of {path}"
                ) from None
    keyHashes = {key.keyHash() for key in keys}
    paired = [c for c in certificates if c.getPublicKey().keyHash() in keyHashes]
    if not paired:
        raise _FileProblem(
            f"no .pem file in {path} holds a certificate whose private key is "
            "there too; put both there, in one file or two"
        )
    if not any(_dnsNames(certificate) for certificate in paired):
        raise _FileProblem(
            f"the certificate in {path} has no DNS name in its subjectAltName, "
            "which tls: needs; use ssl: for it instead"
        )


def _pemBlocks(content: bytes) -> list[bytes]:
    """
    Split PEM data into its blocks, as Twisted's C{tls:} endpoint does:
    each starts at a C{-----BEGIN} line.
    """
    blocks: list[bytes] = []
    for line in content.splitlines(keepends=True):
        if line.startswith(b"-----BEGIN"):
            blocks.append(b"")
        if blocks:
            blocks[-1] += line
    return blocks


def parseEndpoint(reactor: Any, description: str, option: str = "--listen") -> Any:
    """
    Parse a server endpoint string the way C{--listen} does: any of
    Twisted's (C{tcp:}, C{tcp6:}, C{unix:}, C{ssl:}, C{tls:},
    C{systemd:}, and those of plugins), with netlab's defaults for C{unix:}
    (see L{withDefaults}), and the certificate and key files of C{ssl:}
    and C{tls:} checked, so that a problem with them stops the start with
    a line naming the file.

    @param reactor: the reactor the endpoint will listen with.
    @param description: a Twisted server endpoint string, for example
        C{tcp:21567} or C{tcp6:port=21567:interface=\\:\\:1}.
    @param option: the option that gave it, for the error messages.
    @return: the C{IStreamServerEndpoint}.
    @raise StartupError: if the string is not a usable endpoint.
    """
    try:
        args, kwargs = splitEndpoint(description)
    except ValueError as e:
        raise StartupError(
            f"{option} {description}: not a usable endpoint ({e}); "
            "see 'Endpoint strings' in netlab's documentation, e.g. tcp:21567"
        ) from None
    kind = args[0].lower()
    try:
        if kind == "ssl":
            _checkSSLFiles(args, kwargs)
        elif kind == "tls":
            _checkTLSDirectory(args, kwargs)
    except _FileProblem as e:
        raise StartupError(f"cannot listen on {description}: {e} ({option})") from None
    try:
        return serverFromString(reactor, withDefaults(description))
    except Exception as e:
        if kind == "systemd" and isinstance(e, (IndexError, KeyError)):
            # What a systemd: endpoint raises when no socket was passed in.
            raise StartupError(
                f"{option} {description}: no socket was passed in by systemd "
                "for it; start netlab from a systemd socket unit that provides "
                "one, or use tcp:"
            ) from None
        raise StartupError(
            f"{option} {description}: not a usable endpoint ({_reason(e, kind)}); "
            "see 'Endpoint strings' in netlab's documentation, e.g. tcp:21567"
        ) from None


class EndpointService(StreamServerEndpointService):
    """
    Listens on one endpoint, and fails at once with a L{StartupError} that
    names the endpoint string if it cannot.
    """

    _raiseSynchronously = True

    def __init__(
        self,
        reactor: Any,
        description: str,
        factory: IProtocolFactory,
        option: str = "--listen",
    ) -> None:
        """
        @param reactor: the reactor to listen with.
        @param description: a server endpoint string.
        @param factory: the factory for accepted connections.
        @param option: the option that gave the string, for the error
            messages.
        @raise StartupError: if the string is not a usable endpoint.
        """
        super().__init__(parseEndpoint(reactor, description, option), factory)
        self.description = description
        self.option = option
        self.backlog = listenBacklog(withDefaults(description))
        self._kind = splitEndpoint(description)[0][0].lower()

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except Exception as e:
            raise StartupError(
                f"cannot listen on {self.description}: "
                f"{_reason(e, self._kind)} ({self.option})"
            ) from e
        self._warnIfBacklogCapped()

    readSomaxconn = staticmethod(somaxconn)
    """
    Reads the kernel's cap on listen backlogs (see L{somaxconn}).
    """

    def _warnIfBacklogCapped(self) -> None:
        if self.backlog is None:
            return
        cap = self.readSomaxconn()
        if cap is not None and cap < self.backlog:
            _log.warn(
                "{option} {description}: the kernel holds at most {cap} "
                "connections waiting to be accepted (net.core.somaxconn), "
                "fewer than the listen backlog of {backlog}; a burst of new "
                "connections past that waits or is refused: raise it "
                "(sysctl -w net.core.somaxconn={backlog})",
                option=self.option,
                description=self.description,
                cap=cap,
                backlog=self.backlog,
            )


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
