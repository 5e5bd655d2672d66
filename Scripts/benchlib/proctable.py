"""/proc: the process table, a tree's processes and the states of their threads."""

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class ProcEntry:
    ppid: int
    state: str
    start: int                  # start time in clock ticks since boot: tells a reused PID apart


def read_stat(path):
    with open(path, "rb") as handle:
        data = handle.read()
    rest = data[data.rindex(b")") + 2:].split()
    return ProcEntry(ppid=int(rest[1]), state=rest[0].decode(), start=int(rest[19]))


def proc_table():
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                table[int(name)] = read_stat(f"/proc/{name}/stat")
            except (OSError, ValueError):
                pass            # it exited meanwhile
    return table


def tree_pids(root, table=None):
    """The root and its descendants, in tree order (each process after its parent, siblings by PID)."""
    table = proc_table() if table is None else table
    children = {}
    for pid, entry in table.items():
        children.setdefault(entry.ppid, []).append(pid)
    if root not in table:
        return []
    order, stack = [], [root]
    while stack:
        pid = stack.pop()
        order.append(pid)
        stack.extend(sorted(children.get(pid, []), reverse=True))
    return order


def thread_states(pid):
    states = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return states
    for tid in tids:
        try:
            states.append(read_stat(f"/proc/{pid}/task/{tid}/stat").state)
        except (OSError, ValueError):
            pass
    return states


def tree_shape(root):
    """(processes, threads, threads not in state S)."""
    pids = tree_pids(root)
    states = [state for pid in pids for state in thread_states(pid)]
    return len(pids), len(states), sum(1 for state in states if state != "S")
