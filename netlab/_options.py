"""
What the command lines share: option value checks (for twistd's and the
client's options alike), and the endpoint a client's options name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from twisted.internet.endpoints import HostnameEndpoint, clientFromString
from twisted.internet.interfaces import IStreamClientEndpoint

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


def clientEndpoint(reactor: Any, options: Mapping[str, Any]) -> IStreamClientEndpoint:
    """
    The endpoint that C{--connect}, or else C{--host} and C{--port}, name.

    @raise NetlabError: if C{--connect} is not a client endpoint string.
    """
    if options["connect"]:
        try:
            return cast(
                IStreamClientEndpoint, clientFromString(reactor, options["connect"])
            )
        except Exception as e:
            raise NetlabError(
                f"--connect {options['connect']}: not a client endpoint string ({e})"
            ) from None
    return HostnameEndpoint(reactor, options["host"], options["port"])
