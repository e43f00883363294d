"""
Logging that cannot be turned into a flood by a peer.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger


class RateLimitedLog:
    """
    Emits at most one warning per interval; the ones in between are counted,
    and the count is reported with the next warning that gets through.

    Use one per kind of event that a peer can trigger at will (an over-long
    line, an oversize datagram), so that the log shows every kind of
    trouble without one line per bad packet.
    """

    def __init__(
        self, log: Logger, clock: IReactorTime, interval: float = 10.0
    ) -> None:
        """
        @param log: where the warnings go.
        @param clock: the clock that paces them.
        @param interval: seconds between two warnings.
        """
        self._log = log
        self._clock = clock
        self.interval = interval
        self._nextAt = float("-inf")
        self.suppressed = 0
        self.total = 0

    def warn(self, format: str, **fields: Any) -> None:
        """
        Log C{format} with C{fields} unless a warning went out less than
        C{interval} seconds ago.  The event carries a C{suppressed} field:
        how many events were not logged since the last one that was.
        """
        self.total += 1
        now = self._clock.seconds()
        if now < self._nextAt:
            self.suppressed += 1
            return
        self._nextAt = now + self.interval
        suppressed, self.suppressed = self.suppressed, 0
        self._log.warn(
            format + " ({suppressed} more like this not logged since the last one)",
            suppressed=suppressed,
            interval=self.interval,
            **fields,
        )
