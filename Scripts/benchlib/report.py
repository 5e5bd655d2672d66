"""The results in words: the summary printed at the end, and the document written to
docs/benchmarks.md (--write) or --output."""

import statistics

from .common import GDB_SAMPLE, PLANNED_FIGURES
from .trees import tree_names
from .runs import (
    ALONE, CONNECTOR, POLLING, RUN_START_DELAY_MS, fmt_rate, median_rate, overhead_ratio, run_cell_misses,
    run_cell_reported, run_headline_text)
from .stats import fmt_time, p99


def render_run_section(figure, add):
    config = figure.config
    add("## `run`: forks followed and overhead")
    add("")
    if figure.error:
        add(f"Not measured: {figure.error}.")
        add("")
        return
    add("The victim, `Tests/Victims/forker.c` (compiled with `cc -O2 -pthread`), starts 2 threads that "
        "sleep, then forks N children one after the other (with a pause between forks where a row says so) and "
        "reaps them as it goes; it exits 0 once all are reaped. Every fork is from a parent with 3 threads. "
        "`forker exit`: each child calls `_exit(0)` at once, without exec, so `forkhazard run` should report every "
        "one as a `fork-from-threaded` event. `forker exec`: each child execs `/bin/true` at once, so nothing "
        "should be reported. The victim records each child's PID and its own fork rate (N over the time from "
        "the first fork to the last, on its own clock); the reported forks are the `fork-from-threaded` records "
        "in `--events FILE`, matched by the child's PID, and checked against the summary's `forksFromThreaded`; "
        "`lostEventBursts` is the summary's.")
    add("")
    pid_max = f"`kernel.pid_max` is {figure.pid_max} here" if figure.pid_max else "`kernel.pid_max` could not be read"
    add(f"PID wrap: {pid_max}. `forkhazard run` takes a parent's threads at a fork to be those with a TID "
        "lower than the child's PID (threads started after the fork have higher TIDs), so a child that gets a PID "
        "below the parent's thread TIDs once the kernel's PID counter wraps around is not reported. "
        + ("To measure the rate alone, before every run the script reads `/proc/sys/kernel/ns_last_pid` and, where "
           "the run could wrap, first forks short-lived children (the same victim, not followed) until the counter "
           "has wrapped; the last row of the second table places the counter to wrap on purpose "
           "(`--move-pid-counter`). " if figure.moves_pid_counter else
           "This run did not move the PID counter (only `--move-pid-counter` does): a run that could wrap is noted "
           "below, and the row that wraps on purpose is not run. ")
        + "The victim counts children whose PID came out below its threads' TIDs anyway (column “PID wrapped”).")
    add("")
    add(f"### Overhead: the command's wall time, alone and under `forkhazard run` (median of {figure.reps})")
    add("")
    add(f"N = {config.overhead_forks} forks, no pause, no delay before the first fork. One unrecorded warm-up "
        "round, then the three ways in round-robin order rotated each repetition; wall time from the launcher "
        "(the whole `forkhazard run`, from its start to its exit, its own start-up included, or the victim "
        "alone); the cells are the median and, in brackets, the fastest – slowest.")
    add("")
    add("| command | alone | `forkhazard run --json --events FILE --` | ratio | `… --poll` | ratio | fork rate: alone / `run` / `run --poll` | reported by `run` | reported by `run --poll` |")
    add("|---|---|---|---|---|---|---|---|---|")
    for mode, what in (("exit", "children `_exit(0)` without exec"), ("exec", "children exec `/bin/true`")):
        cells = [f"`forker {mode} {config.overhead_forks}` ({what})"]
        for source in (ALONE, CONNECTOR, POLLING):
            runs = figure.overhead.get((mode, source), [])
            failed = [r for r in runs if r.error]
            if not runs or failed:
                cells.append(f"failed {len(failed)}/{len(runs)}: {failed[0].error}" if failed else "not run")
            else:
                walls = [r.wall for r in runs]
                cells.append(f"{fmt_time(statistics.median(walls))} ({fmt_time(min(walls))} – {fmt_time(max(walls))})")
            if source != ALONE:
                ratio = overhead_ratio(figure, mode, source)
                cells.append("–" if ratio is None else f"{ratio:.2f}×")
        cells.append(" / ".join(fmt_rate(median_rate(figure.overhead.get((mode, s), [])))
                                for s in (ALONE, CONNECTOR, POLLING)))
        for source in (CONNECTOR, POLLING):
            runs = figure.overhead.get((mode, source), [])
            cells.append(run_cell_reported(runs) if runs else "not run")
        add("| " + " | ".join(cells) + " |")
    add("")
    exit_runs = [r for r in figure.overhead.get(("exit", CONNECTOR), []) if not r.error]
    if exit_runs:
        add(f"Forks that `run` did not report in these runs (no delay before the first fork), over the "
            f"{len(exit_runs)} run{'s' if len(exit_runs) > 1 else ''} of `forker exit`: {run_cell_misses(exit_runs)}. “At the start”: forked before "
            "the first reported fork; “at the end”: after the last reported fork.")
        add("")
    add(f"### Forks followed (each of {config.trials} run{'s' if config.trials > 1 else ''})")
    add("")
    add(f"The victim waits {RUN_START_DELAY_MS} ms after starting its threads before the first fork, so that "
        "`forkhazard run` has subscribed to process events by then. Fork rate: the median of the runs' rates on "
        "the victim's clock, under `run`. Missed forks are totals over the runs, by where they fall in fork order: "
        "before the first reported fork (“at the start”), after the last (“at the end”), between reported ones or "
        "with none reported (“elsewhere”), or with a PID below the parent's thread TIDs (“PID wrapped”).")
    add("")
    add("| `forkhazard run` | children | N | pause between forks | fork rate | reported (each run) | lostEventBursts | forks missed |")
    add("|---|---|---|---|---|---|---|---|")
    for key, label, runs in figure.rows:
        first = runs[0]
        lost = ", ".join("–" if r.lost is None else str(r.lost) for r in runs)
        add(f"| {label} | {'`_exit(0)`' if first.mode == 'exit' else 'exec `/bin/true`'} | {first.forks} | "
            f"{'none' if first.pause_us == 0 else f'{first.pause_us} µs'} | {fmt_rate(median_rate(runs))} | "
            f"{run_cell_reported(runs)} | {lost} | {run_cell_misses(runs)} |")
    add("")
    strangers = sum(r.strangers for _, _, runs in figure.rows for r in runs)
    strangers += sum(r.strangers for runs in figure.overhead.values() for r in runs)
    clean, loss = run_headline_text(figure)
    add(f"- {clean[0].upper()}{clean[1:]}.")
    add(f"- {loss[0].upper()}{loss[1:]}.")
    followed = [r for _, _, runs in figure.rows for r in runs if r.source == CONNECTOR and r.mode == "exit"
                and not r.error]
    followed += [r for r in figure.overhead.get(("exit", CONNECTOR), []) if not r.error]
    if any(r.misses.get("end") for r in followed):
        add("- Forks missed “at the end” are those `run` had not handled when the victim exited: it stops "
            "reading process events as soon as the command has exited, and it reads a parent's threads from "
            "/proc when it handles the fork, which the parent's exit makes impossible (Sources/ForkHazardKit/"
            "Live/Watcher.swift). A command that forks faster than `run` handles forks builds up such a backlog.")
    if any(r.misses.get("start") for r in followed):
        add("- Forks missed “at the start” happened before `run` had subscribed to the proc connector: it "
            "starts the command first, then subscribes (the overhead runs have no delay before the first fork).")
    if any(r.misses.get("wrapped") for r in followed):
        add("- Forks missed with “PID wrapped”: the child's PID was below the parent's thread TIDs (see PID "
            "wrap above).")
    grace0_exec = [r for r in figure.rows_for(("grace0", "exec")) if not r.error]
    exec_default = [r for r in figure.rows_for(("exec", CONNECTOR)) if not r.error]
    grace0_exit = [r for r in figure.rows_for(("grace0", "exit")) if not r.error]
    exit_default = [r for r in figure.rows_for(("step", CONNECTOR, config.extra_forks, 0)) if not r.error]
    if grace0_exec and exec_default and grace0_exit:
        same = (f" (default, same N, no pause: {', '.join(str(r.reported) for r in exit_default)})"
                if exit_default else "")
        add(f"- `--fork-grace`: every row uses the default (200 ms) unless it says otherwise. A child that exits "
            "without exec is reported when its exit event is handled, whatever the grace. With `--fork-grace 0`, "
            f"children that `_exit` were reported {', '.join(str(r.reported) for r in grace0_exit)} of "
            f"{config.extra_forks}{same}, and children that exec `/bin/true` were reported "
            f"{', '.join(str(r.reported) for r in grace0_exec)} times (default: "
            f"{', '.join(str(r.reported) for r in exec_default)}; 0 expected): with no grace a child is judged "
            "as soon as its fork is handled, before its exec. Hence the default everywhere else.")
    polled = [r for forks, pause in config.steps for r in figure.rows_for(("step", POLLING, forks, pause))
              if not r.error]
    if polled:
        caught, total = sum(r.reported for r in polled), sum(r.forks for r in polled)
        add(f"- `--poll` (the /proc fallback, a scan every 20 ms) caught {caught} of {total} forks over its runs "
            f"({100 * caught / total:.1f}%): a child that is forked, exits and is reaped between two scans is never "
            "seen. That is expected of polling; the proc connector is what `run` uses where it is available.")
        exec_polled = [r for r in figure.rows_for(("exec", POLLING)) if not r.error]
        if exec_polled and any(r.reported for r in exec_polled):
            add(f"- `--poll` reported {sum(r.reported for r in exec_polled)} children of `forker exec` (which all "
                "exec `/bin/true`) over its runs: false reports of forks without exec.")
    if strangers:
        add(f"- {strangers} reported PIDs were not children of the run's victim.")
    for note in figure.notes:
        add(f"- Note: {note}.")
    add("")


