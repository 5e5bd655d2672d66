"""A logging handler that writes through a console with a lock of its own (as rich's RichHandler
does, whose Console keeps a threading.RLock that logging's fork handlers know nothing about). A
thread's log call is stuck inside the console's write, holding that lock, when a fork-context
Pool(3) starts; every worker's first log call then waits forever for a lock whose owner exists
only in the parent. Prints "thread NAME IDENT TID" for the parent's threads, "child worker PID"
for each worker, then "ready PID".
"""
import logging
import multiprocessing
import os
import sys
import threading
import time

inside_write = threading.Event()


class Console:
    def __init__(self):
        self._lock = threading.RLock()

    def write(self, text):
        with self._lock:
            if threading.current_thread().name == "log-writer":
                inside_write.set()
                time.sleep(3600)  # a terminal that does not drain
            sys.stderr.write(text + "\n")


class ConsoleHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.console = Console()

    def emit(self, record):
        self.console.write(self.format(record))


log = logging.getLogger("pipeline")
log.addHandler(ConsoleHandler())
log.setLevel(logging.INFO)


def work(item):
    log.info("processing %s", item)
    return item


def main():
    writer = threading.Thread(target=log.info, args=("starting",), name="log-writer", daemon=True)
    writer.start()
    inside_write.wait()
    idle = threading.Thread(target=time.sleep, args=(3600,), name="idle", daemon=True)
    idle.start()
    for thread in (threading.main_thread(), writer, idle):
        print(f"thread {thread.name} {thread.ident} {thread.native_id}", flush=True)
    pool = multiprocessing.get_context("fork").Pool(3)
    result = pool.map_async(work, range(6), chunksize=1)
    for process in pool._pool:
        print(f"child worker {process.pid}", flush=True)
    print(f"ready {os.getpid()}", flush=True)
    result.wait()


if __name__ == "__main__":
    main()
