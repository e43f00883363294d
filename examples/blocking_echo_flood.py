"""
A client that does not read, in plain socket: it sends to an echo server
without reading the echoes, until a send waits for STALL seconds (the
server has stopped taking data), says how much got through, then closes its
sending side and reads every byte back, checking each.

    python examples/blocking_echo_flood.py [HOST [PORT [MEGABYTES]]]

(defaults: 127.0.0.1, 21568, 64.)  Against:  python examples/echo_server.py
or  twistd -n netlab echo.

A flow-controlled server stops reading from this client once its own
bounded buffer is full, so what "got through" is only what the kernel's
socket buffers and the server's buffer hold: a few megabytes at most,
however much the client sends.  A server that appended every echo to an
output buffer of its own (the usual select() loop) would take it all in,
and hold it in memory, for as long as the client does not read.
"""

import socket
import sys

DEFAULT_PORT = 21568
STALL = 2.0  # seconds a send may wait before we say the server stopped
PATTERN = bytes(range(256)) * 256  # 64 KiB of a known, repeating content


def flood(client, total):
    """
    Send up to C{total} bytes of the pattern without reading.

    @return: the number of bytes sent, and whether the sends stalled.
    """
    client.settimeout(STALL)
    sent = 0
    while sent < total:
        chunk = PATTERN[sent % 256 :][: total - sent]
        try:
            sent += client.send(chunk)  # may take only part of the chunk
        except TimeoutError:
            return sent, True
    return sent, False


def readBack(client, expected):
    """
    Read until the server closes, checking every byte against the pattern.

    @return: whether exactly C{expected} bytes of the pattern came back.
    """
    client.settimeout(30.0)
    received = 0
    while data := client.recv(32768):  # at most half the pattern
        if data != PATTERN[received % 256 :][: len(data)]:
            return False
        received += len(data)
    return received == expected


def main(host="127.0.0.1", port=str(DEFAULT_PORT), megabytes="64"):
    try:
        client = socket.create_connection((host, int(port)), timeout=10)
    except OSError as e:
        raise SystemExit(f"blocking_echo_flood: cannot connect: {e}") from None
    with client:
        sent, stalled = flood(client, int(megabytes) * 2**20)
        if stalled:
            print(f"blocking_echo_flood: the server stopped reading after {sent} bytes")
        else:
            print(f"blocking_echo_flood: the server took all {sent} bytes")
        client.shutdown(socket.SHUT_WR)  # nothing more: echo the rest, close
        if not readBack(client, sent):
            raise SystemExit("blocking_echo_flood: the echo differs")
        print(f"blocking_echo_flood: all {sent} bytes came back, in order")


if __name__ == "__main__":
    main(*sys.argv[1:])
