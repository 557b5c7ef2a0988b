"""Plain Schemathesis on our spec/ against the same emulator: its Python API in-process, and its `st run` CLI."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup

from benchmarks.limits import Timed
from conformance.spec import swagger_path

OPERATION = ("/pools/{poolId}/nodes/{nodeId}/reimage", "POST")


def python_api(base_url: str, api_version: str, examples_per_mode: int) -> Timed:
    """`case.call()` + `case.validate_response()` (default checks) for positive then negative cases, seed 0.

    Failures the checks raise are counted as cases and the loop goes on: plain Schemathesis judges our
    emulator by its own rules (several of which the spec-driven layer documents as pitfalls).
    """
    schema = schemathesis.openapi.from_path(swagger_path(api_version))
    operation = schema[OPERATION[0]][OPERATION[1]]
    cases = [0]
    started = time.perf_counter()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @settings(max_examples=examples_per_mode, deadline=None, database=None, print_blob=False,
                  suppress_health_check=list(HealthCheck), phases=(Phase.generate,))
        @hypothesis_seed(0)
        @given(operation.as_strategy(generation_mode=mode))
        def prop(case: Any) -> None:
            response = case.call(base_url=base_url)
            cases[0] += 1
            with contextlib.suppress(FailureGroup, Failure):  # a finding, not a benchmark error
                case.validate_response(response)
        prop()
    return Timed(cases[0], time.perf_counter() - started)


def st_binary() -> str | None:
    """The `st` (Schemathesis CLI) next to this interpreter, or on PATH."""
    local = Path(sys.executable).parent / "st"
    return str(local) if local.exists() else shutil.which("st")


def cli(base_url: str, api_version: str, max_examples: int, workers: int = 1) -> tuple[Timed, dict[str, Any]]:
    """`st run spec --url URL -n N --workers W` (all its default phases, seed 0); cases = entries of its HAR
    report."""
    binary = st_binary()
    if binary is None:
        raise RuntimeError("the Schemathesis CLI (st) is not installed next to this Python")
    with tempfile.TemporaryDirectory(prefix="bc-bench-st-") as tmp:
        har = Path(tmp) / "st.har"
        argv = [binary, "run", str(swagger_path(api_version)), "--url", base_url, "-n", str(max_examples),
                "--seed", "0", "--generation-database", "none", "--report", "har", "--report-har-path", str(har),
                "--no-color", "--workers", str(workers), "--continue-on-failure"]
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp, check=False)
        elapsed = time.perf_counter() - started
        if not har.exists():
            raise RuntimeError(f"st run wrote no HAR (exit {done.returncode}): {done.stderr[-400:]}")
        entries = json.loads(har.read_text())["log"]["entries"]
    summary = next((line.strip() for line in reversed(done.stdout.splitlines()) if line.strip()), "")
    return Timed(len(entries), elapsed), {"exit_code": done.returncode, "last_line": summary, "argv": argv[1:]}
