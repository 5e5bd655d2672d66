"""A thread takes an RLock and the main thread forks; the holder then exits still owning it, and a
new thread starts, which glibc gives the holder's old descriptor, so the same ident. The child,
taking the RLock, waits for good on an owner that exists nowhere: the new thread, started after
the fork, never held it.

Prints `thread NAME IDENT TID` for both threads, `child rlock PID`, then `ready PID` once the
new thread runs (the test checks from /proc that the child is blocked).
"""
import os
import signal
import threading
import time
import warnings

signal.alarm(300)  # a victim whose test died without killing it ends by itself
warnings.simplefilter("ignore")  # 3.12+: forking a process with threads is deprecated

LOCK = threading.RLock()
RELEASE = threading.Event()
HELD = threading.Event()


def hold():
    LOCK.acquire()
    HELD.set()
    RELEASE.wait()  # and exits without releasing it


def main():
    holder = threading.Thread(target=hold, name="holder")
    holder.start()
    HELD.wait()
    print("thread", holder.name, holder.ident, holder.native_id, flush=True)
    pid = os.fork()
    if pid == 0:
        signal.alarm(300)
        with LOCK:
            pass
        os._exit(0)
    print(f"child rlock {pid}", flush=True)
    RELEASE.set()
    holder.join()
    # glibc hands a thread's stack and descriptor to a new thread once the kernel has cleared the
    # old thread's TID at its exit, a moment after join returns.
    while os.path.exists(f"/proc/self/task/{holder.native_id}"):
        time.sleep(0.01)
    time.sleep(0.05)
    newcomer = threading.Thread(target=time.sleep, args=(3600,), name="newcomer", daemon=True)
    newcomer.start()
    while newcomer.native_id is None:
        time.sleep(0.01)
    print("thread", newcomer.name, newcomer.ident, newcomer.native_id, flush=True)
    print(f"ready {os.getpid()}", flush=True)
    time.sleep(3600)


main()
