"""The tools compared: each runs once over a whole tree and returns a Measurement; one tree is
benchmarked at a time, the tools round-robin within each repetition."""

import dataclasses
import json
import re
from pathlib import Path

from . import common
from .common import GDB_SAMPLE, log
from .launcher import run_command
from .proctable import thread_states, tree_pids


@dataclasses.dataclass
class Measurement:
    wall: float | None = None           # seconds over the whole tree (scaled for a gdb sample)
    maxrss_kb: int | None = 0
    error: str | None = None
    pauses: list = dataclasses.field(default_factory=list)     # seconds each thread is stopped
    threads_seen: int | None = None
    threads_examined: int | None = None


def max_known(a, b):
    return None if a is None or b is None else max(a, b)


def count_lines(pattern, text):
    return len(re.findall(pattern, text, flags=re.MULTILINE))


def run_forkhazard(extra):
    def run(tree, context):
        done = run_command([common.FORKHAZARD, "--json", *extra, tree.root], context)
        # 0, 1, 2 are verdicts (healthy, hazard, deadlock); 3 and 64 are failures.
        failure = done.failure(ok_codes=(0, 1, 2))
        if failure:
            return Measurement(error=failure)
        report = json.loads(done.stdout())
        threads = [t for p in report["processes"] for t in p["threads"]]
        if len(report["processes"]) != tree.processes or len(threads) != tree.threads:
            return Measurement(error=f"incomplete report: {len(report['processes'])} processes, {len(threads)} threads")
        pauses = [t["pauseMicros"] / 1e6 for t in threads if t.get("pauseMicros") is not None]
        with_stacks = sum(1 for t in threads if t.get("stack") is not None)
        return Measurement(done.wall, done.maxrss_kb, pauses=pauses,
                           threads_seen=with_stacks if "--no-stacks" not in extra else len(threads),
                           threads_examined=tree.threads)
    return run


def run_forkhazard_text(extra):
    """The default text report, as a person runs it (and as pstree and ps print)."""
    def run(tree, context):
        done = run_command([common.FORKHAZARD, "--color", "never", *extra, tree.root], context)
        failure = done.failure(ok_codes=(0, 1, 2))
        if failure:
            return Measurement(error=failure)
        text = done.stdout()
        if "Verdict:" not in text:
            return Measurement(error="no verdict line in the text report")
        return Measurement(done.wall, done.maxrss_kb, threads_seen=tree.threads, threads_examined=tree.threads)
    return run


def run_per_process(argv_for, thread_pattern, sample=None):
    """A tool run once per process of the tree: total time over the tree. Each process is stopped
    for the tool's whole run on it, so its per-process wall time is each of its threads' pause.
    With a sample size, only that many processes (spread evenly, the root first) are examined
    and the total is scaled by processes / sampled."""
    def run(tree, context):
        pids = tree.pids
        if sample and len(pids) > sample:
            pids = sorted({tree.pids[round(i * (len(tree.pids) - 1) / (sample - 1))] for i in range(sample)},
                          key=tree.pids.index)
        total, peak, seen, pauses = 0.0, 0, 0, []
        for pid in pids:
            threads = len(thread_states(pid))
            done = run_command(argv_for(context, pid), context)
            failure = done.failure()
            if failure:
                return Measurement(error=f"{failure} (pid {pid})")
            total += done.wall
            peak = max_known(peak, done.maxrss_kb)
            seen += count_lines(thread_pattern, done.stdout())
            pauses += [done.wall] * threads      # every thread of the process, stopped throughout
        return Measurement(total * len(tree.pids) / len(pids), peak, pauses=pauses,
                           threads_seen=seen, threads_examined=tree.threads_of(pids))
    return run


def run_pyspy(native):
    def run(tree, context):
        return pyspy(tree, context, native)
    return run


def pyspy(tree, context, native):
    done = run_command([context.paths["py-spy"], "dump"] + (["--native"] if native else [])
                       + ["--pid", tree.root, "--subprocesses"], context)
    failure = done.failure()
    if failure:
        return Measurement(error=failure)
    # One invocation pauses each process in turn: per-process share of the wall time.
    share = done.wall / len(tree.pids)
    return Measurement(done.wall, done.maxrss_kb, pauses=[share] * tree.threads,
                       threads_seen=count_lines(r"^Thread \S+ \(", done.stdout()), threads_examined=tree.threads)


