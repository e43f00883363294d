"""
Tests for L{netlab.chat._origin}: which pages may open the chat's
WebSocket.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from netlab.chat._origin import normalizeOrigin, originAllowed


class NormalizeOriginTests(SynchronousTestCase):
    """
    L{normalizeOrigin}: an origin as C{scheme://host:port}, or C{None}.
    """

    def test_origins(self) -> None:
        """
        The scheme and host are in lower case, and the port is given even
        when it is the scheme's default.
        """
        for origin, normal in [
            ("http://chat.example", "http://chat.example:80"),
            ("https://Chat.Example", "https://chat.example:443"),
            ("http://chat.example:8080", "http://chat.example:8080"),
            ("HTTPS://chat.example:8443/", "https://chat.example:8443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ]:
            self.assertEqual(normalizeOrigin(origin), normal, origin)

    def test_notOrigins(self) -> None:
        """
        What is not the origin of an HTTP or HTTPS page is C{None}.
        """
        for origin in [
            "null",
            "",
            "chat.example",
            "file:///etc/passwd",
            "ftp://chat.example",
            "http://",
            "http://chat.example/path",
            "http://chat.example?q",
            "http://user@chat.example",
            "http://chat.example:99999",
            "http://chat.example:port",
            "http://[::1",
        ]:
            self.assertIsNone(normalizeOrigin(origin), origin)


class OriginAllowedTests(SynchronousTestCase):
    """
    L{originAllowed}: by default, a page whose host and port are the
    request's C{Host}; otherwise, the origins given.
    """

    def test_sameHostAndPort(self) -> None:
        """
        An origin with the host and port of C{Host} is allowed, whatever
        the case, the scheme's default port counting as given.
        """
        for origin, host, secure in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080", False),
            ("http://Chat.Example:8080", "chat.example:8080", False),
            ("http://chat.example", "chat.example", False),
            ("http://chat.example", "chat.example:80", False),
            ("https://chat.example", "chat.example", True),
            ("https://chat.example:443", "chat.example", True),
            ("http://[::1]:8080", "[::1]:8080", False),
        ]:
            self.assertTrue(
                originAllowed(origin, host, secure, frozenset()), (origin, host)
            )

    def test_otherHostOrPort(self) -> None:
        """
        Another host, another port, a page that is no origin, or a request
        without C{Host}, is refused.
        """
        for origin, host, secure in [
            ("http://evil.example:8080", "127.0.0.1:8080", False),
            ("http://127.0.0.1:8081", "127.0.0.1:8080", False),
            ("http://chat.example", "chat.example", True),
            ("https://chat.example", "chat.example", False),
            ("null", "chat.example", False),
            ("http://chat.example", None, False),
            ("http://chat.example", "", False),
            ("http://chat.example", "chat.example:x", False),
        ]:
            self.assertFalse(
                originAllowed(origin, host, secure, frozenset()), (origin, host)
            )

    def test_given(self) -> None:
        """
        With origins given, those are allowed, and only those: not even the
        request's own host.
        """
        allowed = frozenset({"https://chat.example:443"})
        self.assertTrue(
            originAllowed("https://chat.example", "10.0.0.1:8080", False, allowed)
        )
        self.assertFalse(
            originAllowed("http://10.0.0.1:8080", "10.0.0.1:8080", False, allowed)
        )
        self.assertFalse(
            originAllowed("https://evil.example", "chat.example", True, allowed)
        )
