"""Running a command: its wall time and its own peak RSS (through a small C launcher), exit
status checked."""

import dataclasses
import math
import os
import select
import signal
import subprocess
import time
from pathlib import Path

from .common import COMMAND_TIMEOUT


@dataclasses.dataclass
class CommandResult:
    argv: list
    wall: float | None          # seconds, from fork to reap
    maxrss_kb: int | None       # the tool's ru_maxrss (KiB on Linux); None when unknown
    exit_code: int | None       # None when killed by a signal
    signal: int | None
    timed_out: bool
    timeout: float
    stdout_path: Path
    stderr_tail: str

    def failure(self, ok_codes=(0,)):
        """None when the command succeeded, else why it did not."""
        if self.timed_out:
            return f"timed out after {self.timeout:g} s"
        if self.wall is None:
            return self.stderr_tail
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        if self.exit_code not in ok_codes:
            tail = f": {self.stderr_tail}" if self.stderr_tail else ""
            return f"exit {self.exit_code}{tail}"
        return None

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")


def tail_line(path, limit=160):
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""
# The launcher every tool runs under. os.wait4 on a child spawned from this Python process
# reports a ru_maxrss of at least this process's own RSS (exec records the high-water mark of the
# memory the child shared or copied from its parent), so the tool is forked from this small C
# program instead, which times it from fork to reap and reports its wait4 rusage.
LAUNCHER_SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* usage: launcher RESULT-FILE TIMEOUT-SECONDS /abs/tool ARGS...
   Writes "wall-ns maxrss-kib wait-status timed-out". On the timeout (SIGALRM) or a SIGTERM the
   tool is killed and reaped first, so it never outlives the launcher. */
static volatile pid_t child = 0;
static volatile sig_atomic_t timed_out = 0;

static void stop_child(int sig) {
    if (sig == SIGALRM) timed_out = 1;
    if (child > 0) kill(child, SIGKILL);
}

int main(int argc, char **argv) {
    if (argc < 4) return 64;
    struct sigaction action = {0};
    action.sa_handler = stop_child;
    sigaction(SIGALRM, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    pid_t parent = getpid();
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid < 0) return 71;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);       /* and if the launcher is killed outright */
        if (getppid() != parent) _exit(126);
        signal(SIGALRM, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execv(argv[3], argv + 3);
        _exit(127);
    }
    child = pid;
    alarm((unsigned)atoi(argv[2]));
    int status;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0)
        if (errno != EINTR) return 71;
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long ns = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
    FILE *out = fopen(argv[1], "w");
    if (!out) return 73;
    fprintf(out, "%lld %ld %d %d\n", ns, usage.ru_maxrss, status, (int)timed_out);
    return fclose(out) == 0 ? 0 : 74;
}
"""


def compile_launcher(context):
    source, binary = Path(context.tmp) / "launcher.c", Path(context.tmp) / "launcher"
    source.write_text(LAUNCHER_SOURCE)
    done = subprocess.run([context.paths["cc"], "-O2", "-o", str(binary), str(source)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    return str(binary)


def spawn_and_reap(argv, files, timeout):
    """posix_spawn argv with stdin /dev/null and stdout, stderr to the given files; waits through
    a pidfd, killing it on timeout; returns (wait status, rusage, timed out, perf_counter seconds).
    When interrupted, it asks the process to stop (TERM: the launcher then kills and reaps the
    tool) before killing it."""
    write = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, str(files[0]), write, 0o600),
               (os.POSIX_SPAWN_OPEN, 2, str(files[1]), write, 0o600)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    pidfd = os.pidfd_open(pid)
    reaped = False
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        if not ready:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - start
        reaped = True
    finally:
        if not reaped:                      # interrupted: never leave a tool running
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
            if not select.select([pidfd], [], [], 2)[0]:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.wait4(pid, 0)
        os.close(pidfd)
    return status, usage, not ready, elapsed


def run_command(argv, context, timeout=COMMAND_TIMEOUT):
    """Runs argv (argv[0] an absolute path) under the launcher and returns its wall time and peak
    RSS. Without a launcher (no C compiler), the wall time is perf_counter around the spawn and
    reap, and the peak RSS is unknown."""
    argv = [str(a) for a in argv]
    timeout = max(1, math.ceil(timeout))
    out_path, err_path = Path(context.tmp) / "stdout", Path(context.tmp) / "stderr"
    result_path = Path(context.tmp) / "launcher.result"
    if context.launcher:
        result_path.unlink(missing_ok=True)
        status, _, timed_out, _ = spawn_and_reap([context.launcher, str(result_path), str(timeout), *argv],
                                                 (out_path, err_path), timeout + 10)
        if timed_out or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or not result_path.exists():
            launcher_failure = None if timed_out else f"launcher failed (wait status {status})"
            return CommandResult(argv, None, None, None, None, timed_out, timeout, out_path, launcher_failure)
        wall_ns, maxrss, status, timed_out = (int(field) for field in result_path.read_text().split())
        wall, timed_out = wall_ns / 1e9, bool(timed_out)
    else:
        status, _, timed_out, wall = spawn_and_reap(argv, (out_path, err_path), timeout)
        maxrss = None
    return CommandResult(
        argv=argv, wall=wall, maxrss_kb=maxrss,
        exit_code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        timed_out=timed_out, timeout=timeout, stdout_path=out_path,
        stderr_tail=tail_line(err_path) if not timed_out else "")


def text_of(argv, timeout=60, containing=""):
    """First line of a command's output (stdout, else stderr) that holds `containing`, or ''."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return ""
    for stream in (done.stdout, done.stderr):
        for line in stream.splitlines():
            if line.strip() and containing in line:
                return line.strip()
    return ""
