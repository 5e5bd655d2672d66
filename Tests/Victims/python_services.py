"""Healthy Python trees that must not be called stuck. Prints "ready <pid> <helper>".

  asyncio-idle   an asyncio service waiting for SIGTERM through loop.add_signal_handler: it sits
                 in epoll_wait on its own socketpair, which only its signal handler writes.
  event-sigterm  a single thread waiting on threading.Event, set by its SIGTERM handler.
  asyncio-sigint an asyncio service whose only way out is Ctrl-C: loop.add_signal_handler(SIGINT).
  fork-sigterm   a threaded parent forks a child that waits on an Event of its own, set by its
                 SIGTERM handler: a hazard (forked with threads), not an inherited lock.
  pool-clean     a fork-context Pool(4) started by a single-threaded parent, whose tasks sleep:
                 the pool's handler threads start after its workers are forked.
  pool-quick     the same pool, whose tasks return at once; then it exits.
  pool-maxtasks  a fork-context Pool(2, maxtasksperchild=2) that ran three tasks, so that (most
                 often) one worker was replaced by design and one is an original, while the main
                 thread waits for a TCP client: an idle server.
"""
import asyncio
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time


def main(mode):
    if mode == "asyncio-idle":
        loop = asyncio.new_event_loop()
        loop.add_signal_handler(signal.SIGTERM, loop.stop)
        loop.call_soon(lambda: print(f"ready {os.getpid()} 0", flush=True))
        loop.run_forever()
    elif mode == "event-sigterm":
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print(f"ready {os.getpid()} 0", flush=True)
        stop.wait()
    elif mode == "asyncio-sigint":
        loop = asyncio.new_event_loop()
        loop.add_signal_handler(signal.SIGINT, loop.stop)
        loop.call_soon(lambda: print(f"ready {os.getpid()} 0", flush=True))
        loop.run_forever()
    elif mode == "fork-sigterm":
        threading.Thread(target=time.sleep, args=(3600,), name="bg", daemon=True).start()
        pid = os.fork()
        if pid == 0:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            print(f"ready {os.getppid()} {os.getpid()}", flush=True)
            stop.wait()
            os._exit(0)
        os.waitpid(pid, 0)
    elif mode == "pool-clean":
        pool = multiprocessing.get_context("fork").Pool(4)
        result = pool.map_async(time.sleep, [3600] * 4, chunksize=1)
        print(f"ready {os.getpid()} {pool._pool[0].pid}", flush=True)
        result.wait()
    elif mode == "pool-maxtasks":
        pool = multiprocessing.get_context("fork").Pool(2, maxtasksperchild=2)
        pool.map(time.sleep, [0.3, 0.3], chunksize=1)
        pool.map(abs, [1], chunksize=1)
        time.sleep(0.5)
        listener = socket.create_server(("127.0.0.1", 0))
        print(f"ready {os.getpid()} 0", flush=True)
        listener.accept()
    elif mode == "pool-quick":
        with multiprocessing.get_context("fork").Pool(4) as pool:
            print(sum(pool.map(abs, range(-8, 8))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
