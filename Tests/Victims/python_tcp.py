"""A TCP peer outside the diagnosed tree, and a client that waits on it.

  server DELAY   listens on 127.0.0.1 (a free port), prints "ready <pid> <port>", and answers each
                 connection after DELAY seconds.
  client PORT    connects, waits for the answer (a recv with no timeout) and prints it.
"""
import os
import socket
import sys
import threading
import time


def serve(delay):
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"ready {os.getpid()} {listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=answer, args=(conn, delay), daemon=True).start()


def answer(conn, delay):
    time.sleep(delay)
    conn.sendall(b"answered\n")
    conn.close()


def client(port):
    with socket.create_connection(("127.0.0.1", port)) as conn:
        print(conn.recv(100).decode().strip(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(float(sys.argv[2]))
    else:
        client(int(sys.argv[2]))
