"""Our suite as users run it: `batch-conformance run` in-process (counted) and as a subprocess; faults found."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.limits import Timed
from conformance import checks
from conformance.cli import main as cli_main
from conformance.emulator.faults import FaultSpec
from conformance.models import RequirementFailure
from conformance.run import spec_driven
from conformance.spec import default_version
from conformance.targets.http import HttpTarget

FAULT_KEY = base64.b64encode(b"benchmark-account-key-0123456789").decode()
KEY_ENV = "BATCH_CONFORMANCE_ACCOUNT_KEY"


@dataclass
class Probe:
    """Counts what the suite sends and notes the first requirement failure, by wrapping (never editing) it."""

    started: float = field(default_factory=time.perf_counter)
    targets: list[HttpTarget] = field(default_factory=list)
    first_failure: tuple[float, str, int] | None = None  # (seconds since start, requirement, requests sent)
    _undo: list[Callable[[], None]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        """Requests the suite's targets sent so far (retries included, each counted)."""
        return sum(t.sent for t in self.targets)

    def _note(self, rid: str) -> None:
        if self.first_failure is None:
            self.first_failure = (time.perf_counter() - self.started, rid, self.sent)

    def _patch(self, owner: Any, name: str, wrapper: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, wrapper(original))
        self._undo.append(lambda: setattr(owner, name, original))

    def __enter__(self) -> Probe:
        probe = self

        def init(original: Any) -> Any:
            def wrapped(target: HttpTarget, *args: Any, **kwargs: Any) -> None:
                original(target, *args, **kwargs)
                probe.targets.append(target)
            return wrapped

        def evaluate(original: Any) -> Any:
            def wrapped(rid: str, exchange: Any) -> bool:
                try:
                    return bool(original(rid, exchange))
                except RequirementFailure:
                    probe._note(rid)
                    raise
            return wrapped

        def add(original: Any) -> Any:
            def wrapped(layer: Any, ex: Any, findings: list[Any]) -> None:
                original(layer, ex, findings)
                for finding in findings:
                    if finding.failure is not None:
                        probe._note(finding.requirement)
            return wrapped
        self._patch(HttpTarget, "__init__", init)
        self._patch(checks, "evaluate", evaluate)
        self._patch(spec_driven.LayerResult, "add", add)
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep pytest's per-test lines out of the benchmark's own output."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


@dataclass
class SuiteRun:
    """One in-process `batch-conformance run`: wall time, requests sent, verdict and statuses."""

    timed: Timed
    exit_code: int
    verdict: str
    statuses: dict[str, str]
    first_failure: tuple[float, str, int] | None


def run_in_process(args: list[str]) -> SuiteRun:
    """`batch-conformance run ARGS` through conformance.cli.main in this process (one worker: the Probe counts and
    times what this process sends), counted by a Probe."""
    with tempfile.TemporaryDirectory(prefix="bc-bench-run-") as tmp, _quiet():
        argv = ["run", "-q", "--workers", "1", "--report-dir", tmp, *args]
        with Probe() as probe:
            code = cli_main(argv)
            elapsed = time.perf_counter() - probe.started
        results = json.loads((Path(tmp) / "results.json").read_text())
    statuses = {rid: r["status"] for rid, r in results["requirements"].items()}
    return SuiteRun(Timed(probe.sent, elapsed), code, results["verdict"], statuses, probe.first_failure)


def run_subprocess(args: list[str]) -> tuple[float, int]:
    """`batch-conformance run ARGS` as a user types it (a fresh interpreter): wall seconds, exit code."""
    binary = Path(sys.executable).parent / "batch-conformance"
    command = [str(binary)] if binary.exists() else [sys.executable, "-m", "conformance.cli"]
    with tempfile.TemporaryDirectory(prefix="bc-bench-cli-") as tmp:
        started = time.perf_counter()
        done = subprocess.run([*command, "run", "-q", "--report-dir", tmp, *args], capture_output=True,
                              text=True, timeout=900, check=False)
        elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"batch-conformance run {' '.join(args)} exited {done.returncode}: {done.stderr[-400:]}")
    return elapsed, done.returncode


