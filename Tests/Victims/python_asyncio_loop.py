"""asyncio event loops, each idle in its own way, in one process: read from outside, their ready
queues, timers, watched fds, wakeup sockets, signal handlers and executors must be what this
script says they are.

Each loop runs in its own thread (the one with signal handlers in the main thread, which
add_signal_handler needs). Before "ready PID" it prints, for each loop:

  loop NAME IDENT TID WAKEUP_FD   the loop's thread and its wakeup socket (loop._ssock.fileno())
  timer NAME WHEN                 the loop.time() its one live timer is due at
  listen NAME FD / conn NAME FD   the server's listening socket and its one accepted connection

Scenarios:
  idle    one task awaits an Event: no timer, no callback; only the wakeup socket is watched
  sleep   one task sleeps for an hour (one timer); the default executor ran once (one thread)
  server  asyncio.start_server on 127.0.0.1 port 0, one client connected and silent
  ready   the loop is stuck in a callback (a threading.Event that is never set) with 73
          callbacks queued behind it (the last one cancelled), a timer two hours away and a
          cancelled one after it
  signals (main thread) add_signal_handler(SIGTERM), add_signal_handler(SIGUSR1), an Event awaited
"""
import asyncio
import os
import signal
import socket
import sys
import threading

lines = []
lines_lock = threading.Lock()
set_up = []


def say(*words):
    with lines_lock:
        lines.append(" ".join(str(w) for w in words))


def announce(name, loop):
    say("loop", name, threading.get_ident(), threading.get_native_id(), loop._ssock.fileno())


def first_ready():
    pass


def filler():
    pass


def far_away():
    pass


def never():
    pass


class Worker:
    def second(self):
        pass

    def on_usr1(self):
        pass


def on_term():
    pass


async def idle(done):
    loop = asyncio.get_running_loop()
    announce("idle", loop)
    event = asyncio.Event()
    done.set()
    await event.wait()


async def sleep(done):
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, first_ready)
    announce("sleep", loop)
    say("timer", "sleep", repr(loop.time() + 3600))
    done.set()
    await asyncio.sleep(3600)


async def server(done):
    loop = asyncio.get_running_loop()
    connected = asyncio.Event()
    held = []

    async def handle(reader, writer):
        held.append(writer)
        say("conn", "server", writer.get_extra_info("socket").fileno())
        connected.set()
        await reader.read()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    address = listening.sockets[0].getsockname()
    say("listen", "server", listening.sockets[0].fileno())
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setblocking(False)
    client.connect_ex(address)
    held.append(client)
    await connected.wait()
    announce("server", loop)
    done.set()
    await asyncio.Event().wait()


async def ready(done):
    loop = asyncio.get_running_loop()
    worker = Worker()

    def blocker():
        loop.call_soon(first_ready)
        loop.call_soon(worker.second)
        loop.call_soon(print)
        handles = [loop.call_soon(filler) for _ in range(70)]
        handles[-1].cancel()
        announce("ready", loop)
        done.set()
        threading.Event().wait()

    timer = loop.call_later(7200, far_away)
    say("timer", "ready", repr(timer.when()))
    loop.call_later(9000, never).cancel()
    loop.call_soon(blocker)
    await asyncio.Event().wait()


def in_thread(scenario):
    done = threading.Event()
    set_up.append(done)
    threading.Thread(target=lambda: asyncio.run(scenario(done)), name=scenario.__name__, daemon=True).start()
    return done


async def signals():
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, on_term)
    loop.add_signal_handler(signal.SIGUSR1, Worker().on_usr1)
    announce("signals", loop)
    for line in lines:
        print(line)
    print(f"ready {os.getpid()}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    for scenario in (idle, sleep, server, ready):
        in_thread(scenario)
    for done in set_up:
        done.wait()
    asyncio.run(signals())
