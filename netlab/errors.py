"""
Every exception netlab raises on purpose, for servers and clients alike.

Catch L{NetlabError} to handle anything netlab reports; catch a subclass to
handle one kind of failure.  Each exception's C{str()} is one line meant for a
person: it says what went wrong and, where it can, what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ChatError",
    "ConnectFailed",
    "ConnectionClosed",
    "MalformedReply",
    "NetlabError",
    "ProtocolError",
    "RequestTimedOut",
    "ServerError",
    "StartupError",
]


class NetlabError(Exception):
    """
    The base of every exception netlab raises on purpose.
    """


class StartupError(NetlabError):
    """
    A service could not start: for example its port is already in use.
    """


class ProtocolError(NetlabError):
    """
    A peer sent something the protocol does not allow.
    """


class MalformedReply(ProtocolError):
    """
    A server's reply could not be parsed.

    @ivar reply: the bytes that could not be parsed.
    """

    def __init__(self, message: str, reply: bytes = b"") -> None:
        super().__init__(message)
        self.reply = reply


class ServerError(NetlabError):
    """
    The server answered a request with an error instead of a result, for
    example because a line was longer than it accepts.

    @ivar message: the server's explanation, as it sent it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"the server refused the request: {message}")
        self.message = message


class ConnectFailed(NetlabError):
    """
    A client could not connect to the server (refused, unreachable, no such
    host).  The underlying failure is chained as C{__cause__}.
    """


class ConnectionClosed(NetlabError):
    """
    The connection closed before the server answered a request.
    """


class RequestTimedOut(NetlabError, TimeoutError):
    """
    The server did not answer in time.  Also a built-in C{TimeoutError}, so
    code that handles timeouts generically catches it too.
    """


class ChatError(NetlabError):
    """
    A chat server refused a command, or a chat hub refused an action: the
    C{ERR} line of the chat protocol.

    @ivar code: a stable, machine-readable reason, such as C{"nick-taken"},
        C{"nick-invalid"}, C{"room-invalid"}, C{"no-such-nick"} or
        C{"not-in-room"}.
    @ivar text: the explanation for a person.
    """

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{text} ({code})")
        self.code = code
        self.text = text
