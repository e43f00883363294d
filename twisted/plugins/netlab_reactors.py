"""
netlab's reactor for twistd and twist: C{twistd --reactor uvloop}.
"""

from twisted.application.reactors import Reactor

uvloop = Reactor(
    "uvloop",
    "netlab.uvloopreactor",
    "asyncio reactor on uvloop's event loop (needs: pip install uvloop)",
)
