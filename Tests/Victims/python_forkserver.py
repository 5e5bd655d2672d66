"""multiprocessing's forkserver (the default start method on Linux from 3.14): the parent, which has
threads, starts a fork server once (a fresh interpreter, exec'd), and the fork server forks every
worker. Prints "thread NAME IDENT TID", "server PID", "child worker PID", then "ready PID".

  healthy         a thread in the parent holds a lock; the workers, forked by the single-threaded
                  server, take a lock of their own and wait on a pipe for tasks
  preload-thread  the server preloads a module that starts a thread holding a lock: the server has
                  two threads when it forks, and the workers hang on the lock it held
"""
import multiprocessing
import os
import sys
import threading
import time

lock = threading.Lock()


def holder(event):
    with lock:
        event.set()
        time.sleep(3600)


def take_lock(_):
    with lock:
        return os.getpid()


def main(mode):
    held = threading.Event()
    threading.Thread(target=holder, args=(held,), name="holder", daemon=True).start()
    held.wait()
    context = multiprocessing.get_context("forkserver")
    if mode == "preload-thread":
        # The server imports what it preloads before it takes the parent's sys.path (before
        # 3.14): it finds the module next to this script through PYTHONPATH, which it inherits.
        os.environ["PYTHONPATH"] = os.path.dirname(os.path.abspath(__file__))
        context.set_forkserver_preload(["python_forkserver_preload"])
    for thread in threading.enumerate():
        print(f"thread {thread.name} {thread.ident} {thread.native_id}", flush=True)
    pool = context.Pool(2)
    if mode == "preload-thread":
        result = pool.map_async(preload_take, range(4), chunksize=1)
    else:
        result = pool.map_async(time.sleep, [3600] * 2, chunksize=1)
    from multiprocessing import forkserver
    print(f"server {forkserver._forkserver._forkserver_pid}", flush=True)
    for process in pool._pool:
        print(f"child worker {process.pid}", flush=True)
    print(f"ready {os.getpid()}", flush=True)
    result.wait()


def preload_take(_):
    import python_forkserver_preload
    with python_forkserver_preload.LOCK:
        return os.getpid()


if __name__ == "__main__":
    main(sys.argv[1])
