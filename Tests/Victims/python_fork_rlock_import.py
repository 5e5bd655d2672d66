"""Forks while one thread holds an RLock and another is importing a module, twice: one child
then takes the RLock, the other imports the module. Neither can ever proceed: the owner of each
lock is a thread of the parent, which the children do not have.

Prints `thread NAME IDENT TID` for the parent's threads, `child KIND PID` for each child, then
`ready PID` once both children are blocked (the test checks that from /proc).
"""
import os
import signal
import sys
import threading
import time
import warnings

# A victim whose test died without killing it ends by itself (SIGALRM's default action).
signal.alarm(300)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
warnings.simplefilter("ignore")  # 3.12+: forking a process with threads is deprecated

MAIN_LOCK = threading.Lock()
MAIN_LOCK.acquire()
IMPORT_GATE = threading.Event()
FOREVER = threading.Event()


class Registry:
    def __init__(self):
        self._lock = threading.RLock()

    def hold(self, started):
        with self._lock:
            started.set()
            FOREVER.wait()

    def update(self):
        with self._lock:
            pass


REGISTRY = Registry()


def importer():
    import python_slowmod  # noqa: F401


def fork(kind, work):
    pid = os.fork()
    if pid == 0:
        signal.alarm(300)  # a forked child has no alarm pending
        try:
            work()
        finally:
            os._exit(0)
    print(f"child {kind} {pid}", flush=True)


def main():
    holding = threading.Event()
    holder = threading.Thread(target=REGISTRY.hold, args=(holding,), name="rlock-holder", daemon=True)
    holder.start()
    holding.wait()
    loader = threading.Thread(target=importer, name="loader", daemon=True)
    loader.start()
    while "python_slowmod" not in sys.modules:
        time.sleep(0.01)
    for thread in (holder, loader):
        print("thread", thread.name, thread.ident, thread.native_id, flush=True)
    fork("rlock", REGISTRY.update)
    fork("import", importer)
    print(f"ready {os.getpid()}", flush=True)
    MAIN_LOCK.acquire()


main()
