"""The suite proves itself: a correct emulator passes, and every deliberate fault fails what it breaks."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from conformance.emulator import AuthConfig, EmbeddedEmulator
from conformance.emulator.faults import FaultSpec, catalogue
from conformance.inventory import default_inventory, parse_inventory
from conformance.spec import catalogue as requirements
from conformance.spec import default_version

from conftest import SuiteRun, run_suite

ACCOUNT_KEY = base64.b64encode(b"fault-matrix-test-key-0123456789").decode()


def _version_for(fault: FaultSpec) -> str:
    return default_version() if fault.applies(default_version()) else fault.versions[0]


@pytest.mark.slow  # one run per fault of the catalogue: about 13 s in all
@pytest.mark.parametrize("fault", [f for f in catalogue() if f.through is None], ids=lambda f: f.name)
def test_fault_run_fails_the_requirements_it_breaks(fault: FaultSpec, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["--emulator-fault", fault.name, "--api-version", _version_for(fault)]
    if fault.needs_auth:
        monkeypatch.setenv("BATCH_CONFORMANCE_ACCOUNT_KEY", ACCOUNT_KEY)
        args += ["--auth", "sharedkey", "--account-name", "faultacct"]
    for rid in fault.breaks:
        args += ["--only", rid]
    run = run_suite(tmp_path, *args, profile="quick")
    _assert_breaks(run, fault, fault.name)


@pytest.mark.parametrize("fault", [f for f in catalogue() if f.through is not None], ids=lambda f: f.name)
def test_fault_through_sdk_run_fails_the_requirements_it_breaks(fault: FaultSpec, tmp_path: Path, sdk15: Path) -> None:
    inventory = default_inventory().to_json()
    for pool in inventory["pools"]:
        for node in pool["nodes"]:
            node["expendable"] = True
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    args = ["--inventory", str(tmp_path / "inventory.json"), "--allow-destructive", "--max-reimages", "1000",
            "--watch-seconds", "2", *(f for rid in fault.breaks for f in ("--only", rid))]
    with EmbeddedEmulator(fault=fault.name, inventory=parse_inventory(inventory, source="test")) as emu:
        target = f"sdk@{fault.through}+{emu.url}"
        run = run_suite(tmp_path / "r", "--target", target, *args, profile="quick")
    _assert_breaks(run, fault, target)


def _assert_breaks(run: SuiteRun, fault: FaultSpec, named: str) -> None:
    """Every requirement the fault breaks failed, with a reproduction naming the fault (or the target); the exit
    code follows the levels."""
    results = run.requirements
    statuses = {rid: results[rid]["status"] for rid in fault.breaks}
    assert statuses == dict.fromkeys(fault.breaks, "fail"), statuses
    for rid in fault.breaks:
        failure = results[rid]["first_failure"]
        assert isinstance(failure, dict) and named in str(failure["reproduce"])
    breaks_a_must = any(requirements()[rid].level == "MUST" for rid in fault.breaks)
    assert run.code == (1 if breaks_a_must else 0)


@pytest.mark.slow  # one run per fault against a URL: about 20 s in all
@pytest.mark.parametrize("fault", [f for f in catalogue() if f.through is None], ids=lambda f: f.name)
def test_fault_at_a_url_caught_the_way_a_vendor_runs_it(fault: FaultSpec, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator started on its own and addressed as a URL, where the suite knows less (no --auth unless the
    fault needs it, no node states but the inventory's, no served versions): every fault is still caught."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(default_inventory().to_json()))  # its working nodes are expendable
    args = ["--target", "", "--inventory", str(inventory), "--allow-destructive", "--max-reimages", "100000",
            "--api-version", _version_for(fault)]
    auth = None
    if fault.needs_auth:
        monkeypatch.setenv("BATCH_CONFORMANCE_ACCOUNT_KEY", ACCOUNT_KEY)
        args += ["--auth", "sharedkey", "--account-name", "faultacct"]
        auth = AuthConfig("faultacct", ACCOUNT_KEY, frozenset())
    if "SEM-CONCURRENT-REIMAGE" in fault.breaks:  # simultaneous reimages run only against a --disposable target
        args.append("--disposable")
    for rid in fault.breaks:
        args += ["--only", rid]
    with EmbeddedEmulator(fault=fault.name, auth=auth) as emulator:
        args[1] = emulator.url
        run = run_suite(tmp_path / "reports", *args, profile="quick")
    statuses = {rid: run.requirements[rid]["status"] for rid in fault.breaks}
    assert statuses == dict.fromkeys(fault.breaks, "fail"), statuses


@pytest.mark.parametrize("profile", ["quick", pytest.param("standard", marks=pytest.mark.slow),  # about 5 s
                                     pytest.param("thorough", marks=pytest.mark.slow)])  # 30 s or more
def test_correct_emulator_every_profile_passes_with_no_failure(tmp_path: Path, profile: str) -> None:
    run = run_suite(tmp_path, profile=profile)
    results = run.requirements
    assert run.code == 0
    assert [rid for rid, r in results.items() if r["status"] in ("fail", "error")] == []
    decided = [rid for rid, r in results.items() if r["status"] == "pass"]
    assert len(decided) >= 30 and all(results[rid]["examples"] > 0 for rid in decided)


def test_correct_emulator_with_auth_decides_auth_requirements(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_CONFORMANCE_ACCOUNT_KEY", ACCOUNT_KEY)
    run = run_suite(tmp_path, "--auth", "sharedkey", "--account-name", "acct", "--only", "AUTH-MISSING",
                    "--only", "AUTH-BAD-SIGNATURE", "--only", "SEM-ACCEPT", profile="quick")
    assert run.code == 0
    assert {rid: r["status"] for rid, r in run.requirements.items()} == dict.fromkeys(
        ("SEM-ACCEPT", "AUTH-MISSING", "AUTH-BAD-SIGNATURE"), "pass")
