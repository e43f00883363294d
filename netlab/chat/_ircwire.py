"""
IRC's wire format (RFC 1459, RFC 2812 and the IRCv3 conventions clients
rely on), as pure functions and frozen values: no I/O.

Only what netlab's IRC listener needs: reading a client's message,
writing the server's, fitting text into IRC's 512-byte line, and CTCP
C{ACTION} (C{/me}).
"""

from __future__ import annotations

import attrs

__all__ = [
    "MAX_LINE",
    "IRCMessage",
    "decodeLine",
    "formatMessage",
    "parseMessage",
    "splitText",
    "unwrapAction",
    "wrapAction",
]

MAX_LINE = 512
"""
The longest IRC line, its CR LF included (RFC 2812, 2.3).
"""


@attrs.frozen
class IRCMessage:
    """
    A message from an IRC client.

    @ivar command: the command, upper case (C{PRIVMSG}, C{NICK}...).
    @ivar params: its parameters, the trailing one (after C{:}) included.
    """

    command: str
    params: tuple[str, ...] = ()


def decodeLine(line: bytes) -> str:
    """
    Decode a line from an IRC client: UTF-8, as modern clients send, or
    else Latin-1, as some older ones are set up to (so a wrong setting gets
    readable text, not an error).  Never raises.
    """
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def parseMessage(line: str) -> IRCMessage | None:
    """
    Parse one line from a client, without its line ending: IRCv3 tags (if
    any) and a prefix (which a client has no business sending) are skipped.

    @return: the message, or C{None} for a line with no command (empty, or
        only a prefix).  Nothing is raised, whatever the text.
    """
    rest = line.lstrip(" ")
    if rest.startswith("@"):
        _, _, rest = rest.partition(" ")
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        _, _, rest = rest.partition(" ")
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        # Only a trailing parameter: no command.
        return None
    rest, colon, trailing = rest.partition(" :")
    words = rest.split()
    if not words:
        return None
    params = words[1:]
    if colon:
        params.append(trailing)
    return IRCMessage(words[0].upper(), tuple(params))


def formatMessage(
    prefix: str, command: str, *params: str, trailing: bool = False
) -> bytes:
    """
    Write one message from the server, CR LF included, never longer than
    IRC's L{MAX_LINE}: the last parameter is written as a trailing one
    (after C{:}) when it has to be (it is empty, has a space, or starts
    with C{:}), and cut, between two characters, if the line would be too
    long (a long message is split with L{splitText} before, so that
    nothing is lost where it matters).

    Middle parameters are words: one that is empty, has a space or a
    control character, or starts with C{:} (an echo of what a client
    sent, say) is written as C{*}, so that it cannot be read as more
    parameters, or as the end of them.  CR, LF and NUL in the last one are
    replaced, so one message is always one line.

    @param prefix: the source, without its C{:}; none if empty.
    @param trailing: whether to write the last parameter as a trailing
        one in any case, as is usual for free text.
    """
    words = [f":{prefix}", command] if prefix else [command]
    if params:
        *middle, last = params
        words += [word if _isWord(word) else "*" for word in middle]
        if "\r" in last or "\n" in last or "\0" in last:
            last = last.replace("\r", "\ufffd").replace("\n", "\ufffd")
            last = last.replace("\0", "\ufffd")
        if trailing or not last or " " in last or last.startswith(":"):
            last = ":" + last
        words.append(last)
    line = " ".join(words).encode("utf-8")
    if len(line) > MAX_LINE - 2:
        cut = MAX_LINE - 2
        while (line[cut] & 0xC0) == 0x80:
            cut -= 1
        line = line[:cut]
    return line + b"\r\n"


def _isWord(word: str) -> bool:
    return bool(word) and word[0] != ":" and " " not in word and word.isprintable()


def splitText(text: str, budget: int) -> list[str]:
    """
    Split text into pieces of at most C{budget} bytes of UTF-8 each, at a
    space where there is one late enough in the piece, never inside a
    character: a long message from a line-protocol user, for IRC users'
    512-byte lines.

    @param budget: bytes each piece may take, at least 4 (one character).
    @return: the pieces, in order; one (perhaps empty) piece if it fits.
    """
    encoded = text.encode("utf-8")
    if len(encoded) <= budget:
        return [text]
    pieces = []
    while len(encoded) > budget:
        cut = budget
        # Back off to the start of a character.
        while cut and (encoded[cut] & 0xC0) == 0x80:
            cut -= 1
        space = encoded.rfind(b" ", 0, cut + 1)
        if space > budget // 2:
            pieces.append(encoded[:space].decode("utf-8"))
            encoded = encoded[space + 1 :]
        else:
            pieces.append(encoded[:cut].decode("utf-8"))
            encoded = encoded[cut:]
    if encoded:
        pieces.append(encoded.decode("utf-8"))
    return pieces


_ACTION = "\x01ACTION"


def wrapAction(text: str) -> str:
    """
    @return: C{text} as a CTCP C{ACTION}, the text of a C{PRIVMSG} that
        IRC clients show as C{* nick text}.
    """
    return f"{_ACTION} {text}\x01"


def unwrapAction(text: str) -> tuple[bool, str] | None:
    """
    Read the text of a C{PRIVMSG} or C{NOTICE} for CTCP.

    @return: C{(False, text)} for ordinary text, C{(True, action)} for a
        CTCP C{ACTION}, and C{None} for any other CTCP request or reply
        (C{VERSION}, C{PING}...), which netlab does not relay.
    """
    if not text.startswith("\x01"):
        return False, text
    body = text[1:].removesuffix("\x01")
    command, _, rest = body.partition(" ")
    if command.upper() == "ACTION":
        return True, rest
    return None
