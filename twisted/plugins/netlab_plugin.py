"""
The twistd / twist plugin for netlab: C{twistd -n netlab tsserv}.
"""

from twisted.application.service import ServiceMaker

netlab = ServiceMaker(
    "netlab",
    "netlab.tap",
    "Timestamp, echo and chat services (netlab).",
    "netlab",
)
