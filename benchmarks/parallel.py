"""What a user waits for at the command line: --help, the first request, and whole runs serial and on workers."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.limits import Timed


def command() -> list[str]:
    """`batch-conformance` next to this interpreter (as a user types it), else through `python -m`."""
    binary = Path(sys.executable).parent / "batch-conformance"
    return [str(binary)] if binary.exists() else [sys.executable, "-m", "conformance.cli"]


def help_wall() -> float:
    """Wall seconds of `batch-conformance --help` in a fresh interpreter."""
    started = time.perf_counter()
    subprocess.run([*command(), "--help"], capture_output=True, check=True, timeout=60)
    return time.perf_counter() - started


def run_cli(args: list[str]) -> tuple[Timed, dict[str, Any]]:
    """`batch-conformance run -q ARGS` as a user types it: wall seconds and requests sent (results.json counts them
    in every worker), and results.json itself."""
    with tempfile.TemporaryDirectory(prefix="bc-bench-par-") as tmp:
        started = time.perf_counter()
        done = subprocess.run([*command(), "run", "-q", "--report-dir", tmp, *args], capture_output=True,
                              text=True, timeout=1800, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"batch-conformance run {' '.join(args)} exited {done.returncode} against the correct "
                               f"emulator: {done.stdout[-400:]} {done.stderr[-400:]}")
        results = json.loads((Path(tmp) / "results.json").read_text())
    return Timed(int(results["requests"]), elapsed), results


def first_request(args: list[str]) -> float:
    """Seconds from starting `batch-conformance run ARGS` to its first request on the wire (from the HAR it
    records: an entry's start is its end time less its duration)."""
    with tempfile.TemporaryDirectory(prefix="bc-bench-first-") as tmp:
        har = Path(tmp) / "traffic.har"
        started = time.time()
        subprocess.run([*command(), "run", "-q", "--report-dir", tmp, "--record", str(har), *args],
                       capture_output=True, timeout=600, check=False)
        entries = json.loads(har.read_text())["log"]["entries"]
    first = min(datetime.fromisoformat(e["startedDateTime"]).timestamp() - e["time"] / 1000 for e in entries)
    return first - started
