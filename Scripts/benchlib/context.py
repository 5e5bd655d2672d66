"""Setup: the build, the comparison tools (found, or installed), their versions and the machine."""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from . import common
from .common import BUILD, INSTALL_TIMEOUT, REPO, VENV, log
from .launcher import text_of
from .trees import Victims


class Context:
    def __init__(self, tmp, python):
        self.tmp = tmp
        self.python = python
        self.paths = {}         # tool key -> absolute path
        self.notes = []         # what was skipped or installed, for the output and the document
        self.victims = Victims()
        self.launcher = None    # the compiled launcher, when there is a C compiler
        self.forkhazard_version = "unknown"
        self.move_pid_counter = False   # --move-pid-counter: may fork children just to move the PID counter


def python_on_path():
    """The real interpreter behind `python3` on PATH (not a pyenv shim) and its scripts folder."""
    found = shutil.which("python3")
    if found:
        done = subprocess.run([found, "-c", "import sys, sysconfig; print(sys.executable); "
                               "print(sysconfig.get_path('scripts'))"], capture_output=True, text=True)
        lines = done.stdout.split()
        if done.returncode == 0 and len(lines) == 2:
            return lines[0], lines[1]
    import sysconfig
    return sys.executable, sysconfig.get_path("scripts")


def install(argv, what, context, quiet=False):
    log(f"{'fetching' if quiet else 'installing'} {what}: {' '.join(argv)}")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.SubprocessError) as error:
        context.notes.append(f"{'fetching' if quiet else 'installing'} {what} failed: {error}")
        return False
    if done.returncode != 0:
        lines = [l for l in (done.stderr or done.stdout).splitlines() if l.strip()]
        context.notes.append(f"{'fetching' if quiet else 'installing'} {what} failed (exit {done.returncode}): "
                             f"{lines[-1] if lines else ''}")
        return False
    if not quiet:
        context.notes.append(f"installed {what} with `{' '.join(argv)}`")
    return True


def as_root():
    """The prefix that runs a command as root without prompting ([] as root, sudo -n where that
    works), or None."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def venv_tools(context):
    """The virtual environment's bin folder, created (with pip) when it does not exist; None when
    it cannot be (python3-venv missing: Scripts/bootstrap installs it)."""
    bin_dir = VENV / "bin"
    if (bin_dir / "pip").exists():
        return bin_dir
    log(f"creating a virtual environment for py-spy and pystack: {VENV}")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    done = subprocess.run([python, "-m", "venv", str(VENV)], capture_output=True, text=True)
    if done.returncode != 0 or not (bin_dir / "pip").exists():
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        context.notes.append(f"could not create the virtual environment {VENV} for py-spy and pystack"
                             f"{': ' + lines[-1] if lines else ''}")
        return None
    return bin_dir


def find_tools(needed, context, scripts_dir):
    """Fills context.paths with every needed tool, installing the missing ones (Debian's packages
    with apt-get, py-spy and pystack into this run's virtual environment); a tool that cannot be
    installed is left out with a note."""
    apt_packages = {"eu-stack": "elfutils", "gdb": "gdb", "pstree": "psmisc", "ps": "procps", "cc": "gcc"}
    pip_tools = {"py-spy", "pystack"}

    def locate(tool):
        if tool in pip_tools:       # the real binary, not a pyenv shim (a shim adds a bash start-up)
            for folder in (VENV / "bin", Path(scripts_dir)):
                candidate = folder / tool
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return str(candidate)
        found = shutil.which(tool)
        return os.path.realpath(found) if found and tool not in pip_tools else found

    missing = [tool for tool in needed if not locate(tool)]
    apt_missing = sorted({apt_packages[t] for t in missing if t in apt_packages})
    pip_missing = [t for t in missing if t in pip_tools]
    if apt_missing:
        prefix = as_root()
        if prefix is None:
            context.notes.append(f"not root and no password-less sudo: could not apt-get install {', '.join(apt_missing)}")
        elif install([*prefix, "apt-get", "update", "-qq"], "the package lists", context, quiet=True):
            install([*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
                     "--no-install-recommends", *apt_missing], ", ".join(apt_missing), context)
    if pip_missing:
        bin_dir = venv_tools(context)
        if bin_dir:
            install([str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check",
                     "--retries", "1", "--timeout", "30", *pip_missing],
                    f"{', '.join(pip_missing)} into {VENV}", context)
    for tool in needed:
        path = locate(tool)
        if path:
            context.paths[tool] = path
        else:
            context.notes.append(f"`{tool}` is not available: skipped")


def build(context):
    log(f"building: swift build -c release --static-swift-stdlib --scratch-path {BUILD.relative_to(REPO)} (as Scripts/install does)")
    done = subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--scratch-path", str(BUILD), "--quiet"],
                          cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit("bench: swift build -c release failed")


def forkhazard_version():
    """What the binary says of itself: its release and the commit it was built from."""
    return text_of([str(common.FORKHAZARD), "--version"], containing="forkhazard") or "unknown"


def tool_versions(context):
    versions = {"forkhazard": f"{context.forkhazard_version}, release build with the Swift runtime linked in",
                "swift": text_of(["swift", "--version"], containing="Swift version") or "unknown",
                "python3": f"{text_of([context.python, '--version'])} ({context.python})"}
    for tool, path in sorted(context.paths.items()):
        # A tool installed for the benchmark is named by its path in the checkout.
        shown = Path(path).relative_to(REPO) if Path(path).is_relative_to(REPO) else path
        versions[tool] = f"{text_of([path, '--version']) or 'unknown'} ({shown})"
    return versions


def load_average():
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                cpu = value.strip()
                break
    memory = "unknown"
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    distro = "unknown"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {"CPUs (nproc)": str(len(os.sched_getaffinity(0))), "CPU model": cpu, "memory": memory,
            "kernel": f"{platform.system()} {platform.release()} {platform.machine()}", "distribution": distro}
