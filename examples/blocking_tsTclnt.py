"""
The classic timestamp client (tsTclnt), blocking, in plain socket: a "> "
prompt; each line typed is sent (without its newline) and the reply
printed; an empty line or end of input quits.

    python examples/blocking_tsTclnt.py [HOST [PORT]]

(defaults: 127.0.0.1, 21567.)  It works against blocking_tsTserv.py,
tsTserv.py and  twistd -n netlab tsserv  alike.

What is wrong with it, on purpose:

- No framing.  It takes one recv(1024) for the whole reply; a reply longer
  than that, or one that the network delivers in two pieces, is cut, and
  the rest is printed as the reply to the next line.  Nothing in the bytes
  says where a reply ends.
- It waits for ever: a server that accepts and never answers hangs it.
"""

import socket
import sys

DEFAULT_PORT = 21567
BUFSIZ = 1024


def main(host="127.0.0.1", port=str(DEFAULT_PORT)):
    try:
        client = socket.create_connection((host, int(port)))
    except OSError as e:  # refused, unreachable, no such host
        raise SystemExit(f"blocking_tsTclnt: cannot connect: {e}") from None
    with client:
        while True:
            try:
                data = input("> ")
            except EOFError:  # end of input
                break
            if not data:
                break
            client.sendall(data.encode())
            reply = client.recv(BUFSIZ)  # whatever has arrived, up to 1024
            if not reply:  # the server closed the connection
                break
            print(reply.decode(errors="replace"))


if __name__ == "__main__":
    main(*sys.argv[1:])