def run_floor(tree, context):
    total, peak, out = 0.0, 0, ""
    for argv in ([context.paths["pstree"], "-Aacutspn", tree.root],
                 [context.paths["ps"], "-eLo", "pid,tid,stat,wchan"]):
        done = run_command(argv, context)
        failure = done.failure()
        if failure:
            return Measurement(error=f"{Path(argv[0]).name}: {failure}")
        total += done.wall
        peak = max_known(peak, done.maxrss_kb)
        out = done.stdout()
    members = {str(pid) for pid in tree.pids}
    seen = sum(1 for line in out.splitlines()[1:] if line.split()[:1] and line.split()[0] in members)
    return Measurement(total, peak, threads_seen=seen, threads_examined=tree.threads)


@dataclasses.dataclass
class Tool:
    key: str
    label: str
    needs: tuple                # keys of context.paths
    run: object
    python_only: bool = False
    stops: str = "per-process"  # "threads" (forkhazard), "per-process", "none"
    quick: bool = False
TOOLS = [
    Tool("fh", "`forkhazard --json` (full, stacks)", (), run_forkhazard([]), stops="threads", quick=True),
    Tool("fh-nostacks", "`forkhazard --json --no-stacks`", (), run_forkhazard(["--no-stacks"]),
         stops="none", quick=True),
    Tool("fh-text", "`forkhazard --no-stacks` (text report)", (), run_forkhazard_text(["--no-stacks"]),
         stops="none", quick=True),
    Tool("eu-stack", "`eu-stack -p PID`, each process", ("eu-stack",),
         run_per_process(lambda c, pid: [c.paths["eu-stack"], "-p", pid], r"^TID \d+:"), quick=True),
    Tool("gdb", "`gdb -batch -nx -p PID -ex 'thread apply all bt'`, each process", ("gdb",),
         run_per_process(lambda c, pid: [c.paths["gdb"], "-batch", "-nx", "-p", pid, "-ex", "thread apply all bt"],
                         r"^Thread \d+ \(", sample=GDB_SAMPLE)),
    Tool("py-spy", "`py-spy dump --native --pid ROOT --subprocesses`", ("py-spy",), run_pyspy(True), python_only=True),
    Tool("py-spy-python", "`py-spy dump --pid ROOT --subprocesses` (Python frames only)", ("py-spy",), run_pyspy(False),
         python_only=True),
    Tool("pystack", "`pystack remote --native PID`, each process", ("pystack",),
         run_per_process(lambda c, pid: [c.paths["pystack"], "remote", "--native", pid], r"^Traceback for thread \d+"),
         python_only=True),
    Tool("floor", "/proc floor: `pstree -Aacutspn ROOT` + `ps -eLo pid,tid,stat,wchan`", ("pstree", "ps"), run_floor,
         stops="none", quick=True),
]


def applicable(tool, tree, context):
    if tool.python_only and not tree.python:
        return "n/a"
    if any(need not in context.paths for need in tool.needs):
        return "skipped (not installed)"
    return None


def bench_tree(start, tools, reps, context, results, trees):
    try:
        tree = start(context)
        log(f"[{tree.name}] started root {tree.root}; waiting for {tree.processes} processes, "
            f"{tree.threads} threads in S")
        context.victims.remember(tree_pids(tree.root))
        context.victims.remember(tree.settle())
        trees[tree.name] = tree
        runnable = [tool for tool in tools if applicable(tool, tree, context) is None]
        for rep in range(-1, reps if runnable else -1):     # rep -1: one unrecorded warm-up round
            shift = rep % len(runnable)
            for tool in runnable[shift:] + runnable[:shift]:
                tree.settle()                   # the previous tool may have just released it
                try:
                    measurement = tool.run(tree, context)
                except Exception as error:      # a tool's surprise is a failed run, not a crash
                    measurement = Measurement(error=f"{type(error).__name__}: {error}")
                if rep >= 0:
                    results.setdefault((tree.name, tool.key), []).append(measurement)
            log(f"[{tree.name}] {'warm-up' if rep < 0 else f'rep {rep + 1}/{reps}'} done")
    finally:                                    # only one tree exists at a time
        survivors = context.victims.cleanup()
        if survivors:
            log(f"still alive after SIGKILL: {survivors}")
