"""
Tests for L{netlab._peer}: how log lines write a peer's address.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from netlab._peer import formatAddress, formatHostPort, formatPeer


class FormatTests(SynchronousTestCase):
    """
    Tests for L{formatAddress}, L{formatHostPort} and L{formatPeer}.
    """

    def test_hostPort(self) -> None:
        """
        IPv4 as C{host:port}, IPv6 in brackets, a host without a port alone.
        """
        self.assertEqual(formatHostPort("192.0.2.7", 40000), "192.0.2.7:40000")
        self.assertEqual(formatHostPort("::1", 40000), "[::1]:40000")
        self.assertEqual(formatHostPort("192.0.2.7", None), "192.0.2.7")

    def test_addresses(self) -> None:
        """
        Twisted's address objects and datagram tuples are written the same
        way, never as their repr.
        """
        for address, expected in [
            (IPv4Address("TCP", "192.0.2.7", 40000), "192.0.2.7:40000"),
            (IPv6Address("TCP", "2001:db8::1", 40000), "[2001:db8::1]:40000"),
            (("192.0.2.7", 53), "192.0.2.7:53"),
            (UNIXAddress(b"/run/netlab.sock"), "unix:/run/netlab.sock"),
            (None, "(unknown)"),
        ]:
            self.assertEqual(formatAddress(address), expected)

    def test_peer(self) -> None:
        """
        L{formatPeer} writes a transport's peer, or says it is unknown.
        """
        transport = StringTransport(peerAddress=IPv4Address("TCP", "::1", 1))
        self.assertEqual(formatPeer(transport), "[::1]:1")
        self.assertEqual(formatPeer(None), "(unknown)")
