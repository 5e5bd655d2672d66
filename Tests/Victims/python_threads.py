"""Named threads blocked in known places, one busy thread, and the main thread blocked on a lock.

Prints one `thread NAME IDENT TID` line per thread, `rlock-owner IDENT` for the thread holding the
RLock, then `ready PID`. Everything blocks without a timeout, so nothing moves until it is killed.
"""
import os
import signal
import queue
import sys
import threading
import time

# A victim whose test died without killing it ends by itself (SIGALRM's default action).
signal.alarm(300)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MAIN_LOCK = threading.Lock()
MAIN_LOCK.acquire()
HELD = threading.Lock()
HELD.acquire()
IMPORT_GATE = threading.Event()
FOREVER = threading.Event()
lines = []
lines_lock = threading.Lock()


def report(*words):
    with lines_lock:
        lines.append(" ".join(str(w) for w in words))


class Registry:
    """Holds an RLock the way libraries do: as an attribute."""

    def __init__(self):
        self._lock = threading.RLock()

    def hold(self, started):
        with self._lock:
            report("rlock-owner", threading.get_ident())
            started.set()
            FOREVER.wait()

    def update(self):
        self._lock.acquire()


REGISTRY = Registry()


def lock_waiter():
    with HELD:
        pass


def condition_waiter():
    condition = threading.Condition()
    with condition:
        condition.wait()


def event_waiter():
    FOREVER.wait()


def queue_getter():
    jobs = queue.Queue()
    jobs.get()


def semaphore_waiter():
    semaphore = threading.Semaphore(0)
    semaphore.acquire()


def importer():
    import python_slowmod  # noqa: F401  (blocks at module level until IMPORT_GATE is set)


def spin():
    total = 0
    while True:
        total += 1


def start(name, target, *args):
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def main():
    holding = threading.Event()
    threads = [start("rlock-holder", REGISTRY.hold, holding)]
    holding.wait()
    threads.append(start("rlock-waiter", REGISTRY.update))
    threads.append(start("lock-waiter", lock_waiter))
    threads.append(start("condition-waiter", condition_waiter))
    threads.append(start("event-waiter", event_waiter))
    threads.append(start("queue-getter", queue_getter))
    threads.append(start("semaphore-waiter", semaphore_waiter))
    threads.append(start("import-first", importer))
    # The second import must find the first in progress: wait until the module runs.
    while "python_slowmod" not in sys.modules:
        time.sleep(0.01)
    threads.append(start("import-second", importer))
    threads.append(start("busy", spin))
    for thread in threads:
        while thread.native_id is None:
            time.sleep(0.01)
        report("thread", thread.name, thread.ident, thread.native_id)
    report("thread", threading.current_thread().name, threading.get_ident(), threading.get_native_id())
    report("version", sys.hexversion)
    with lines_lock:
        print("\n".join(lines), flush=True)
    print(f"ready {os.getpid()}", flush=True)
    MAIN_LOCK.acquire()


if sys.version_info < (3, 8):
    raise SystemExit("needs 3.8")
main()
