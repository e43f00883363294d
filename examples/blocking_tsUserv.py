"""
The classic UDP timestamp server (tsUserv), blocking, in plain socket: each
datagram is answered with one datagram, C{[<ctime>] <data>}, to the address
it came from.

    python examples/blocking_tsUserv.py [PORT [INTERFACE]]

(defaults: 21567, 127.0.0.1; 0 picks a free port; Ctrl-C stops it.)

UDP keeps message boundaries, so there is no framing problem here, and one
loop serves every client, since no datagram waits on another.  What is wrong
with it, on purpose:

- It answers whatever address a datagram claims to come from, and that
  address can be forged: anyone can aim its replies at a third party (a
  reflector), or at another such server, which answers back, for ever (a
  loop).  netlab's tsUserv refuses such sources and caps its rate.
- recvfrom(1024) silently drops the end of a longer datagram.
"""

import signal
import socket
import sys
import time

DEFAULT_PORT = 21567
BUFSIZ = 1024


def serve(server):
    while True:
        data, address = server.recvfrom(BUFSIZ)  # the rest of it is lost
        stamp = time.ctime().encode()
        server.sendto(b"[%s] %s" % (stamp, data), address)  # to anyone


def main(port=str(DEFAULT_PORT), interface="127.0.0.1"):
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind((interface, int(port)))
        port = server.getsockname()[1]
        print(f"blocking_tsUserv: waiting for datagrams on {port}...", flush=True)
        try:
            serve(server)
        except KeyboardInterrupt:
            print("blocking_tsUserv: stopped", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
