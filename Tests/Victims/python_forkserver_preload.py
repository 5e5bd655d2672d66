"""Preloaded into multiprocessing's fork server: starts a thread that holds a lock for good, as a
library's background thread might (a metrics flusher, a connection pool's reaper)."""
import threading
import time

LOCK = threading.Lock()
_held = threading.Event()


def _hold():
    with LOCK:
        _held.set()
        time.sleep(3600)


threading.Thread(target=_hold, name="preload-holder", daemon=True).start()
_held.wait()