def fault_args(fault: FaultSpec, profile: str) -> list[str]:
    """The run a user would start to see this fault: its api-version, auth if it needs it, --only its IDs."""
    version = default_version() if fault.applies(default_version()) else fault.versions[0]
    args = ["--emulator-fault", fault.name, "--profile", profile, "--api-version", version]
    if fault.needs_auth:
        args += ["--auth", "sharedkey", "--account-name", "benchacct"]
    for rid in fault.breaks:
        args += ["--only", rid]
    return args


def fault_run(fault: FaultSpec, profile: str) -> dict[str, Any]:
    """Time to the first failure of a broken requirement, and to the end of the run, against one fault."""
    previous = os.environ.get(KEY_ENV)
    if fault.needs_auth:
        os.environ[KEY_ENV] = FAULT_KEY
    try:
        run = run_in_process(fault_args(fault, profile))
    finally:
        if fault.needs_auth:
            if previous is None:
                os.environ.pop(KEY_ENV, None)
            else:
                os.environ[KEY_ENV] = previous
    first = run.first_failure
    return {"fault": fault.name, "breaks": list(fault.breaks),
            "caught": all(run.statuses.get(rid) == "fail" for rid in fault.breaks),
            "statuses": {rid: run.statuses.get(rid, "missing") for rid in fault.breaks},
            "first_failure_s": first[0] if first else None, "first_failure_requirement": first[1] if first else None,
            "requests_to_first_failure": first[2] if first else None,
            "run_s": run.timed.seconds, "requests": run.timed.count, "exit_code": run.exit_code}


@dataclass
class Breakdown:
    """Wall seconds inside the suite's parts during one run, by timing wrappers (never edits) around them."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _phase: list[str] = field(default_factory=lambda: ["other"])
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def _timed(self, owner: Any, name: str, label: str, *, phase: bool = False) -> None:
        original = getattr(owner, name)
        probe = self

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            key = label if phase else f"{probe._phase[-1]}:{label}"
            if phase:
                probe._phase.append(label)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                probe.seconds[key] = probe.seconds.get(key, 0.0) + time.perf_counter() - started
                probe.calls[key] = probe.calls.get(key, 0) + 1
                if phase:
                    probe._phase.pop()
        setattr(owner, name, wrapped)
        self._undo.append(lambda: setattr(owner, name, original))

    def __enter__(self) -> Breakdown:
        from conformance import oracle
        from conformance.emulator.app import ReimageApp
        from conformance.run import session as engine

        self._timed(engine.Session, "check_requirement", "engine", phase=True)
        self._timed(spec_driven, "run_layer", "layer", phase=True)
        self._timed(HttpTarget, "send", "send")
        self._timed(oracle.Oracle, "expect", "oracle")
        self._timed(oracle.Oracle, "observe", "oracle")
        self._timed(checks, "evaluate", "checks")
        self._timed(ReimageApp, "handle", "emulator app")  # runs in the emulator's thread, inside `send`
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()


def breakdown(args: list[str]) -> dict[str, Any]:
    """Where one in-process run's wall time goes: generation and Hypothesis, HTTP, oracle, checks, the rest."""
    with Breakdown() as parts:
        run = run_in_process(args)
    s = parts.seconds
    total = run.timed.seconds

    def part(phase: str, label: str) -> float:
        return s.get(f"{phase}:{label}", 0.0)
    engine_s, layer_s = s.get("engine", 0.0), s.get("layer", 0.0)
    out = {
        "total": total,
        "engine: Hypothesis generation and engine": engine_s - sum(part("engine", k) for k in
                                                                   ("send", "oracle", "checks")),
        "engine: HTTP round trips (client + emulator)": part("engine", "send"),
        "engine: oracle": part("engine", "oracle"),
        "engine: checks": part("engine", "checks"),
        "spec-driven layer: Schemathesis generation and checks": layer_s - part("layer", "send")
        - part("layer", "oracle") - part("layer", "checks"),
        "spec-driven layer: HTTP round trips": part("layer", "send"),
        "pytest, start-up, emulator start/stop, reports": total - engine_s - layer_s,
        "of HTTP: emulator app logic (handle)": sum(v for k, v in s.items() if k.endswith(":emulator app")),
    }
    return {"seconds": out, "requests": run.timed.count,
            "sends": {k: v for k, v in parts.calls.items() if k.endswith(":send")},
            "check_calls": sum(v for k, v in parts.calls.items() if k.endswith(":checks"))}
