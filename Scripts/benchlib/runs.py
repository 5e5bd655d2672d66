"""`forkhazard run`: how many forks from a multi-threaded parent it follows, and what following
them costs the command, measured, and the statements made of the measurements."""

import dataclasses
import json
import os
import select
import signal
import statistics
import time
from pathlib import Path

from . import common
from .common import log
from .launcher import run_command
from .trees import compile_victim


RUN_START_DELAY_MS = 200    # forker's wait before its first fork in the followed-forks runs
RUN_PID_MARGIN = 3000       # PIDs left for the rest of the host when the PID counter is placed
BURN_LIMIT = 100_000        # at most this many children are forked just to move the PID counter
DEFAULT_GRACE = "default `--fork-grace` (200 ms)"
CONNECTOR, POLLING, ALONE = "proc connector", "polling", "alone"


@dataclasses.dataclass
class RunConfig:
    overhead_forks: int         # N of the overhead runs (no pause, no delay)
    steps: list                 # (N, pause in µs) of the followed-forks runs, slowest first
    trials: int                 # runs of each step
    extra_forks: int            # N of the `--fork-grace 0`, exec and PID-wrap rows


def run_config(quick, reps):
    if quick:
        return RunConfig(500, [(500, 1000), (500, 100), (500, 0), (2000, 0)], 1, 2000)
    return RunConfig(2000, [(2000, 1000), (2000, 300), (2000, 100), (1000, 0), (5000, 0), (20000, 0)],
                     min(reps, 3), 5000)


@dataclasses.dataclass
class ForkRun:
    mode: str                   # "exit" or "exec"
    forks: int
    pause_us: int
    source: str                 # ALONE, CONNECTOR or POLLING
    grace: str | None = None    # the --fork-grace given; None for the default
    wall: float | None = None   # seconds, the whole command (forkhazard run and the victim)
    rate: float | None = None   # forks per second, from the victim's clock (first fork to last)
    reported: int | None = None         # fork-from-threaded records
    summary: dict | None = None
    misses: dict = dataclasses.field(default_factory=dict)     # cause -> forks not reported
    below: int = 0              # children whose PID was below a TID of the parent's threads
    strangers: int = 0          # reported PIDs that are not children of this run
    error: str | None = None

    @property
    def lost(self):
        return (self.summary or {}).get("lostEventBursts")

    @property
    def complete(self):
        return self.error is None and self.reported == self.forks and self.lost == 0


def classify_misses(children, reported, highest_tid):
    """Forks not reported, by where they are in fork order: before the first reported one, after
    the last, elsewhere (between reported ones, or none was reported), or with a PID below the
    parent's thread TIDs (the PID counter wrapped)."""
    hits = [i for i, pid in enumerate(children) if pid in reported]
    misses = {"start": 0, "end": 0, "elsewhere": 0, "wrapped": 0}
    for i, pid in enumerate(children):
        if pid in reported:
            continue
        if pid < highest_tid:
            misses["wrapped"] += 1
        elif hits and i < hits[0]:
            misses["start"] += 1
        elif hits and i > hits[-1]:
            misses["end"] += 1
        else:
            misses["elsewhere"] += 1
    return misses


