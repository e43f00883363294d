"""
Tests for L{netlab._text}: text made safe to show on a terminal.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from netlab._text import UNSAFE, cleanText
from netlab.chat import _wire


class CleanTextTests(SynchronousTestCase):
    """
    Tests for L{cleanText}.
    """

    def test_controls(self) -> None:
        """
        Escapes, bells, carriage returns, DEL, C1 controls and bidirectional
        overrides become U+FFFD; a tab becomes a space; the rest is kept.
        """
        self.assertEqual(
            cleanText("\x1b[2J\x07\r\x7f\x9b\u202e\u2066a\tb café 中"),
            "\ufffd[2J" + "\ufffd" * 6 + "a b café 中",
        )

    @given(st.text())
    def test_nothingUnsafeLeft(self, text: str) -> None:
        """
        Whatever the text, nothing of L{UNSAFE} but the space is left, and
        the length is kept.
        """
        cleaned = cleanText(text)
        self.assertEqual(len(cleaned), len(text))
        self.assertFalse(any(ord(each) in UNSAFE for each in cleaned))

    def test_theChatsOwn(self) -> None:
        """
        The chat's wire format cleans with the same function.
        """
        self.assertIs(_wire.cleanText, cleanText)
