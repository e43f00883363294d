"""
netlab: timestamp, echo and line-chat services for Twisted, with clients,
twistd plugins and test fakes.

The services live in subpackages (L{netlab.timestamp}); errors in
L{netlab.errors}; the twistd plugin's options and service assembly in
L{netlab.tap}.
"""

from netlab._version import __version__

__all__ = ["__version__"]
