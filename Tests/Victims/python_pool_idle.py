"""A multiprocessing pool with nothing to do: each worker waits for a task on the pool's task
queue, one reading its pipe and the others on the queue's lock, a multiprocessing Lock (a POSIX
semaphore in shared memory, `_multiprocessing.SemLock`).

Prints `child worker PID` for each worker, then `ready PID`.
"""
import multiprocessing
import os
import signal
import sys

# A victim whose test died without killing it ends by itself (SIGALRM's default action).
signal.alarm(300)

if __name__ == "__main__":
    pool = multiprocessing.get_context("fork").Pool(3)
    for process in pool._pool:
        print("child worker", process.pid, flush=True)
    print("ready", os.getpid(), flush=True)
    signal.pause()
