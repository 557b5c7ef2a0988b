"""What the processes of one parallel run share: --max-reimages, --rate and the stop.

Each worker of `--workers N` (or `pytest -n N`) is its own process with its own live safety, targets and guard; a
limit the user gives is for the run, not for each process. The controller makes one directory and every worker
opens it: a small JSON state (reimages spent, the next free send slot) changed only under an exclusive lock on a
file beside it (fcntl.flock: every change is read-modify-write by one process at a time), and a stop file that the
first process to stop writes (the reason) and every other process reads before each request.

The stop takes no lock, so a signal handler may pull it: the reason is written to a file of its own and linked
into place, which succeeds for the first process only and is never seen half written.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance.models import UsageError

STATE, LOCK, STOP = "state.json", "lock", "stop"


def _flock() -> Any:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        raise UsageError("--workers above 1 needs POSIX file locks (fcntl), which this platform lacks; "
                         "run with --workers 1") from None
    return fcntl


class SharedRun:
    """The run-wide limits, in a directory every process of the run opens."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self._fcntl = _flock()
        self._stop = self.dir / STOP

    @classmethod
    def create(cls) -> SharedRun:
        """A new, empty shared state (the controller's); remove() when the run is over."""
        shared = cls(tempfile.mkdtemp(prefix="batch-conformance-run-"))
        (shared.dir / STATE).write_text(json.dumps({"spent": 0, "next": 0.0}))
        (shared.dir / LOCK).touch()
        return shared

    def remove(self) -> None:
        """Delete the directory (the controller, once every worker is done)."""
        for name in (STATE, LOCK, STOP):
            with contextlib.suppress(FileNotFoundError):
                (self.dir / name).unlink()
        with contextlib.suppress(OSError):
            for leftover in self.dir.iterdir():
                leftover.unlink()
            self.dir.rmdir()

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """The state, locked against every other process for a read-modify-write."""
        with open(self.dir / LOCK, "a+") as lock:
            self._fcntl.flock(lock.fileno(), self._fcntl.LOCK_EX)
            try:
                state: dict[str, Any] = json.loads((self.dir / STATE).read_text())
                yield state
                scratch = self.dir / f"{STATE}.{os.getpid()}"
                scratch.write_text(json.dumps(state))
                scratch.replace(self.dir / STATE)
            finally:
                self._fcntl.flock(lock.fileno(), self._fcntl.LOCK_UN)

    # --- --max-reimages ---------------------------------------------------------------------------------
    def take(self, wanted: int, limit: int) -> bool:
        """Spend `wanted` of the run's `limit` requests that could reimage, or none when they do not all fit."""
        with self._state() as state:
            if state["spent"] + wanted > limit:
                return False
            state["spent"] += wanted
            return True

    def claim_plan(self, wanted: int, limit: int) -> int:
        """Claim the run's reimage plan for this process, reserving up to `wanted` of `limit` for it at once (before
        any worker's properties spend any): how many were reserved, or -1 when another process claimed it."""
        with self._state() as state:
            if state.get("plan"):
                return -1
            state["plan"] = True
            reserved = max(0, min(wanted, limit - int(state["spent"])))
            state["spent"] += reserved
            return reserved

    def release(self, unused: int) -> None:
        """Give back what a reservation did not spend."""
        if unused > 0:
            with self._state() as state:
                state["spent"] = max(0, int(state["spent"]) - unused)

    def lease(self, node: str) -> bool:
        """Whether this process may reimage `node` (pool/node): the first process to ask holds it for the run."""
        me = os.getpid()
        with self._state() as state:
            leases = state.setdefault("leases", {})
            return int(leases.setdefault(node, me)) == me

    def held_by_others(self) -> frozenset[str]:
        """The nodes (pool/node) other processes hold (a read: nothing is claimed)."""
        me = os.getpid()
        with self._state() as state:
            return frozenset(node for node, holder in state.get("leases", {}).items() if int(holder) != me)

    def spent(self) -> int:
        """How many requests that could reimage the whole run has let through so far."""
        with self._state() as state:
            return int(state["spent"])

    # --- --rate -----------------------------------------------------------------------------------------
    def slot(self, interval: float) -> float:
        """Claim the run's next send slot, `interval` seconds after the one before it; seconds to wait for it."""
        with self._state() as state:
            now = time.monotonic()  # one clock for every process of the machine (CLOCK_MONOTONIC)
            at = max(now, float(state["next"]))
            state["next"] = at + interval
        return at - now

    # --- the stop ---------------------------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Stop every process of the run (the first reason stays). Takes no lock: safe in a signal handler."""
        if self._stop.exists():
            return
        scratch = self.dir / f"{STOP}.{os.getpid()}.{time.monotonic_ns()}"
        try:
            scratch.write_text(reason)
            os.link(scratch, self._stop)  # atomic, and only the first process's link succeeds
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                scratch.unlink()

    def stopped(self) -> str:
        """Why the run stopped sending, when one of its processes stopped it; '' while it may send."""
        try:
            return self._stop.read_text() or "stopped by another worker"
        except OSError:
            return ""
