"""
How netlab writes a peer's address in its log lines: C{host:port},
C{[v6host]:port} or C{unix:/path}, never an address object's repr.
"""

from __future__ import annotations

from typing import Any

__all__ = ["formatAddress", "formatHostPort", "formatPeer"]


def formatHostPort(host: str, port: int | None) -> str:
    """
    @return: C{host:port}, with an IPv6 host in brackets; C{host} alone if
        C{port} is C{None}.
    """
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def formatAddress(address: Any) -> str:
    """
    @param address: an C{IAddress} (IPv4, IPv6 or UNIX), a C{(host, port)}
        tuple as datagram protocols get, or C{None}.
    @return: the address as netlab's log lines write it.
    """
    if isinstance(address, tuple) and len(address) >= 2:
        return formatHostPort(str(address[0]), address[1])
    host = getattr(address, "host", None)
    if isinstance(host, str):
        return formatHostPort(host, getattr(address, "port", None))
    if address is None:
        return "(unknown)"
    name = getattr(address, "name", None)
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    if isinstance(name, str):
        return f"unix:{name}"
    return str(address)


def formatPeer(transport: Any) -> str:
    """
    @param transport: a connection's transport, or C{None}.
    @return: its peer's address as netlab's log lines write it.
    """
    return formatAddress(transport.getPeer() if transport is not None else None)
