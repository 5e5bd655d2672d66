"""Fork-after-threads scenarios with multiprocessing. Prints "ready <parent pid> <child pid>".

  fork-lock   a thread holds a threading.Lock while a fork-context Process is started; the child
              takes the lock and hangs.
  pool-lock [N]  the same with a fork-context Pool(N) (default 2) whose tasks take the lock.
  pool-lock-ticking  pool-lock, and the parent keeps a thread that wakes every 0.5 s (a progress
              bar's monitor, a heartbeat).
  pool-lock-ticking-mixed  the same, its thread going round three timed waits: a sleep, an
              event's wait with a timeout, a select with a timeout.
  spawn       threads in the parent, a spawn-context Process that sleeps: no hazard.
"""
import multiprocessing
import os
import select
import sys
import threading
import time

lock = threading.Lock()
held = threading.Event()


def holder():
    with lock:
        held.set()
        time.sleep(3600)


def tick():
    while True:
        time.sleep(0.5)


def tick_mixed():
    event = threading.Event()
    while True:
        time.sleep(0.07)
        event.wait(0.05)
        select.select([], [], [], 0.06)


def take_lock(_=None):
    with lock:
        return 1


def main(mode, workers=2):
    threading.Thread(target=holder, name="holder", daemon=True).start()
    held.wait()
    threading.Thread(target=time.sleep, args=(3600,), name="idle", daemon=True).start()
    if mode == "fork-lock":
        child = multiprocessing.get_context("fork").Process(target=take_lock)
        child.start()
        print(f"ready {os.getpid()} {child.pid}", flush=True)
        child.join()
    elif mode in ("pool-lock", "pool-lock-ticking", "pool-lock-ticking-mixed"):
        if mode != "pool-lock":
            target = tick if mode == "pool-lock-ticking" else tick_mixed
            threading.Thread(target=target, name="monitor", daemon=True).start()
        pool = multiprocessing.get_context("fork").Pool(workers)
        result = pool.map_async(take_lock, range(4 * workers), chunksize=1)
        print(f"ready {os.getpid()} {pool._pool[0].pid}", flush=True)
        result.wait()
    elif mode == "spawn":
        child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(3600,))
        child.start()
        print(f"ready {os.getpid()} {child.pid}", flush=True)
        child.join()


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:]))
