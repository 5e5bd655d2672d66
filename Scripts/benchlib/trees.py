"""The trees under test and their victims (Tests/Victims): started here, measured once settled,
and killed by PID at the end."""

import dataclasses
import os
import select
import signal
import subprocess
import time
from pathlib import Path

from . import common
from .common import REPO, SETTLE_TIMEOUT, VICTIMS
from .launcher import tail_line
from .proctable import proc_table, read_stat, thread_states, tree_pids, tree_shape


class Victims:
    """Every victim root this run started, and the cleanup that kills their whole trees."""

    def __init__(self):
        self.roots = []             # (pid, pipe read end)
        self.known = {}             # pid -> start time of every process seen in a started tree
        self.killed = []            # (pid, start) of every process signalled
        self.survivors = []         # killed but still alive after the wait

    def remember(self, pids):
        """Records a tree's processes with their start times, so they are killed even if they
        were reparented by the time of the cleanup."""
        table = proc_table()
        self.known.update({pid: table[pid].start for pid in pids if pid in table})

    def spawn(self, argv, ready_fd, log_path):
        """Starts argv with the write end of a pipe as ready_fd (1 for stdout, 3 for the demo's
        --ready-fd) and returns (pid, first line it writes there)."""
        read_end, write_end = os.pipe()
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, write_end, ready_fd),
                   (os.POSIX_SPAWN_OPEN, 2, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
        if ready_fd != 1:
            actions.insert(1, (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0))
        try:
            pid = os.posix_spawn(str(argv[0]), [str(a) for a in argv], os.environ, file_actions=actions)
        finally:
            os.close(write_end)
        self.roots.append((pid, read_end))
        line = b""
        deadline = time.monotonic() + 20
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                raise RuntimeError(f"victim {pid} ({Path(argv[0]).name}) did not report ready in 20 s; "
                                   f"its stderr: {tail_line(log_path)}")
            chunk = os.read(read_end, 64)
            if not chunk:
                raise RuntimeError(f"victim {pid} ({Path(argv[0]).name}) exited before it was ready; "
                                   f"its stderr: {tail_line(log_path)}")
            line += chunk
        return pid, line.decode().strip()

    def cleanup(self):
        """Kills every process of every tree started here, children first, by pidfd after checking
        its start time, reaps the roots and waits until all are gone. Returns the survivors."""
        table = proc_table()
        candidates = []
        for root, _ in self.roots:
            candidates += [pid for pid in reversed(tree_pids(root, table)) if pid not in candidates]
        roots = {root for root, _ in self.roots}
        # Processes seen earlier that are no longer under a root (reparented); children first.
        candidates = [pid for pid in self.known if pid not in candidates and pid not in roots
                      and pid in table and table[pid].start == self.known[pid]] + candidates
        targets = []                # (pid, start, pidfd)
        for pid in candidates:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                continue
            try:                    # the pidfd is the process checked here, even if the PID is reused later
                same = read_stat(f"/proc/{pid}/stat").start == table[pid].start
            except (OSError, ValueError):
                same = False
            if same:
                targets.append((pid, table[pid].start, pidfd))
            else:
                os.close(pidfd)
        for pid, start, pidfd in targets:
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                self.killed.append((pid, start))
            except ProcessLookupError:
                pass
        for root, read_end in self.roots:
            try:
                os.waitpid(root, 0)
            except ChildProcessError:
                pass
            os.close(read_end)
        deadline = time.monotonic() + 10
        pending = {pidfd for _, _, pidfd in targets}
        while pending and time.monotonic() < deadline:
            poller = select.poll()          # a pidfd is readable once its process has exited
            for pidfd in pending:
                poller.register(pidfd, select.POLLIN)
            pending -= {pidfd for pidfd, _ in poller.poll(200)}
        for _, _, pidfd in targets:
            os.close(pidfd)
        survivors = []
        for pid, start in self.killed:
            try:
                entry = read_stat(f"/proc/{pid}/stat")
            except (OSError, ValueError):
                continue
            if entry.start == start and entry.state != "Z":
                survivors.append(pid)
        self.roots, self.known = [], {}
        self.survivors += [pid for pid in survivors if pid not in self.survivors]
        return survivors


@dataclasses.dataclass
class Tree:
    name: str
    description: str
    root: int
    processes: int              # expected
    threads: int                # expected, all in state S once settled
    pids: list = dataclasses.field(default_factory=list)
    python: bool = False

    def settle(self, timeout=SETTLE_TIMEOUT):
        """Waits until the tree has its expected processes and threads, all in state S, on two
        looks 20 ms apart."""
        deadline = time.monotonic() + timeout
        steady = 0
        while True:
            shape = tree_shape(self.root)
            steady = steady + 1 if shape == (self.processes, self.threads, 0) else 0
            if steady >= 2:
                self.pids = tree_pids(self.root)
                return self.pids
            if time.monotonic() > deadline:
                raise RuntimeError(f"tree {self.name} (root {self.root}) did not settle in {timeout:.0f} s: "
                                   f"{shape[0]}/{self.processes} processes, {shape[1]}/{self.threads} threads, "
                                   f"{shape[2]} threads not in state S")
            time.sleep(0.02)

    def threads_of(self, pids):
        return sum(len(thread_states(pid)) for pid in pids)


def compile_victim(context, name):
    """Tests/Victims/NAME.c compiled once per run (`cc -O2 -pthread`) into the run's directory."""
    binary = Path(context.tmp) / name
    if not binary.exists():
        done = subprocess.run([context.paths["cc"], "-O2", "-pthread", "-o", str(binary),
                               str(VICTIMS / f"{name}.c")], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"could not compile {name}.c: {done.stderr.strip()}")
    return binary


def start_demo(context):
    pid, line = context.victims.spawn([common.FORKHAZARD, "__victim", "demo", "--ready-fd", "3"], 3,
                                      Path(context.tmp) / "demo.log")
    if not line.isdigit():
        raise RuntimeError(f"the demo victim wrote {line!r} instead of its child's PID")
    return Tree("demo", "the fork-after-threads deadlock of `forkhazard demo`: a parent with 3 threads "
                "and its forked child blocked on the inherited mutex (the victim is the forkhazard binary "
                "itself, so the Swift runtime and Foundation are loaded)", pid, 2, 4)


def start_pool8(context):
    pid, _ = context.victims.spawn([context.python, VICTIMS / "pool8.py"], 1, Path(context.tmp) / "pool8.log")
    return Tree("pool8", "Python `multiprocessing.Pool(8)` (fork context; parent with 2 extra threads "
                "and the pool's 3), each worker sleeping in a task", pid, 9, 14, python=True)


def sid_python(version):
    """Debian sid's CPython `version` as Scripts/python-roots runs it (in its root, with chroot), or
    None when that root has not been made or this is not root."""
    made = subprocess.run([str(REPO / "Scripts" / "python-roots"), "--print"], capture_output=True, text=True)
    runner = Path(made.stdout.strip()) / "bin" / f"python{version}" if made.returncode == 0 else None
    return runner if runner and os.geteuid() == 0 and os.access(runner, os.X_OK) else None


def start_pool8_sid(context):
    runner = sid_python("3.14")
    if runner is None:
        raise RuntimeError("no Debian sid root with CPython 3.14 (Scripts/python-roots makes it, as root)")
    pid, _ = context.victims.spawn([runner, VICTIMS / "pool8.py"], 1, Path(context.tmp) / "pool8-py314.log")
    return Tree("pool8-py314", "the pool8 tree under Debian sid's CPython 3.14 (static build, run in a chroot "
                "by Scripts/python-roots; its libc has no symbols)", pid, 9, 14, python=True)


def start_sleepers(name, procs, threads, description):
    def start(context):
        pid, _ = context.victims.spawn([compile_victim(context, "sleepers"), procs, threads], 1,
                                       Path(context.tmp) / f"{name}.log")
        return Tree(name, description, pid, procs, procs * threads)
    return start
TREES = {
    "demo": start_demo,
    "pool8": start_pool8,
    "pool8-py314": start_pool8_sid,
    "wide": start_sleepers("wide", 300, 4, "300 processes × 4 threads (a root and 299 forked children; "
                           "threads in a condition-variable wait, a pipe read or a sleep)"),
    "threads500": start_sleepers("threads500", 1, 500, "one process with 500 threads (condition-variable "
                                 "waits, pipe reads and sleeps)"),
}


def tree_names(trees):
    return [name for name in TREES if name in trees]
