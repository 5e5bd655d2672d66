"""A thread is running while the main thread forks; the child sleeps briefly and exits; the
parent waits for it and exits 0. A hazard that does not hang."""
import os
import threading
import time

threading.Thread(target=time.sleep, args=(5,), name="background", daemon=True).start()
child = os.fork()
if child == 0:
    time.sleep(1.5)
    os._exit(0)
print(f"parent {os.getpid()} forked {child}", flush=True)
os.waitpid(child, 0)