def run_summary_lines(figure):
    if figure.error:
        return [f"forkhazard run: not measured: {figure.error}"]
    lines = ["forkhazard run (median wall time; ratio to the command alone):"]
    n = figure.config.overhead_forks
    for mode in ("exit", "exec"):
        parts = []
        for source in (ALONE, CONNECTOR, POLLING):
            runs = figure.overhead.get((mode, source), [])
            if runs and not any(r.error for r in runs):
                ratio = overhead_ratio(figure, mode, source) if source != ALONE else None
                parts.append(f"{source} {fmt_time(statistics.median(r.wall for r in runs))}"
                             + (f" ({ratio:.2f}×)" if ratio else "")
                             + (f" reported {'/'.join(str(r.reported) for r in runs)}" if source != ALONE else ""))
            else:
                parts.append(f"{source} " + (f"failed: {runs[0].error}" if runs else "not run"))
        lines.append(f"  forker {mode} {n}: " + "; ".join(parts))
    for key, label, runs in figure.rows:
        lines.append(f"  {label.split(';')[0]} {runs[0].mode} {runs[0].forks} pause {runs[0].pause_us} µs: "
                     f"{fmt_rate(median_rate(runs))}, reported {run_cell_reported(runs)}, lost "
                     f"{'/'.join(str(r.lost) for r in runs)}, missed {run_cell_misses(runs)}")
    for note in figure.notes:
        lines.append(f"  note: {note}")
    return lines


