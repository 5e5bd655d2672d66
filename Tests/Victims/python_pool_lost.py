"""multiprocessing.Pool(3) whose worker for task 0 kills itself with SIGTERM mid-task: the pool
replaces the worker, and map() waits forever for task 0's result. Prints "ready <pid> 0".

With the argument "fast" the worker kills itself at once, so that the replacement is often forked
within the same 10 ms clock tick as the pool's first workers."""
import multiprocessing
import os
import signal
import sys
import time

FAST = sys.argv[1:] == ["fast"]


def task(i):
    if i == 0:
        if not FAST:
            time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)
    return i


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(3) as pool:
        print(f"ready {os.getpid()} 0", flush=True)
        pool.map(task, range(3), chunksize=1)
