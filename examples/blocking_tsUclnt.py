"""
The classic UDP timestamp client (tsUclnt), blocking, in plain socket: a
"> " prompt; each line typed is sent as one datagram and the reply printed;
an empty line or end of input quits.

    python examples/blocking_tsUclnt.py [HOST [PORT]]

(defaults: 127.0.0.1, 21567.)

What is wrong with it, on purpose:

- UDP may lose a datagram, the request or the reply, and this client never
  sends again.  The classic waits for ever; this one at least gives up after
  TIMEOUT seconds.  netlab's client (tsUclnt.py) retransmits, a bounded
  number of times.
- It takes the first datagram that arrives as the reply, whoever sent it.
"""

import socket
import sys

DEFAULT_PORT = 21567
BUFSIZ = 1024
TIMEOUT = 5.0


def main(host="127.0.0.1", port=str(DEFAULT_PORT)):
    server = (host, int(port))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(TIMEOUT)
        while True:
            try:
                data = input("> ")
            except EOFError:
                break
            if not data:
                break
            client.sendto(data.encode(), server)
            try:
                reply, _ = client.recvfrom(BUFSIZ)
            except TimeoutError:
                raise SystemExit(f"blocking_tsUclnt: no reply in {TIMEOUT} s") from None
            except ConnectionRefusedError:  # ICMP port unreachable
                raise SystemExit("blocking_tsUclnt: nothing listens there") from None
            print(reply.decode(errors="replace"))


if __name__ == "__main__":
    main(*sys.argv[1:])
