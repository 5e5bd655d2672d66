"""Threads waiting inside threading and queue objects, and one on a lock its frames do not reach.

Prints `thread NAME IDENT TID` per thread, then `ready PID` once all have started (the test
checks from /proc that they are blocked).
"""
import os
import queue
import signal
import threading
import time

signal.alarm(300)  # a victim whose test died without killing it ends by itself

JOBS = queue.Queue()
TASKS = queue.SimpleQueue()
STARTED = threading.Event()
SLOTS = threading.Semaphore(0)
CHANGED = threading.Condition()
HIDDEN = threading.Lock()
HIDDEN.acquire()
DEEP = {"a": {"b": {"c": {"d": {"e": HIDDEN}}}}}
del HIDDEN


class Job:
    def __init__(self):
        self._done = threading.Event()

    def wait(self):
        self._done.wait()


JOB = Job()


def take():
    JOBS.get()


def simple():
    TASKS.get()


def changed():
    with CHANGED:
        CHANGED.wait()


def deep():
    DEEP["a"]["b"]["c"]["d"]["e"].acquire()


def main():
    targets = [("queue-get", take), ("event", STARTED.wait), ("semaphore", SLOTS.acquire),
               ("condition", changed), ("job", JOB.wait), ("deep", deep), ("simple-queue", simple)]
    threads = [threading.Thread(target=target, name=name, daemon=True) for name, target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        print("thread", thread.name, thread.ident, thread.native_id, flush=True)
    print(f"ready {os.getpid()}", flush=True)
    time.sleep(3600)


main()
