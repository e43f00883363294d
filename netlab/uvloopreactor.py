"""
Twisted's asyncio reactor on uvloop's event loop: C{twistd --reactor uvloop}.

uvloop is not a dependency of netlab: C{pip install uvloop} first (or
C{pip install 'netlab[uvloop]'}).  Twisted's own C{asyncio} reactor runs
on the standard library's event loop; this one runs the same reactor
(C{twisted.internet.asyncioreactor.AsyncioSelectorReactor}) on uvloop's,
which is also the loop C{asyncio} code in the process then gets.

To install it from your own program, before anything imports the global
reactor::

    from netlab import uvloopreactor
    uvloopreactor.install()
"""

from __future__ import annotations

import asyncio

__all__ = ["install"]


def install() -> None:
    """
    Install the asyncio reactor on a new uvloop event loop, and make that
    loop the current one.

    @raise ImportError: if uvloop is not installed.
    @raise twisted.internet.error.ReactorAlreadyInstalledError: if a reactor
        is installed already.
    """
    import uvloop
    from twisted.internet import asyncioreactor

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)
