"""`batch-conformance diff`: the same cases at two api-versions, each difference classified."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.config import KEY_ENV
from conformance.emulator import AuthConfig, EmbeddedEmulator
from conformance.inventory import default_inventory

FROM, TO = "2023-11-01.18.0", "2024-07-01.20.0"


def _diff(tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["diff", "--from", FROM, "--to", TO, "--profile", "quick", "--report-dir", str(tmp_path), *extra])
    return code, json.loads((tmp_path / "diff.json").read_text())


def _only(*rids: str) -> list[str]:
    return [arg for rid in rids for arg in ("--only", rid)]


def _junit(tmp_path: Path) -> dict[str, ET.Element]:
    root = ET.parse(tmp_path / "junit.xml").getroot()
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_diff_vm_version_upgrade_against_emulator_lists_vm_pool_change_as_expected(tmp_path: Path) -> None:
    code, doc = _diff(tmp_path, *_only("SEM-POOL-CONFIG", "SEM-ACCEPT", "SEM-NODE-STATE", "SEM-POOL-NOT-FOUND"))
    assert code == 0
    assert doc["verdict"] == "pass" and doc["counts"]["unexpected"] == 0 and doc["counts"]["expected"] > 0
    cited = {c["aspect"] for kind in doc["differences"] for c in kind["changes"]}
    assert cited == {"vm_pool_allowed"}
    vm = next(c for c in doc["changes"] if c["aspect"] == "vm_pool_allowed")
    assert vm["status"] == "observed" and vm["requirement"] == "SEM-POOL-CONFIG"
    example = doc["differences"][0]["example"]
    assert example["from"]["observed"]["code"] == "OperationNotValidOnNode"
    assert example["to"]["observed"]["status"] == 202
    assert "/pools/pool-vm/" in example["from"]["request"]["path"].lower()  # pool IDs are case-insensitive
    case = _junit(tmp_path)["2024-07-01.20.0 vm_pool_allowed"]
    assert case.find("failure") is None and case.find("skipped") is None
    assert 'id="bc-verdict" style="color:#2e7d32">PASS' in (tmp_path / "report.html").read_text()


def test_diff_emulator_applying_wrong_version_rule_reports_unexpected(tmp_path: Path) -> None:
    code, doc = _diff(tmp_path, "--emulator-fault", "vm-pool-refused", *_only("SEM-POOL-CONFIG"))
    assert code == 1
    assert doc["counts"]["unexpected"] > 0 and doc["counts"]["expected"] == 0
    kind = doc["differences"][0]
    assert kind["classification"] == "unexpected"
    assert [c["aspect"] for c in kind["changes"]] == ["vm_pool_allowed"]
    assert kind["example"]["to"]["observed"]["status"] == 409
    assert _junit(tmp_path)["2024-07-01.20.0 vm_pool_allowed"].find("failure") is not None


def test_diff_documented_change_missing_at_new_version_reports_unexpected(tmp_path: Path) -> None:
    code, doc = _diff(tmp_path, "--emulator-fault", "vm-pool-accepted", *_only("SEM-POOL-CONFIG"))
    assert code == 1
    kind = doc["differences"][0]
    assert kind["classification"] == "unexpected" and "not observed" in kind["reason"]


def test_diff_emulator_changing_undocumented_behaviour_at_new_version_reports_unexpected(tmp_path: Path) -> None:
    code, doc = _diff(tmp_path, "--emulator-fault", "unknown-node-500-newer-versions", *_only("SEM-NODE-NOT-FOUND"))
    assert code == 1
    assert doc["counts"]["unexpected"] > 0 and doc["counts"]["expected"] == 0
    kind = next(k for k in doc["differences"] if k["classification"] == "unexpected")
    assert kind["changes"] == [] and kind["example"]["to"]["observed"]["status"] == 500


def test_diff_undocumented_change_between_two_targets_reports_unexpected(tmp_path: Path) -> None:
    with EmbeddedEmulator() as old, EmbeddedEmulator(fault="unknown-node-500") as new:
        code, doc = _diff(tmp_path, "--target-from", old.url, "--target-to", new.url, *_only("SEM-NODE-NOT-FOUND"))
    assert code == 1
    assert doc["counts"]["unexpected"] > 0 and doc["counts"]["expected"] == 0
    kinds = doc["differences"]
    assert all(k["example"]["to"]["observed"]["status"] == 500 for k in kinds)
    undocumented = next(k for k in kinds if not k["changes"])  # e.g. an unknown node of a cloud-service pool
    assert undocumented["example"]["from"]["observed"]["code"] == "NodeNotFound"
    assert "no documented change" in undocumented["reason"]
    failed = [c for c in _junit(tmp_path).values() if c.get("classname") == "diff.unexpected"]
    assert failed and all(c.find("failure") is not None for c in failed)


def test_diff_remote_target_without_allow_destructive_sends_nothing_acceptable(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.json"  # expendable nodes: the strategies generate valid requests to them
    inventory.write_text(json.dumps(default_inventory().to_json()))
    with EmbeddedEmulator() as target:
        code, doc = _diff(tmp_path, "--target", target.url, "--inventory", str(inventory), *_only("SEM-ACCEPT"))
        reimaged = [n for p in target.state.pools.values() for n in p.nodes.values() if n.reimages]
    assert reimaged == []
    assert doc["cases"] == 0 and doc["withheld"] > 0
    assert code == 2 and doc["verdict"] == "error"


@pytest.mark.parametrize("flags", [
    ["--target", "http://127.0.0.1:9", "--emulator-fault", "vm-pool-refused"],
    ["--target-from", "http://127.0.0.1:9"],
    ["--profile", "huge"],
])
def test_diff_contradictory_flags_exit_2(tmp_path: Path, flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--from", FROM, "--to", TO, "--report-dir", str(tmp_path), *flags]) == 2
    assert "batch-conformance: error:" in capsys.readouterr().err


def test_diff_unknown_version_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--from", FROM, "--to", "2099-01-01.99.0", "--report-dir", str(tmp_path)]) == 2
    assert "2099-01-01.99.0" in capsys.readouterr().err


def test_diff_same_seed_sends_same_cases(tmp_path: Path) -> None:
    runs = [_diff(tmp_path / str(i), "--seed", "7", *_only("SEM-POOL-CONFIG", "SEM-BAD-OPTION"))[1] for i in (1, 2)]
    assert runs[0]["cases"] == runs[1]["cases"] > 0
    assert [k["example"] for k in runs[0]["differences"]] == [k["example"] for k in runs[1]["differences"]]


def test_diff_unreachable_target_is_a_harness_error(tmp_path: Path) -> None:
    code, doc = _diff(tmp_path, "--target", "http://127.0.0.1:9", *_only("SEM-POOL-NOT-FOUND"))
    assert code == 2
    assert doc["verdict"] == "error" and doc["harness_errors"]
    assert _junit(tmp_path)["no unexpected differences"].find("error") is not None


def test_diff_remote_destructive_busy_node_is_inconclusive_within_budget(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(default_inventory().to_json()))
    with EmbeddedEmulator(reimage_seconds=60) as target:  # a reimaged node stays busy for the whole diff
        # --watch-seconds 0: live safety reads the node once after a reimage and does not wait for it
        code, doc = _diff(tmp_path, "--target", target.url, "--inventory", str(inventory), "--allow-destructive",
                          "--max-reimages", "8", "--watch-seconds", "0", *_only("SEM-ACCEPT", "SEM-POOL-CONFIG"))
        reimages = sum(n.reimages for p in target.state.pools.values() for n in p.nodes.values())
    assert 0 < reimages <= 8 and doc["withheld"] > 0
    assert code == 0 and doc["counts"]["unexpected"] == 0 and doc["counts"]["inconclusive"] > 0
    busy = next(k for k in doc["differences"] if k["classification"] == "inconclusive")
    assert busy["changes"] == [] and "NodeBeingReimaged" in busy["kind"]


ACCOUNT = "acct"
KEY = base64.b64encode(b"diff-shared-key-test-" * 2).decode()
VM_ONLY = _only("SEM-POOL-CONFIG", "SEM-ACCEPT", "SEM-POOL-NOT-FOUND")


def test_diff_shared_key_against_emulator_enforcing_it_lists_vm_pool_change_as_expected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    with EmbeddedEmulator(auth=AuthConfig(ACCOUNT, KEY)) as emu:
        code, doc = _diff(tmp_path, "--target", emu.url, "--auth", "sharedkey", "--account-name", ACCOUNT,
                          "--inventory", str(_expendable_inventory(tmp_path)), "--allow-destructive",
                          "--max-reimages", "1000", "--watch-seconds", "1", *VM_ONLY)
        reimaged = sum(n.reimages for p in emu.state.pools.values() for n in p.nodes.values())
    assert code == 0 and doc["verdict"] == "pass" and doc["counts"]["unexpected"] == 0 and reimaged > 0
    assert {c["aspect"] for kind in doc["differences"] for c in kind["changes"]} == {"vm_pool_allowed"}
    assert next(c for c in doc["changes"] if c["aspect"] == "vm_pool_allowed")["status"] == "observed"


def test_diff_unsigned_against_emulator_enforcing_shared_key_sees_no_change(tmp_path: Path) -> None:
    with EmbeddedEmulator(auth=AuthConfig(ACCOUNT, KEY)) as emu:  # every request is refused, at both versions
        _, doc = _diff(tmp_path, "--target", emu.url, "--inventory", str(_expendable_inventory(tmp_path)),
                       "--allow-destructive", "--max-reimages", "1000", "--watch-seconds", "1", *VM_ONLY)
    # live safety could not read the nodes (Get Node is refused too), so no request that could reimage was sent
    assert next(c for c in doc["changes"] if c["aspect"] == "vm_pool_allowed")["status"] == "not-exercised"
    assert doc["differences"] == [] and any("did not answer a state" in w for w in doc["withheld_reasons"])


def test_diff_embedded_emulator_with_shared_key_signs_and_passes(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    code, doc = _diff(tmp_path, "--auth", "sharedkey", "--account-name", ACCOUNT, *VM_ONLY)
    assert code == 0 and doc["counts"]["expected"] > 0 and doc["counts"]["unexpected"] == 0


def test_diff_settings_flag_beats_environment_beats_config_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bc.toml"
    config.write_text('[batch-conformance]\nseed = 3\nonly = ["SEM-POOL-NOT-FOUND"]\n')
    _, from_file = _diff(tmp_path / "a", "--bc-config", str(config))
    monkeypatch.setenv("BATCH_CONFORMANCE_SEED", "7")
    _, from_env = _diff(tmp_path / "b", "--bc-config", str(config))
    _, from_flag = _diff(tmp_path / "c", "--bc-config", str(config), "--seed", "11")
    assert (from_file["seed"], from_env["seed"], from_flag["seed"]) == (3, 7, 11)
    assert from_file["profile"] == "quick"  # diff's own default, below every layer


def test_diff_record_writes_both_versions_as_har(tmp_path: Path) -> None:
    har = tmp_path / "traffic.har"
    code, doc = _diff(tmp_path, "--record", str(har), *_only("SEM-POOL-NOT-FOUND"))
    entries = json.loads(har.read_text())["log"]["entries"]
    assert code == 0 and len(entries) >= 2 * doc["cases"]
    versions = {q["value"] for e in entries for q in e["request"]["queryString"] if q["name"] == "api-version"}
    assert {FROM, TO} <= versions


def _expendable_inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.json"
    doc = default_inventory().to_json()
    for pool in doc["pools"]:
        for node in pool["nodes"]:
            node["expendable"] = True
    path.write_text(json.dumps(doc))
    return path


V25 = "2025-06-01"


def _sdk_diff(tmp_path: Path, url: str, *extra: str, watch: str = "2") -> tuple[int, dict[str, Any]]:
    code = main(["diff", "--from", FROM, "--to", V25, "--target-from", f"sdk@14.1.0+{url}", "--target-to",
                 f"sdk@15.1.0+{url}", "--inventory", str(_expendable_inventory(tmp_path)), "--allow-destructive",
                 "--max-reimages", "5000", "--watch-seconds", watch, "--report-dir", str(tmp_path / "r"), *extra])
    return code, json.loads((tmp_path / "r" / "diff.json").read_text())


def test_diff_sdk_14_to_15_against_emulator_lists_expected_differences_only(tmp_path: Path, sdk15: Path) -> None:
    with EmbeddedEmulator(inventory=default_inventory()) as emu:
        code, doc = _sdk_diff(tmp_path, emu.url)
    assert code == 0 and doc["counts"]["unexpected"] == 0 and doc["counts"]["expected"] > 0
    status = {f"{c['to']} {c['aspect']}": c["status"] for c in doc["changes"]}
    assert {key: status[key] for key in ("15.1.0 returns", "15.1.0 error_type", "15.1.0 without_option",
                                         "2024-07-01.20.0 vm_pool_allowed")} == dict.fromkeys(
        ("15.1.0 returns", "15.1.0 error_type", "15.1.0 without_option", "2024-07-01.20.0 vm_pool_allowed"),
        "observed")
    kinds = " | ".join(k["kind"] for k in doc["differences"])
    assert "14.1.0 raised BatchErrorException (PoolNotFound)" in kinds  # a 404: the error types a caller meets
    assert "15.1.0 raised ResourceNotFoundError (PoolNotFound)" in kinds
    assert "15.1.0 returned LROPoller (poller Succeeded)" in kinds
    assert "nothing sent, 15.1.0 raised ValueError before sending" in kinds
    sides = doc["differences"][0]["example"]
    assert (sides["from"]["observed"]["sdk"]["release"], sides["to"]["observed"]["sdk"]["release"]) == (
        "14.1.0", "15.1.0")


def test_diff_sdk_target_whose_get_node_breaks_after_a_reimage_is_unexpected_for_15(tmp_path: Path,
                                                                                    sdk15: Path) -> None:
    with EmbeddedEmulator(inventory=default_inventory(), fault="reimaged-node-500") as emu:
        # live safety watches each node it cannot read for the whole --watch-seconds: keep it short
        code, doc = _sdk_diff(tmp_path, emu.url, *_only("SEM-ACCEPT"), watch="0.2")
    unexpected = [k for k in doc["differences"] if k["classification"] == "unexpected"]
    assert code == 1 and unexpected  # 14.1.0's callers never notice; 15.1.0's poller ends Failed
    assert all("15.1.0 returned LROPoller (poller Failed)" in k["kind"] for k in unexpected)
    assert all("poller ended Failed" in k["reason"] for k in unexpected)


@pytest.mark.parametrize(("flags", "fragment"), [
    (["--target", "sdk@15.1.0+http://127.0.0.1:9"], "give --target-from and --target-to"),
    (["--target-from", "sdk@15.1.0+http://127.0.0.1:9", "--target-to", "http://127.0.0.1:9"], "2025-06-01"),
    (["--target-from", "sdk@9.9.9+http://127.0.0.1:9", "--target-to", "http://127.0.0.1:9"], "9.9.9"),
    (["--target-from", "ftp://x", "--target-to", "http://127.0.0.1:9"], "--target-from"),
    (["--bc-config", "/dev/null/nothing.toml"], "config file"),
    (["--auth", "sharedkey"], "--account-name"),
])
def test_diff_bad_target_or_setting_exits_2_naming_it(tmp_path: Path, flags: list[str], fragment: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--from", FROM, "--to", TO, "--report-dir", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
