"""The emulator in its own process (`batch-conformance emulator --port 0`), to measure it without sharing a GIL."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def emulator_process(*flags: str) -> Iterator[str]:
    """Start the emulator CLI on an ephemeral port (with these extra flags), yield its URL, stop it (SIGINT, then
    kill)."""
    binary = Path(sys.executable).parent / "batch-conformance"
    command = [str(binary)] if binary.exists() else [sys.executable, "-m", "conformance.cli"]
    proc = subprocess.Popen([*command, "emulator", "--port", "0", *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"batch-conformance emulator printed {url!r}, not its URL")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
