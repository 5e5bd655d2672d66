"""Benchmark victim for Scripts/bench: the Python tree.

A parent with two extra threads of its own starts multiprocessing.Pool(8) with the fork
context and gives each worker a task that sleeps for an hour, so all eight workers are blocked.
Prints "ready" on stdout once the tasks are submitted; the benchmark then waits until every
process and thread sleeps, and kills them all by PID at the end.
"""
import multiprocessing
import sys
import threading
import time


def task(_):
    time.sleep(3600)


def idle(event):
    event.wait()


def main():
    stop = threading.Event()
    for name in ("metrics", "uploader"):
        threading.Thread(target=idle, args=(stop,), name=name, daemon=True).start()
    pool = multiprocessing.get_context("fork").Pool(8)
    pending = [pool.apply_async(task, (i,)) for i in range(8)]
    print("ready", flush=True)
    stop.wait()
    return pending


if __name__ == "__main__":
    sys.exit(main())
