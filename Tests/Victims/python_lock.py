"""Blocks the main thread on a threading.Lock that it already holds."""
import os
import threading

lock = threading.Lock()
lock.acquire()
print(f"ready {os.getpid()} 0", flush=True)
lock.acquire()
