"""Where things are, the limits every part uses, and the log line."""

import sys
import time
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent.parent
VICTIMS = REPO / "Tests" / "Victims"
# The binary as Scripts/install ships it: a release build with the Swift runtime linked in.
BUILD = REPO / ".build-bench" / "build"
FORKHAZARD = BUILD / "release" / "forkhazard"
DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"
VENV = REPO / ".build-bench" / "venv"     # py-spy and pystack, installed here with pip when missing
GDB_SAMPLE = 20            # gdb examines at most this many processes of a tree; the time is scaled
COMMAND_TIMEOUT = 180.0    # seconds for one tool invocation before it is killed and recorded as failed
SETTLE_TIMEOUT = 60.0      # seconds for a tree to reach its expected shape with every thread in S
INSTALL_TIMEOUT = 900.0
# Figures planned but not measured yet; each is named in the document's "Not measured yet".
PLANNED_FIGURES = []
STARTED = time.monotonic()


def log(message):
    print(f"bench: {time.monotonic() - STARTED:6.1f}s {message}", file=sys.stderr, flush=True)
