"""The parts of Scripts/bench, which is its entry point (its options, the order of a run); also
used by Scripts/compare-reports for the trees.

    common      where things are (the checkout, the release binary, the victims), limits, the log line
    launcher    running a command under the C launcher: wall time, peak RSS, exit status
    proctable   /proc: the process table, a tree's processes, their threads' states
    trees       the trees under test and their victims (Tests/Victims), killed by PID at the end
    tools       the tools compared and how each runs over a tree; a tree's round-robin repetitions
    context     setup: the build, the tools found or installed, versions, the machine
    runs        the `forkhazard run` figure: forks followed and overhead
    stats       timing and statistics per tree and tool, and the goals stated from them
    report      the summary printed at the end and the document (docs/benchmarks.md)

`common.FORKHAZARD` is read when used, so that a caller may point it at another binary.
"""
