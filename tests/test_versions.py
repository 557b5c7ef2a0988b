"""`run --api-version V` against the embedded emulator, for every api-version the suite knows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.spec import changes, versions

# The requirements an api-version changes (spec/versions.json "changes"), plus acceptance itself: the
# version-dependent part of the catalogue, so each version runs in seconds. The whole catalogue per version
# is `batch-conformance run --api-version V` (tox -e conformance).
VERSIONED = sorted({c.requirement for c in changes()} | {"SEM-ACCEPT"})


def _run(tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = ["run", "--profile", "quick", "--report-dir", str(tmp_path), "--no-schemathesis", "-q", *extra]
    code = main(argv)
    return code, json.loads((tmp_path / "results.json").read_text())


def _only(*rids: str) -> list[str]:
    return [arg for rid in rids for arg in ("--only", rid)]


@pytest.mark.parametrize("api_version", list(versions()))
def test_run_each_version_against_emulator_passes(tmp_path: Path, api_version: str) -> None:
    code, results = _run(tmp_path, "--api-version", api_version, *_only(*VERSIONED))
    assert code == 0, results
    assert results["api_version"] == api_version
    statuses = {rid: r["status"] for rid, r in results["requirements"].items()}
    assert statuses == dict.fromkeys(VERSIONED, "pass")


def test_run_vm_pool_refused_under_version_that_accepts_fails(tmp_path: Path) -> None:
    code, results = _run(tmp_path, "--api-version", "2024-07-01.20.0", "--emulator-fault", "vm-pool-refused",
                         *_only("SEM-POOL-CONFIG"))
    assert code == 1
    failure = results["requirements"]["SEM-POOL-CONFIG"]
    assert failure["status"] == "fail"
    assert "/pools/pool-vm/" in failure["first_failure"]["request"]["url"]


def test_run_vm_pool_accepted_under_version_that_refuses_fails(tmp_path: Path) -> None:
    code, results = _run(tmp_path, "--api-version", "2023-11-01.18.0", "--emulator-fault", "vm-pool-accepted",
                         *_only("SEM-POOL-CONFIG"))
    assert code == 1
    assert results["requirements"]["SEM-POOL-CONFIG"]["status"] == "fail"