def render_document(figures, args, reps, info, versions, date, elapsed):
    context = figures.context
    lines = []
    add = lines.append
    add("# Benchmarks")
    add("")
    add(f"Generated by `Scripts/bench` on {date} in {elapsed:.0f} s ({'quick' if args.quick else 'full'} run, "
        f"{reps} repetitions). Do not edit by hand: run the script again, it overwrites this file.")
    add("")
    add("## How to run")
    add("")
    add("```sh")
    add("Scripts/bench --write --move-pid-counter  # full run: 5 trees, every tool, 5 repetitions, the `run` figure")
    add("                                          # with its PID-wrap row; writes docs/benchmarks.md")
    add("Scripts/bench                 # the same without moving the PID counter; prints the summary only")
    add("Scripts/bench --quick         # demo and threads500, 3 repetitions, forkhazard, eu-stack and the floor,")
    add("                              # the `run` figure with smaller N; about a minute")
    add("Scripts/bench --reps 9 --no-build --trees wide,threads500 --no-run")
    add("```")
    add("")
    add("Run it as root on an otherwise idle machine: anything else running (a build, a test suite) shows in "
        "the load average below and in the spread of the times, and `ps -eLo` reads every thread on the host. "
        "It builds the release binary (`swift build -c release`) unless "
        "`--no-build`, installs what is missing (`apt-get update` then `apt-get install -y elfutils` for eu-stack; "
        "`pip install py-spy pystack` into a virtual environment, `.build-bench/venv`; a tool that cannot be "
        "installed is skipped and listed below), compiles its C victims and launcher into a temporary folder, "
        "starts each tree, measures, and kills every process it started by PID. The `run` figure forks tens of "
        "thousands of short-lived processes and, with `--move-pid-counter` only, also forks some just to move the "
        "kernel's PID counter (see that section); no sysctl is changed.")
    add("")
    add("## Machine and versions")
    add("")
    add("| | |")
    add("|---|---|")
    for key, value in info.items():
        add(f"| {key} | {value} |")
    for key, value in versions.items():
        add(f"| {key} | {value} |")
    add("")
    add("## Trees")
    add("")
    add("Real processes started by the script (victims in `Tests/Victims/`, the demo from "
        "`forkhazard __victim demo --ready-fd 3`). Each tree is measured only once all its processes and threads "
        "exist and every thread is in state S; that is checked again before every tool run, since the previous "
        "tool may have just released the threads. Only one tree exists at a time.")
    add("")
    add("| tree | processes | threads | what |")
    add("|---|---|---|---|")
    for tree in figures.trees.values():
        add(f"| {tree.name} | {tree.processes} | {tree.threads} | {tree.description} |")
    add("")
    add("## Method")
    add("")
    add(f"- For each tree: one unrecorded warm-up round, then {reps} repetitions; within a repetition every tool "
        "runs once, in round-robin order rotated by one tool each repetition.")
    add("- Every tool invocation is started (with `os.posix_spawn`, output to a file) through a small C launcher "
        "that the script compiles: it forks and execs the tool, `wait4`s for it and reports the tool's wall time, "
        "from just before the fork to the reap (`CLOCK_MONOTONIC`), and the tool's own `ru_maxrss`. "
        "Timing `os.wait4` from Python directly would work for the wall time, but not for peak RSS: a child "
        "spawned from the Python process reports at least the benchmark's own RSS as its `ru_maxrss` (exec "
        "records the high-water mark of the memory the child inherited), so all small tools would show the "
        "same figure. Peak RSS is the largest over the repetitions; for tools run once per process, the largest "
        "invocation; for the floor, the larger of pstree and ps.")
    add("- Tools that examine one process at a time (eu-stack, gdb, pystack) run once per process of the tree; "
        "their time is the sum over the tree. "
        f"gdb examines at most {GDB_SAMPLE} processes, spread evenly over the tree with the root first; on a larger "
        f"tree (marked ‡) its time is the sampled sum scaled linearly by processes / {GDB_SAMPLE}, and its pause and "
        "coverage figures are over the sample.")
    add("- Exit status is checked for every invocation; a failed run is shown as `failed k/N: why` and not timed. "
        "forkhazard's 0, 1 and 2 are verdicts (healthy, hazard, deadlock) and count as success; its report "
        "must also list every process and thread of the tree. py-spy and pystack apply to the Python tree only "
        "(n/a elsewhere).")
    add("- Medians are over the repetitions; the ratio is the tool's median over forkhazard's full median "
        "(above 1× means slower than forkhazard).")
    add("")
    add("## Results")
    add("")
    add(f"### Wall time (median of {reps})")
    add("")
    add(figures.table(figures.wall))
    add("")
    if any(figures.scaled(name, tool) for name in figures.trees for tool in figures.tools):
        add(f"‡ gdb on a sample of {GDB_SAMPLE} processes, scaled (see Method).")
        add("")
    add(f"### Wall time spread (fastest – slowest of {reps})")
    add("")
    add(figures.table(figures.spread))
    add("")
    add("### Ratio to `forkhazard --json` (tool / forkhazard, medians)")
    add("")
    add(figures.table(figures.ratio))
    add("")
    add("### Peak RSS")
    add("")
    add(figures.table(figures.rss))
    add("")
    add("### How long each thread is stopped (median / p99)")
    add("")
    add("forkhazard: `pauseMicros` of every thread in its JSON, pooled over the repetitions (it stops one thread "
        "at a time, only to copy its registers and stack). eu-stack, gdb and pystack attach to every thread of a "
        "process and keep the whole process stopped for their run on it, so each thread's stopped time is estimated "
        "as the tool's wall time for that process (an upper bound: it includes the tool's start-up and exit). "
        "py-spy's dump also pauses each process (its default, without `--nonblocking`) while it reads it; one "
        "invocation covers the whole tree, so its estimate is its wall time divided by the number of processes. "
        "`--no-stacks`, pstree and ps stop nothing. p99 is the nearest rank, so with fewer than 100 stops it is "
        "the largest.")
    add("")
    add(figures.table(figures.pause))
    add("")
    add("### Coverage: threads reported / threads examined")
    add("")
    add("Threads with a stack in forkhazard's JSON (every listed thread for `--no-stacks`), `TID` blocks of "
        "eu-stack, `Thread N (` blocks of gdb, `Thread` blocks of py-spy, `Traceback for thread` blocks of "
        "pystack, and the tree's rows in the output of ps.")
    add("")
    add(figures.table(figures.coverage))
    add("")
    if figures.run_figure is not None:
        render_run_section(figures.run_figure, add)
    add("## Goals")
    add("")
    add("Stated by the script from the medians above (the spread table shows how much a run varied):")
    add("")
    for text, _ in figures.goals():
        add(f"- {text}")
    add("")
    if PLANNED_FIGURES:
        add("## Not measured yet")
        add("")
        for figure, why in PLANNED_FIGURES:
            add(f"- {figure}: {why}.")
        add("")
    add("## Skipped, installed, notes")
    add("")
    notes = list(context.notes) or ["nothing skipped; nothing had to be installed"]
    for note in notes:
        add(f"- {note}")
    add("")
    return "\n".join(lines)


def summary(figures):
    names = tree_names(figures.trees)
    rows = [["tool", *names]]
    for tool in figures.tools:
        row = [tool.key]
        for name in names:
            status = figures.status(name, tool)
            if status:
                row.append(status if len(status) < 24 else status[:21] + "...")
            else:
                row.append(f"{figures.wall(name, tool)} ({figures.ratio(name, tool)})")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = ["median wall time (ratio to forkhazard --json):"]
    for row in rows:
        out.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    pause_parts = []
    for name in names:
        pauses = figures.pooled_pauses(name)
        if pauses:
            pause_parts.append(f"{name} {fmt_time(statistics.median(pauses))}/{fmt_time(p99(pauses))}")
    if pause_parts:
        out.append("forkhazard pause per thread (median/p99): " + ", ".join(pause_parts))
    if figures.run_figure is not None:
        out += run_summary_lines(figures.run_figure)
    out.append("goals:")
    for text, met in figures.goals():
        out.append(f"  [{'yes' if met else 'NO' if met is False else '--'}] {text}")
    for note in figures.context.notes:
        out.append(f"note: {note}")
    return "\n".join(out)
