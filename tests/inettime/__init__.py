"""
Tests for L{netlab.inettime}: the daytime and time services.
"""
