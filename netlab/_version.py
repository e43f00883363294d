"""
The version of netlab.
"""

__version__ = "0.1.0"
