"""
The classic timestamp server (tsTserv), blocking, in plain socket: accept a
client, answer each recv() with C{[<ctime>] <data>}, until that client
closes; then accept the next one.  No Twisted: this is where the tutorial
starts.

    python examples/blocking_tsTserv.py [PORT [INTERFACE]]

(defaults: 21567, 127.0.0.1; 0 picks a free port; Ctrl-C stops it.)

What is wrong with it, on purpose:

- One client at a time.  While one client is connected, the loop is inside
  its recv(); the next client's connection is accepted by the kernel (it
  waits in the listen backlog) but nothing reads what it sends until the
  first one leaves.  One idle client stops the service for everyone.
- No framing.  TCP carries a stream of bytes, not messages: recv(1024)
  returns whatever has arrived, up to 1024 bytes, which may be part of what
  the client sent or several sends merged.  The server stamps each piece,
  so a long message comes back with several stamps in it.
"""

import signal
import socket
import sys
import time

DEFAULT_PORT = 21567  # the classic exercise's port
BUFSIZ = 1024  # the most one recv() returns


def serve(server):
    while True:
        client, address = server.accept()  # waits for the next client
        print(f"blocking_tsTserv: connected from {address[0]}", flush=True)
        with client:
            try:
                while True:
                    data = client.recv(BUFSIZ)  # waits for this client only
                    if not data:  # b"": the client closed its side
                        break
                    stamp = time.ctime().encode()
                    # sendall, not send: send() may send less than it is given.
                    client.sendall(b"[%s] %s" % (stamp, data))
            except ConnectionError:  # reset by the client: serve the next
                pass


def main(port=str(DEFAULT_PORT), interface="127.0.0.1"):
    # SIGTERM stops the server as Ctrl-C does, with KeyboardInterrupt.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        # Rebind at once after a restart, without waiting for TIME_WAIT.
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((interface, int(port)))
        server.listen(5)  # up to 5 connections wait for accept()
        port = server.getsockname()[1]  # the port chosen, if PORT was 0
        print(f"blocking_tsTserv: waiting for connections on {port}...", flush=True)
        try:
            serve(server)
        except KeyboardInterrupt:
            print("blocking_tsTserv: stopped", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