def run_forker(context, forker, mode, forks, pause_us=0, delay_ms=0, source=ALONE, grace=None):
    """Runs the victim, alone or under `forkhazard run --json --events FILE`, and reads what it
    and forkhazard wrote."""
    events = Path(context.tmp) / "run-events.jsonl"
    events.unlink(missing_ok=True)
    victim = [forker, mode, forks, pause_us, delay_ms]
    if source == ALONE:
        argv = victim
    else:
        argv = [common.FORKHAZARD, "run", "--json", "--events", events, *(["--poll"] if source == POLLING else []),
                *(["--fork-grace", grace] if grace is not None else []), "--", *victim]
    run = ForkRun(mode, forks, pause_us, source, grace)
    done = run_command(argv, context)
    run.error = done.failure()
    if run.error:
        return run
    try:
        stats = json.loads(done.stdout().splitlines()[-1])
    except (ValueError, IndexError):
        run.error = "the victim wrote no result"
        return run
    run.wall = done.wall
    run.rate = forks / stats["forkSeconds"] if stats["forkSeconds"] > 0 else None
    run.below = stats["belowThreadTids"]
    if source == ALONE:
        return run
    records = []
    for line in events.read_text(errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    summaries = [record["summary"] for record in records if record.get("event") == "summary"]
    if not summaries:
        run.error = "no summary record in --events"
        return run
    run.summary = summaries[-1]
    reported = [record["pids"][0] for record in records
                if record.get("event") == "fork-from-threaded" and record.get("pids")]
    run.reported = len(reported)
    if run.summary.get("forksFromThreaded") != run.reported:
        run.error = (f"{run.reported} fork-from-threaded records but summary.forksFromThreaded = "
                     f"{run.summary.get('forksFromThreaded')}")
    children = set(stats["children"])
    run.strangers = sum(1 for pid in reported if pid not in children)
    if mode == "exit":
        run.misses = classify_misses(stats["children"], set(reported), max(stats["threadTids"]))
    return run


def pid_counter():
    """(the last PID handed out, kernel.pid_max), or None when they cannot be read."""
    try:
        return (int(Path("/proc/sys/kernel/ns_last_pid").read_text()),
                int(Path("/proc/sys/kernel/pid_max").read_text()))
    except (OSError, ValueError):
        return None


def place_pid_counter(context, forker, room, wrap_after=None):
    """Moves the kernel's PID counter, by forking children that exit at once (the victim, not
    followed), so that the next `room` PIDs do not wrap around kernel.pid_max, or, with
    wrap_after, so that they wrap after about that many. None when placed (or when nothing had to
    move), else why not. Without --move-pid-counter it only says whether the run may wrap."""
    if not context.move_pid_counter:
        counter = pid_counter()
        if wrap_after is not None:
            return "it moves the PID counter, which this run may not do (--move-pid-counter)"
        if counter is None:
            return "the PID counter cannot be read (/proc/sys/kernel/ns_last_pid): the runs may wrap"
        last, top = counter
        if last + room + RUN_PID_MARGIN < top:
            return None
        return (f"some runs started within {room + RUN_PID_MARGIN} PIDs of kernel.pid_max ({top}), so their PIDs may "
                "have wrapped; the counter was not moved (--move-pid-counter moves it first)")
    burned = 0
    for _ in range(12):
        counter = pid_counter()
        if counter is None:
            return "the PID counter cannot be read (/proc/sys/kernel/ns_last_pid)"
        last, top = counter
        if wrap_after is None:
            if last + room + RUN_PID_MARGIN < top:
                return None
            burn = top - last + 10                      # past the top: it starts again at 300
        else:
            target, window = top - wrap_after, max(100, wrap_after // 2)
            if target - window <= last <= target:
                return None
            if last > target:
                burn = top - last + 10
            else:   # nine tenths of the way each time: PIDs still in use are skipped, so it moves faster
                burn = max(1, (target - window // 2 - last) * 9 // 10)
        burned += burn
        if burned > BURN_LIMIT:
            return f"moving the PID counter would take more than {BURN_LIMIT} forks (kernel.pid_max {top})"
        done = run_command([forker, "exit", burn], context)
        if done.failure():
            return f"forking {burn} children to move the PID counter failed: {done.failure()}"
    return "the PID counter could not be placed: other processes keep taking PIDs"


class RunFigure:
    """The `forkhazard run` figure: overhead and forks followed."""

    def __init__(self, config, reps, moves_pid_counter=False):
        self.config, self.reps = config, reps
        self.moves_pid_counter = moves_pid_counter
        self.overhead = {}          # (mode, source) -> [ForkRun]
        self.rows = []              # (key, label, [ForkRun]) of the followed-forks table
        self.notes = []
        self.pid_max = (pid_counter() or (None, None))[1]
        self.error = None           # why it was not measured at all

    def note(self, text):
        if text and text not in self.notes:
            self.notes.append(text)

    def rows_for(self, key):
        for row_key, _, runs in self.rows:
            if row_key == key:
                return runs
        return []


def bench_run(context, config, reps, figure):
    forker = compile_victim(context, "forker")
    n = config.overhead_forks
    sources = [ALONE, CONNECTOR, POLLING]
    for mode in ("exit", "exec"):
        for rep in range(-1, reps):                     # rep -1: one unrecorded warm-up round
            shift = rep % len(sources)
            for source in sources[shift:] + sources[:shift]:
                figure.note(place_pid_counter(context, forker, n))
                run = run_forker(context, forker, mode, n, source=source)
                if rep >= 0:
                    figure.overhead.setdefault((mode, source), []).append(run)
        log(f"[run] overhead of {mode} × {n} done")

    def row(key, label, mode, forks, pause, source, grace=None, wrap_after=None):
        runs = []
        for _ in range(config.trials):
            figure.note(place_pid_counter(context, forker, forks, wrap_after))
            runs.append(run_forker(context, forker, mode, forks, pause, RUN_START_DELAY_MS, source, grace))
        figure.rows.append((key, label, runs))
        worst = min(runs, key=lambda r: (r.reported if r.reported is not None else -1))
        log(f"[run] {label}: {mode} × {forks}, pause {pause} µs: "
            + (worst.error or f"{worst.reported} reported (worst of {len(runs)}), "
               f"{fmt_rate(statistics.median(r.rate for r in runs if r.rate))}"))

    for forks, pause in config.steps:
        row(("step", CONNECTOR, forks, pause), f"`--json`, {DEFAULT_GRACE}", "exit", forks, pause, CONNECTOR)
    for forks, pause in config.steps:
        row(("step", POLLING, forks, pause), f"`--json --poll`, {DEFAULT_GRACE}", "exit", forks, pause, POLLING)
    m = config.extra_forks
    row(("grace0", "exit"), "`--json --fork-grace 0`", "exit", m, 0, CONNECTOR, grace="0")
    row(("exec", CONNECTOR), f"`--json`, {DEFAULT_GRACE}", "exec", m, 0, CONNECTOR)
    row(("grace0", "exec"), "`--json --fork-grace 0`", "exec", m, 0, CONNECTOR, grace="0")
    row(("exec", POLLING), f"`--json --poll`, {DEFAULT_GRACE}", "exec", m, 0, POLLING)
    problem = place_pid_counter(context, forker, m, wrap_after=m // 2)
    if problem:
        figure.note(f"PID-wrap row not run: {problem}")
    else:
        row(("wrap",), f"`--json`, {DEFAULT_GRACE}; PID counter placed {m // 2}–{m // 2 + max(100, m // 4)} "
            "below kernel.pid_max, so that it wraps during the run", "exit", m, 0, CONNECTOR, wrap_after=m // 2)


def kill_strays(binary):
    """Kills, by pidfd, any process still running this run's own victim binary (its path is in this
    run's temporary folder, so no other process can match); normally there is none: every run is
    reaped by the launcher, and the victim dies with its parent. Returns the PIDs killed."""
    killed, pidfds = [], []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{name}/exe").removesuffix(" (deleted)") != str(binary):
                continue
            pidfd = os.pidfd_open(int(name))
        except OSError:
            continue
        try:                        # the same process as the one whose exe was read
            same = os.readlink(f"/proc/{name}/exe").removesuffix(" (deleted)") == str(binary)
        except OSError:
            same = False
        if same:
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                killed.append(int(name))
            except ProcessLookupError:
                pass
        pidfds.append(pidfd)
    deadline = time.monotonic() + 10
    pending = set(pidfds)
    while pending and time.monotonic() < deadline:
        poller = select.poll()
        for pidfd in pending:
            poller.register(pidfd, select.POLLIN)
        pending -= {pidfd for pidfd, _ in poller.poll(200)}
    for pidfd in pidfds:
        os.close(pidfd)
    return killed


def fmt_rate(rate):
    return "–" if rate is None else f"{rate:,.0f}/s"


def run_cell_reported(runs):
    if any(r.error for r in runs):
        failed = [r for r in runs if r.error]
        return f"failed {len(failed)}/{len(runs)}: {failed[0].error}"
    values = ", ".join(str(r.reported) for r in runs)
    expected = runs[0].forks if runs[0].mode == "exit" else 0
    return f"{values} of {runs[0].forks}" + (" (0 expected)" if expected == 0 else "")


def run_cell_misses(runs):
    if runs[0].mode != "exit" or any(r.error for r in runs):
        return "–"
    totals = {}
    for r in runs:
        for cause, count in r.misses.items():
            totals[cause] = totals.get(cause, 0) + count
    names = {"start": "at the start", "end": "at the end", "elsewhere": "elsewhere", "wrapped": "PID wrapped"}
    parts = [f"{names[cause]} {count}" for cause, count in totals.items() if count]
    return ", ".join(parts) if parts else "none"


def median_rate(runs):
    rates = [r.rate for r in runs if r.rate and not r.error]
    return statistics.median(rates) if rates else None


def run_headline(figure):
    """The followed-forks steps (proc connector, default grace) at which every run reported every
    fork with no lost burst, and those at which a run did not, each [(N, pause, median rate, runs)]
    by rate."""
    steps = []
    for forks, pause in figure.config.steps:
        runs = figure.rows_for(("step", CONNECTOR, forks, pause))
        if runs and median_rate(runs) is not None:
            steps.append((forks, pause, median_rate(runs), runs))
    steps.sort(key=lambda step: step[2])
    passed = [step for step in steps if all(r.complete for r in step[3])]
    failed = [step for step in steps if not all(r.complete for r in step[3])]
    return passed, failed


def run_headline_text(figure):
    """Two sentences: where every fork was reported, and where forks were lost."""
    passed, failed = run_headline(figure)
    total = len(passed) + len(failed)
    if passed:
        clean = (f"every fork was reported, with no lost burst, in every run of {len(passed)} of the {total} "
                 f"steps (proc connector, default `--fork-grace`), the fastest at {describe_step(passed[-1])}")
    else:
        clean = f"no step of the {total} had every fork reported in every run"
    if failed:
        loss = (f"forks were lost at {len(failed)} of the {total} steps"
                + (f" ({', '.join(fmt_rate(step[2]) for step in failed)})" if len(failed) > 1 else "")
                + f"; the slowest of them: {describe_loss(failed[0])}")
    else:
        loss = "no fork was lost at any step"
    return clean, loss


def describe_step(step):
    forks, pause, rate, runs = step
    return f"{fmt_rate(rate)} ({forks} forks, {'no pause' if pause == 0 else f'{pause} µs between forks'})"


def describe_loss(step):
    forks, pause, rate, runs = step
    worst = min(runs, key=lambda r: (r.reported if r.reported is not None else -1, -(r.lost or 0)))
    if worst.error:
        return f"{describe_step(step)}: failed: {worst.error}"
    where = run_cell_misses(runs)
    return (f"{describe_step(step)}: {worst.reported} of {forks} reported in the worst of {len(runs)} "
            f"runs, lostEventBursts {', '.join(str(r.lost) for r in runs)}; forks missed over the runs: {where}")


def overhead_ratio(figure, mode, source):
    alone = [r.wall for r in figure.overhead.get((mode, ALONE), []) if not r.error]
    under = [r.wall for r in figure.overhead.get((mode, source), []) if not r.error]
    if not alone or not under or len(alone) < len(figure.overhead[(mode, ALONE)]) \
            or len(under) < len(figure.overhead[(mode, source)]):
        return None
    return statistics.median(under) / statistics.median(alone)


def run_goal(figure):
    """The statement of the measured numbers for the Goals section (there is no numeric goal)."""
    label = "`forkhazard run` follows forks (no numeric goal; the measured numbers)"
    if figure.error:
        return f"{label}: not measured: {figure.error}."
    parts = list(run_headline_text(figure))
    exit_ratio, exec_ratio = overhead_ratio(figure, "exit", CONNECTOR), overhead_ratio(figure, "exec", CONNECTOR)
    n = figure.config.overhead_forks
    if exit_ratio is not None and exec_ratio is not None:
        parts.append(f"under `run`, a command forking {n} children as fast as it can took {exit_ratio:.2f}× its "
                     f"wall time alone when the children `_exit` (each fork to be reported) and {exec_ratio:.2f}× "
                     "when they exec `/bin/true` (nothing to be reported)")
    polled = [r for forks, pause in figure.config.steps
              for r in figure.rows_for(("step", POLLING, forks, pause)) if not r.error]
    if polled:
        caught = sum(r.reported for r in polled)
        total = sum(r.forks for r in polled)
        parts.append(f"`--poll` caught {caught} of {total} forks ({100 * caught / total:.1f}%) over its runs")
    return f"{label}: " + "; ".join(parts) + "."
