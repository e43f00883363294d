"""
Which pages may open the chat's WebSocket: the C{Origin} a browser sends
with the request, checked against the request's C{Host} or the origins the
server was given (C{--web-origin}).  Pure functions, no I/O.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["normalizeOrigin", "originAllowed"]


def normalizeOrigin(origin: str) -> str | None:
    """
    @param origin: an C{Origin} header's value, or a C{--web-origin}.
    @return: C{scheme://host:port} in lower case, the port given even if
        it is the scheme's default; C{None} if C{origin} is not the origin
        of an C{http} or C{https} page (C{null}, a path...).
    """
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if (
        scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        return None
    if port is None:
        port = 443 if scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _hostAndPort(host: str, secure: bool) -> tuple[str, int] | None:
    try:
        parts = urlsplit("//" + host.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port if port is not None else (443 if secure else 80)


def originAllowed(
    origin: str, host: str | None, secure: bool, allowed: frozenset[str]
) -> bool:
    """
    Whether a browser showing a page of C{origin} may open the chat's
    WebSocket: another site's page must not drive its visitors' browsers
    into the chat.

    @param origin: the request's C{Origin}.
    @param host: the request's C{Host}, if it has one.
    @param secure: whether the request came over TLS (the default port of
        C{Host} is then 443, not 80).
    @param allowed: the origins allowed (see L{normalizeOrigin}); if
        empty, the one whose host and port are C{Host}'s.
    """
    normal = normalizeOrigin(origin)
    if normal is None:
        return False
    if allowed:
        return normal in allowed
    if host is None:
        return False
    asked = _hostAndPort(host, secure)
    parts = urlsplit(normal)
    return asked is not None and asked == (parts.hostname, parts.port)
