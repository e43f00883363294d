"""
Flow control shared by every stream service.
"""

from __future__ import annotations

from twisted.internet.interfaces import IConsumer, IPushProducer, ITransport


def pauseReadingWhenBacklogged(transport: ITransport) -> None:
    """
    Make a connection stop reading from its peer while its own output is
    backed up, and start again once the output has drained.

    The transport is registered as a streaming producer for itself: when
    its write buffer passes the transport's limit (64 KiB for Twisted's TCP
    transports) Twisted calls its C{pauseProducing}, which stops reading, and
    when the buffer has been written out it calls C{resumeProducing}.  So a
    peer that sends without reading cannot make the server hold more than
    that buffer plus one read's worth of replies.

    Transports that are not producers and consumers are left alone.

    @param transport: a connection's transport, from C{connectionMade}.
    """
    if IPushProducer.providedBy(transport) and IConsumer.providedBy(transport):
        transport.registerProducer(transport, True)  # type: ignore[attr-defined]
