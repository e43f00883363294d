"""
Text from elsewhere made safe to show on a terminal: one table of what a
terminal would act on, for the chat's wire format and for the interactive
client commands alike.
"""

from __future__ import annotations

__all__ = ["UNSAFE", "cleanText"]

UNSAFE = {
    **dict.fromkeys(range(0x00, 0x20), "\ufffd"),
    0x7F: "\ufffd",
    **dict.fromkeys(range(0x80, 0xA0), "\ufffd"),
    **dict.fromkeys(range(0x202A, 0x202F), "\ufffd"),
    **dict.fromkeys(range(0x2066, 0x206A), "\ufffd"),
    0x09: " ",
}
"""
What L{cleanText} replaces, as a C{str.translate} table: every C0 and C1
control, DEL, and the Unicode bidirectional overrides and isolates (which can
make text read differently from what it is) become U+FFFD, so that no escape
sequence (ESC, CSI, OSC...), bell, backspace or bare CR reaches a terminal; a
tab becomes a space.  For variants that keep some of them.
"""


def cleanText(text: str) -> str:
    """
    Make text safe to show on a terminal: tabs become spaces, every other
    control character (C0, DEL, C1: so ESC, CSI, OSC, bell, backspace, bare
    CR...) and every bidirectional override becomes U+FFFD.

    @param text: decoded text, from a user or a server.
    @return: the text, same length, with nothing a terminal would act on.
    """
    return text.translate(UNSAFE)
