"""
What the chat service reports in C{--metrics} besides what every stream
service does: its users and its rooms, read from its hub at each scrape.
"""

from __future__ import annotations

from collections.abc import Callable

from netlab.chat._hub import ChatHub

__all__ = ["chatGauges"]


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
