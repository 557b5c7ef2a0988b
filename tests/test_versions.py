"""`run --api-version V` against the embedded emulator, for every api-version the suite knows."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.spec import changes, versions

from conftest import run_suite

# The requirements an api-version changes (spec/versions.json "changes"), plus acceptance itself: the
# version-dependent part of the catalogue, so each version runs in seconds. The whole catalogue per version
# is `batch-conformance run --api-version V` (tox -e conformance).
VERSIONED = sorted({c.requirement for c in changes()} | {"SEM-ACCEPT"})


def _only(*rids: str) -> list[str]:
    return [arg for rid in rids for arg in ("--only", rid)]


@pytest.mark.parametrize("api_version", list(versions()))
def test_run_each_version_against_emulator_passes(tmp_path: Path, api_version: str) -> None:
    run = run_suite(tmp_path, "--api-version", api_version, *_only(*VERSIONED))
    assert run.code == 0, run.results
    assert run.results["api_version"] == api_version
    statuses = {rid: r["status"] for rid, r in run.requirements.items()}
    assert statuses == dict.fromkeys(VERSIONED, "pass")


def test_run_vm_pool_refused_under_version_that_accepts_fails(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--api-version", "2024-07-01.20.0", "--emulator-fault", "vm-pool-refused",
                    *_only("SEM-POOL-CONFIG"))
    assert run.code == 1
    failure = run.requirements["SEM-POOL-CONFIG"]
    assert failure["status"] == "fail"
    assert "/pools/pool-vm/" in failure["first_failure"]["request"]["url"]


def test_run_vm_pool_accepted_under_version_that_refuses_fails(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--api-version", "2023-11-01.18.0", "--emulator-fault", "vm-pool-accepted",
                    *_only("SEM-POOL-CONFIG"))
    assert run.code == 1
    assert run.requirements["SEM-POOL-CONFIG"]["status"] == "fail"
