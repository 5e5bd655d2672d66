"""Timing and statistics: medians, spreads, ratios, pauses and coverage per tree and tool, and
the goals stated from them."""

import math
import statistics

from .common import GDB_SAMPLE
from .trees import tree_names
from .tools import applicable
from .runs import run_goal


def p99(values):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def fmt_time(seconds):
    if seconds is None:
        return "–"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


class Figures:
    def __init__(self, results, trees, tools, context, run_figure=None):
        self.results, self.trees, self.tools, self.context = results, trees, tools, context
        self.run_figure = run_figure        # None when `--no-run`

    def status(self, tree, tool):
        """None when there are good measurements, else the text for the cell."""
        runs = self.results.get((tree, tool.key))
        if runs is None:
            if tree not in self.trees:
                return "not run"
            return applicable(tool, self.trees[tree], self.context) or "not run"
        failed = [m for m in runs if m.error]
        if failed:
            return f"failed {len(failed)}/{len(runs)}: {failed[0].error}"
        return None

    def median_wall(self, tree, tool_key):
        runs = self.results.get((tree, tool_key))
        if not runs or any(m.error for m in runs):
            return None
        return statistics.median(m.wall for m in runs)

    def cell(self, tree, tool, value):
        return self.status(tree, tool) or value(self.results[(tree, tool.key)])

    def scaled(self, tree, tool):
        return tool.key == "gdb" and tree in self.trees and len(self.trees[tree].pids) > GDB_SAMPLE

    def wall(self, tree, tool):
        mark = " ‡" if self.scaled(tree, tool) else ""
        return self.cell(tree, tool, lambda runs: fmt_time(self.median_wall(tree, tool.key)) + mark)

    def spread(self, tree, tool):
        def value(runs):
            walls = [m.wall for m in runs]
            return f"{fmt_time(min(walls))} – {fmt_time(max(walls))}"
        return self.cell(tree, tool, value)

    def ratio(self, tree, tool):
        base = self.median_wall(tree, "fh")
        def value(runs):
            if base is None:
                return "–"
            return f"{self.median_wall(tree, tool.key) / base:.2f}×"
        return self.cell(tree, tool, value)

    def rss(self, tree, tool):
        def value(runs):
            peaks = [m.maxrss_kb for m in runs]
            return "unknown" if None in peaks else f"{max(peaks) / 1024:.1f} MiB"
        return self.cell(tree, tool, value)

    def pause(self, tree, tool):
        if tool.stops == "none":
            return self.status(tree, tool) or "none"
        def value(runs):
            pauses = [p for m in runs for p in m.pauses]
            if not pauses:
                return "–"
            return f"{fmt_time(statistics.median(pauses))} / {fmt_time(p99(pauses))}"
        return self.cell(tree, tool, value)

    def coverage(self, tree, tool):
        def value(runs):
            seen = {(m.threads_seen, m.threads_examined) for m in runs}
            if len(seen) == 1:
                s, e = seen.pop()
                return f"{s}/{e}"
            return ", ".join(f"{s}/{e}" for s, e in sorted(seen))
        return self.cell(tree, tool, value)

    def table(self, cell):
        names = list(tree_names(self.trees))
        lines = ["| tool | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for tool in self.tools:
            lines.append(f"| {tool.label} | " + " | ".join(cell(name, tool) for name in names) + " |")
        return "\n".join(lines)

    def pooled_pauses(self, tree):
        runs = self.results.get((tree, "fh")) or []
        if any(m.error for m in runs):
            return []
        return [p for m in runs for p in m.pauses]

    def goals(self):
        """(text, met) per goal; met is True, False or None (not measured)."""
        goals = []
        names = [name for name in tree_names(self.trees)]
        per_tree, verdicts = [], []
        for name in names:
            fh, eu = self.median_wall(name, "fh"), self.median_wall(name, "eu-stack")
            if fh is None or eu is None:
                per_tree.append(f"{name}: not measured")
                continue
            verdicts.append(fh < eu)
            per_tree.append(f"{name}: {fmt_time(fh)} vs {fmt_time(eu)} ({'yes' if fh < eu else 'no'}, "
                            f"eu-stack/forkhazard = {eu / fh:.2f}×)")
        met = all(verdicts) if verdicts else None
        summary = ("met" if met else "NOT met" if met is False else "not measured") + \
                  (f" (faster on {sum(verdicts)} of {len(verdicts)} trees)" if verdicts else "")
        goals.append((f"The full diagnosis with stacks is faster than eu-stack alone over the same processes: "
                      f"{summary}. " + "; ".join(per_tree) + ".", met))

        # The small tree at most eu-stack's time; larger trees at most half of it.
        bounds, checks = [], []
        for name in names:
            fh, eu = self.median_wall(name, "fh"), self.median_wall(name, "eu-stack")
            if fh is None or eu is None:
                continue
            limit = 1.0 if name == "demo" else 0.5
            checks.append(fh / eu <= limit)
            bounds.append(f"{name}: {fh / eu:.2f}× (at most {limit:.1f}×)")
        if checks:
            goals.append((f"The demo tree within eu-stack's time, the larger trees within half of it (forkhazard / "
                          f"eu-stack, medians): {'met' if all(checks) else 'NOT met'}: " + "; ".join(bounds) + ".",
                          all(checks)))

        # The Python trees against py-spy: the same information, Python frames alone and with native ones.
        for tree, label in (("pool8", "The Python tree"), ("pool8-py314", "The Python tree under CPython 3.14")):
            fh, fh_python = self.median_wall(tree, "fh"), self.median_wall(tree, "fh-nostacks")
            spy, spy_native = self.median_wall(tree, "py-spy-python"), self.median_wall(tree, "py-spy")
            if None not in (fh, fh_python, spy, spy_native):
                goals.append((f"{label}: with native stacks, {fmt_time(fh)} against `py-spy dump --native "
                              f"--subprocesses` {fmt_time(spy_native)} ({fh / spy_native:.2f}×), against `py-spy "
                              f"dump --subprocesses` {fmt_time(spy)} ({fh / spy:.2f}×); Python frames only "
                              f"(`--no-stacks`), {fmt_time(fh_python)} against `py-spy dump --subprocesses` "
                              f"{fmt_time(spy)} ({fh_python / spy:.2f}×). forkhazard also decodes every wait, its peers "
                              f"and lock objects, and runs the rules.", None))

        text, nostacks, floor = (self.median_wall("wide", "fh-text"), self.median_wall("wide", "fh-nostacks"),
                                 self.median_wall("wide", "floor"))
        if text is None or floor is None:
            goals.append(("`--no-stacks` on the wide tree is within 2× of pstree + ps together: not measured in "
                          "this run.", None))
        else:
            ratio = text / floor
            json_part = (f"; with `--json` (a 2 MB report) {fmt_time(nostacks)} = {nostacks / floor:.2f}×"
                         if nostacks is not None else "")
            goals.append((f"`--no-stacks` on the wide tree is within 2× of pstree + ps together: "
                          f"{'met' if ratio <= 2 else 'NOT met'} for the text report, which like pstree and ps "
                          f"prints text: {fmt_time(text)} vs {fmt_time(floor)} = {ratio:.2f}× the floor"
                          f"{json_part}.", ratio <= 2))

        pooled, parts = [], []
        for name in names:
            pauses = self.pooled_pauses(name)
            if pauses:
                pooled += pauses
                parts.append(f"{name} {fmt_time(statistics.median(pauses))}")
        if pooled:
            median = statistics.median(pooled)
            goals.append((f"forkhazard's median pause per thread is under 1 ms: "
                          f"{'met' if median < 1e-3 else 'NOT met'}: {fmt_time(median)} over all "
                          f"{len(pooled)} thread stops (p99 {fmt_time(p99(pooled))}); per tree: "
                          + ", ".join(parts) + ".", median < 1e-3))
        else:
            goals.append(("forkhazard's median pause per thread is under 1 ms: not measured in this run.", None))
        if self.run_figure is not None:
            goals.append((run_goal(self.run_figure), None))
        return goals
