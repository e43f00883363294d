"""
What the chat service reports in C{--metrics} besides what every stream
service does: its users and its rooms, read from its hub at each scrape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netlab.chat._hub import ChatHub

__all__ = ["busGauges", "chatGauges"]


def chatGauges(hub: ChatHub) -> list[tuple[str, str, Callable[[], float]]]:
    """
    The gauges of a chat service, for
    L{netlab._metrics.ServiceCollector.addGauge} (labelled with the
    service's name)::

        for name, documentation, read in chatGauges(hub):
            collector.addGauge(name, documentation, read, {"service": "chat"})

    @param hub: the service's hub.
    @return: each gauge's name, help text, and the function that reads it:
        C{netlab_chat_users} (participants with a nickname) and
        C{netlab_chat_rooms} (rooms that exist).
    """
    return [
        (
            "netlab_chat_users",
            "Chat users with a nickname.",
            lambda: len(hub.participants()),
        ),
        ("netlab_chat_rooms", "Chat rooms that exist.", lambda: len(hub.rooms())),
    ]


def busGauges(bus: Any) -> list[tuple[str, str, Callable[[], float]]]:
    """
    The gauges of a chat node with C{--bus}, for
    L{netlab.service.IServiceContext.addGauge}.

    @param bus: the node's L{netlab.chat._bus.ChatBus}.
    @return: each gauge's name, help text, and the function that reads it.
    """
    return [
        (
            "netlab_chat_bus_connected",
            "1 while this chat node has Redis, 0 while it is cut off.",
            lambda: float(bus.connected),
        ),
        (
            "netlab_chat_bus_published",
            "Entries this chat node has published on the bus.",
            lambda: bus.published,
        ),
        (
            "netlab_chat_bus_delivered",
            "Entries this chat node has read from the bus and applied.",
            lambda: bus.delivered,
        ),
        (
            "netlab_chat_bus_skipped",
            "Entries read from the bus and skipped as bad.",
            lambda: bus.skipped,
        ),
        (
            "netlab_chat_bus_duplicates",
            "Entries read from the bus twice (published again after a reply "
            "lost with the connection) and applied once.",
            lambda: bus.duplicates,
        ),
        (
            "netlab_chat_bus_reconnects",
            "Times this chat node got Redis back after losing it.",
            lambda: bus.reconnects,
        ),
        (
            "netlab_chat_bus_lag",
            "Entries behind the bus's end, at least: 0 once this chat node's "
            "last read was not full, the size of a full read while it catches up.",
            lambda: bus.behind,
        ),
        (
            "netlab_chat_bus_pending",
            "Entries waiting to be published (while Redis is unreachable).",
            lambda: bus.pendingCount(),
        ),
        (
            "netlab_chat_bus_nodes",
            "Chat nodes seen with users, this one included.",
            lambda: bus.nodesSeen(),
        ),
    ]
