"""Verdicts proven against small servers written apart from the emulator (tests/tiny_batch.py), one behaviour
each, run the way a vendor runs the suite: a target at a URL, no --auth, an inventory marking nodes expendable."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest
from tiny_batch import TinyBatch, inventory, serving

from conformance.cli import main

from conftest import SuiteRun, run_suite


def _run(tmp_path: Path, handler: type[TinyBatch], *args: str, profile: str = "quick") -> SuiteRun:
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory(handler.nodes, handler.pool)))
    with serving(handler) as url:
        return run_suite(tmp_path / "reports", "--target", url, "--inventory", str(path), "--request-timeout", "5",
                         *args, profile=profile)


class Correct(TinyBatch):
    """Follows the facts."""


class Busy(TinyBatch):
    """Answers everything with a well-formed 503 ServerBusy."""

    def reimage(self, pool_id: str, node_id: str, query: dict[str, str], body: bytes) -> tuple[int, str]:
        return 503, "ServerBusy"

    def do_GET(self) -> None:  # noqa: N802
        self._answer(503, "ServerBusy")

    def _not_allowed(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(503, "ServerBusy")

    do_PUT = do_PATCH = do_DELETE = _not_allowed  # noqa: N815

    def _answer(self, status: int, code: str = "", doc: object = None, extra: dict[str, str] | None = None) -> None:
        super()._answer(status, code, doc, {"Retry-After": "0", **(extra or {})} if status == 503 else extra)


class NeverAccepts(Busy):
    """Correct, except that every reimage it would accept is answered 503 ServerBusy."""

    def reimage(self, pool_id: str, node_id: str, query: dict[str, str], body: bytes) -> tuple[int, str]:
        status, code = TinyBatch.reimage(self, pool_id, node_id, query, body)
        return (503, "ServerBusy") if status == 202 else (status, code)

    do_GET = TinyBatch.do_GET  # noqa: N815
    do_PUT = do_PATCH = do_DELETE = TinyBatch._not_allowed  # noqa: N815


class RefusesTimeout30(TinyBatch):
    """Refuses the valid timeout=30."""

    def reimage(self, pool_id: str, node_id: str, query: dict[str, str], body: bytes) -> tuple[int, str]:
        if query.get("timeout") == "30":
            return 400, "InvalidQueryParameterValue"
        return super().reimage(pool_id, node_id, query, body)


class CaseSensitivePools(TinyBatch):
    """Looks pool IDs up with their letter case."""

    def find_pool(self, pool_id: str) -> bool:
        return pool_id == self.pool


class RealLookingIdsBreak(TinyBatch):
    """Nodes named as the service names them; a missing node whose ID looks like a real one answers 500."""

    nodes: ClassVar[dict[str, str]] = {"tvmps_4f9c2d1e0b8a7f6e5d4c3b2a19081726_d": "idle",
                                       "tvmps_0a1b2c3d4e5f60718293a4b5c6d7e8f9_d": "idle"}

    def reimage(self, pool_id: str, node_id: str, query: dict[str, str], body: bytes) -> tuple[int, str]:
        if node_id not in self.nodes and node_id.startswith("tvmps_") and len(node_id) > 20:
            return 500, "InternalError"
        return super().reimage(pool_id, node_id, query, body)


@pytest.mark.parametrize("profile", ["quick", "standard"])
def test_independent_missing_node_looking_real_500_caught_at_every_profile(tmp_path: Path, profile: str) -> None:
    run = _run(tmp_path, RealLookingIdsBreak, "--profile", profile, "--only", "SEM-NODE-NOT-FOUND")
    assert run.code == 1 and run.requirements["SEM-NODE-NOT-FOUND"]["status"] == "fail"
    assert run.requirements["SEM-NODE-NOT-FOUND"]["first_failure"]["response"]["status"] == 500


def test_independent_correct_target_passes_the_semantics_it_is_asked(tmp_path: Path) -> None:
    run = _run(tmp_path, Correct, "--allow-destructive", "--max-reimages", "1000", "--only", "SEM-ACCEPT",
               "--only", "SEM-TIMEOUT-VALID", "--only", "SEM-POOL-ID-CASE", "--only", "SEM-NODE-STATE")
    assert {rid: r["status"] for rid, r in run.requirements.items()} == dict.fromkeys(
        ("SEM-ACCEPT", "SEM-POOL-ID-CASE", "SEM-NODE-STATE", "SEM-TIMEOUT-VALID"), "pass")
    assert run.code == 0 and run.results["verdict"] == "pass"


def test_independent_always_503_target_incomplete_exit_3(tmp_path: Path) -> None:
    run = _run(tmp_path, Busy, "--allow-destructive", *(f for rid in ("SEM-POOL-NOT-FOUND", "SEM-ACCEPT",
               "SEM-METHOD", "NO-SERVER-ERROR", "ERR-BODY-SCHEMA") for f in ("--only", rid)))
    statuses = {rid: r["status"] for rid, r in run.requirements.items()}
    assert run.code == 3 and run.results["verdict"] == "incomplete"
    assert "fail" not in statuses.values()
    # 503 ServerBusy decides no status rule, and a run of them trips the circuit breaker: nothing is a pass
    assert statuses["SEM-POOL-NOT-FOUND"] == statuses["SEM-ACCEPT"] == statuses["NO-SERVER-ERROR"] == "undecided"
    assert statuses["SEM-METHOD"] == "undecided"  # (a well-formed 503 body may still decide ERR-BODY-SCHEMA)
    assert "503" in run.requirements["SEM-POOL-NOT-FOUND"]["reason"]  # what decided nothing, or stopped the run


def test_independent_target_never_accepting_incomplete_with_allow_destructive(tmp_path: Path) -> None:
    run = _run(tmp_path, NeverAccepts, "--allow-destructive", "--max-reimages", "1000")
    statuses = {rid: r["status"] for rid, r in run.requirements.items()}
    assert run.code == 3 and run.results["verdict"] == "incomplete"
    assert statuses["SEM-ACCEPT"] == statuses["RSP-202-REQUEST-ID"] == "undecided"
    assert statuses["SEM-POOL-NOT-FOUND"] == "pass"


def test_independent_timeout_30_refused_after_unsigned_202_fails_timeout_valid(tmp_path: Path) -> None:
    run = _run(tmp_path, RefusesTimeout30, "--allow-destructive", "--max-reimages", "1000",
               "--only", "SEM-TIMEOUT-VALID")
    result = run.requirements["SEM-TIMEOUT-VALID"]
    assert run.code == 1 and result["status"] == "fail"
    first = result["first_failure"]
    assert "timeout=30" in first["request"]["url"] and first["response"]["status"] == 400


def test_independent_case_sensitive_pool_lookup_fails_pool_id_case(tmp_path: Path) -> None:
    run = _run(tmp_path, CaseSensitivePools, "--allow-destructive", "--max-reimages", "1000",
               "--only", "SEM-POOL-ID-CASE")
    result = run.requirements["SEM-POOL-ID-CASE"]
    assert run.code == 1 and result["status"] == "fail" and result["first_failure"]["response"]["status"] == 404


@pytest.mark.parametrize("handler", [Correct, CaseSensitivePools])
def test_independent_safety_reads_use_the_inventory_spelling(tmp_path: Path, handler: type[TinyBatch]) -> None:
    seen: list[str] = []

    class Recording(handler):  # type: ignore[valid-type,misc]
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path.split("?")[0])
            super().do_GET()

    _run(tmp_path, Recording, "--allow-destructive", "--max-reimages", "1000", "--only", "SEM-POOL-ID-CASE")
    assert seen and all(path == "/pools/pool-a" or path.startswith("/pools/pool-a/") for path in seen)


# --- issue 13: spending reimages wisely, node state that changes during the run --------------------------------
def _statuses(run: SuiteRun) -> dict[str, str]:
    return {rid: r["status"] for rid, r in run.requirements.items()}


def _counting(handler: type[TinyBatch]) -> tuple[type[TinyBatch], list[tuple[str, str, int]]]:
    """The handler, keeping (method, path, status) of every reimage-path request it answered."""
    wire: list[tuple[str, str, int]] = []

    class Counting(handler):  # type: ignore[valid-type,misc]
        def reimage(self, pool_id: str, node_id: str, query: dict[str, str], body: bytes) -> tuple[int, str]:
            status, code = super().reimage(pool_id, node_id, query, body)
            wire.append(("POST", self.path, status))
            return status, code

    return Counting, wire


def _reimaging_for(seconds: float, *, lock: bool = True, refuses_reimaging: bool = True,
                   get_node: bool = True) -> type[TinyBatch]:
    """A server whose reimage lasts `seconds` (Get Node reads reimaging meanwhile). lock=False: the state is checked,
    then set 20 ms later with no lock (a race); refuses_reimaging=False: a reimaging node is reimaged again."""
    until: dict[str, float] = {}
    guard = threading.Lock()

    class Reimaging(TinyBatch):
        def state(self, node_id: str) -> str:
            return "reimaging" if time.monotonic() < until.get(node_id, 0.0) else self.nodes[node_id]

        def reimage(self, pool_id: str, node_id: str, query: dict[str, str], body: bytes) -> tuple[int, str]:
            with guard if lock else contextlib.nullcontext():
                status, code = super().reimage(pool_id, node_id, query, body)
                if code == "NodeBeingReimaged" and not refuses_reimaging:
                    status, code = 202, ""
                if status == 202:
                    if not lock:
                        time.sleep(0.02)
                    until[node_id] = time.monotonic() + seconds
            return status, code

        def do_GET(self) -> None:  # noqa: N802
            if get_node:
                super().do_GET()
            else:
                self._answer(404, "ResourceNotFound")

    return Reimaging


NEEDS_202 = ("SEM-ACCEPT", "SEM-NO-BODY", "SEM-POOL-ID-CASE", "SEM-TIMEOUT-VALID", "RSP-202-STATUS",
             "RSP-202-REQUEST-ID", "RSP-202-DATASERVICEID", "RSP-202-DATASERVICEID-URL", "RSP-202-LAST-MODIFIED",
             "RSP-202-ETAG", "RSP-202-EMPTY-BODY", "RSP-CRID-ECHO", "SEM-STATE-AFTER")
ONLY_NEEDS_202 = tuple(f for rid in NEEDS_202 for f in ("--only", rid))


def test_independent_max_reimages_1_decides_every_requirement_needing_a_202(tmp_path: Path) -> None:
    handler, wire = _counting(Correct)
    run = _run(tmp_path, handler, "--allow-destructive", "--max-reimages", "1", *ONLY_NEEDS_202)
    assert _statuses(run) == dict.fromkeys(NEEDS_202, "pass") and run.code == 0
    assert [status for _, _, status in wire].count(202) == 1


def test_independent_no_allow_destructive_requirements_needing_a_202_undecided_incomplete(tmp_path: Path) -> None:
    handler, wire = _counting(Correct)
    run = _run(tmp_path, handler, *ONLY_NEEDS_202)
    needs = [rid for rid in NEEDS_202 if rid != "RSP-CRID-ECHO"]  # an error answer can decide the echo too
    assert {rid: _statuses(run)[rid] for rid in needs} == dict.fromkeys(needs, "undecided")
    assert run.code == 3 and run.results["verdict"] == "incomplete" and 202 not in {s for _, _, s in wire}


class TwoNodes(TinyBatch):
    """Correct, with two idle nodes."""

    nodes: ClassVar[dict[str, str]] = {"node-1": "idle", "node-2": "idle", "busy-1": "rebooting"}


def test_independent_two_expendable_nodes_budget_2_plan_goes_to_both_nodes(tmp_path: Path) -> None:
    handler, wire = _counting(TwoNodes)
    run = _run(tmp_path, handler, "--allow-destructive", "--max-reimages", "2", "--only", "SEM-ACCEPT",
               "--only", "SEM-NO-BODY", "--only", "SEM-TIMEOUT-VALID")
    accepted = [path.split("?")[0].split("/")[4] for _, path, status in wire if status == 202]
    assert sorted(accepted) == ["node-1", "node-2"] and run.code == 0


def test_independent_dry_run_sends_nothing_that_could_reimage(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    handler, wire = _counting(Correct)
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory(handler.nodes, handler.pool)))
    with serving(handler) as url:
        code = main(["run", "--target", url, "--inventory", str(path), "--allow-destructive", "--max-reimages", "2",
                     "--dry-run", "--report-dir", str(tmp_path / "reports")])
    out = capsys.readouterr().out
    assert code == 0 and wire == []
    assert "1. POST /pools/" in out and "2. POST /pools/" in out and "nothing that could reimage was sent" in out


FACTOR_RULES = ("SEM-ACCEPT", "SEM-NO-BODY", "SEM-TIMEOUT-VALID", "SEM-POOL-ID-CASE")


class RefusesOcpDate(TinyBatch):
    """Refuses any ocp-date, even a valid one."""

    def reimage(self, pool_id: str, node_id: str, query: dict[str, str], body: bytes) -> tuple[int, str]:
        if self.headers.get("ocp-date"):
            return 400, "InvalidHeaderValue"
        return super().reimage(pool_id, node_id, query, body)


def test_independent_one_combined_request_refused_fails_accept_naming_every_factor(tmp_path: Path) -> None:
    only = [f for rid in FACTOR_RULES for f in ("--only", rid)]
    run = _run(tmp_path, RefusesOcpDate, "--allow-destructive", "--max-reimages", "1", *only)
    statuses = _statuses(run)
    message = run.requirements["SEM-ACCEPT"]["first_failure"]["message"]
    assert statuses["SEM-ACCEPT"] == "fail" and run.code == 1
    assert all(part in message for part in ("ocp-date", "timeout=30", "{}", "client-request-id", "letter case"))
    assert {statuses[rid] for rid in ("SEM-NO-BODY", "SEM-TIMEOUT-VALID", "SEM-POOL-ID-CASE")} == {"undecided"}


def test_independent_factors_split_over_budget_failure_points_at_one_factor(tmp_path: Path) -> None:
    only = [f for rid in FACTOR_RULES for f in ("--only", rid)]
    run = _run(tmp_path, RefusesOcpDate, "--allow-destructive", "--max-reimages", "5", *only)
    statuses = _statuses(run)
    failed = run.requirements["SEM-ACCEPT"]["first_failure"]
    assert statuses["SEM-ACCEPT"] == "fail" and "ocp-date" in failed["request"]["headers"]
    assert "timeout" not in failed["request"]["url"] and failed["request"]["body"] is None
    assert {statuses[rid] for rid in ("SEM-NO-BODY", "SEM-TIMEOUT-VALID", "SEM-POOL-ID-CASE")} == {"pass"}


def test_independent_no_get_node_disposable_decides_accept(tmp_path: Path) -> None:
    run = _run(tmp_path, _reimaging_for(0.0, get_node=False), "--disposable", "--only", "SEM-ACCEPT")
    assert _statuses(run) == {"SEM-ACCEPT": "pass"} and run.code == 0


def test_independent_no_get_node_without_disposable_accept_undecided_naming_it(tmp_path: Path) -> None:
    run = _run(tmp_path, _reimaging_for(0.0, get_node=False), "--allow-destructive", "--max-reimages", "1000",
               "--only", "SEM-ACCEPT")
    result = run.requirements["SEM-ACCEPT"]
    assert result["status"] == "undecided" and run.code == 3
    assert "--disposable" in result["reason"] and "--disposable" in result["remedy"]


def test_independent_accepts_reimage_of_reimaging_node_fails_node_state(tmp_path: Path) -> None:
    run = _run(tmp_path, _reimaging_for(1.0, refuses_reimaging=False), "--disposable", "--only", "SEM-NODE-STATE")
    result = run.requirements["SEM-NODE-STATE"]
    assert result["status"] == "fail" and run.code == 1
    assert result["first_failure"]["response"]["status"] == 202 and "read the node reimaging" in \
        result["first_failure"]["message"]


def test_independent_slow_correct_reimage_second_reimage_refused_node_state_passes(tmp_path: Path) -> None:
    handler, wire = _counting(_reimaging_for(0.6))
    run = _run(tmp_path, handler, "--disposable", "--only", "SEM-NODE-STATE")
    assert _statuses(run) == {"SEM-NODE-STATE": "pass"} and run.code == 0
    assert ("POST", "/pools/pool-a/nodes/node-1/reimage?api-version=2023-11-01.18.0", 409) in wire


def test_independent_no_get_node_second_reimage_accepted_fails_node_state(tmp_path: Path) -> None:
    run = _run(tmp_path, _reimaging_for(0.0, get_node=False), "--disposable", "--only", "SEM-NODE-STATE")
    result = run.requirements["SEM-NODE-STATE"]
    assert result["status"] == "fail" and "no Get Node" in result["first_failure"]["message"]


def test_independent_race_two_simultaneous_202s_fails_concurrent_reimage(tmp_path: Path) -> None:
    run = _run(tmp_path, _reimaging_for(1.0, lock=False), "--disposable", "--only", "SEM-CONCURRENT-REIMAGE")
    result = run.requirements["SEM-CONCURRENT-REIMAGE"]
    assert result["status"] == "fail" and run.code == 1
    assert "202, 202" in result["first_failure"]["message"]


def test_independent_locked_slow_reimage_passes_concurrent_reimage(tmp_path: Path) -> None:
    run = _run(tmp_path, _reimaging_for(0.3), "--disposable", "--only", "SEM-CONCURRENT-REIMAGE")
    assert _statuses(run) == {"SEM-CONCURRENT-REIMAGE": "pass"} and run.code == 0


def test_independent_concurrent_reimage_without_disposable_not_applicable(tmp_path: Path) -> None:
    run = _run(tmp_path, Correct, "--allow-destructive", "--max-reimages", "1000", "--only", "SEM-CONCURRENT-REIMAGE")
    result = run.requirements["SEM-CONCURRENT-REIMAGE"]
    assert result["status"] == "not-applicable" and "--disposable" in result["reason"]


def test_independent_slow_reimage_property_stops_instead_of_waiting_once_decided_enough(tmp_path: Path) -> None:
    handler, wire = _counting(_reimaging_for(0.3))
    run = _run(tmp_path, handler, "--disposable", "--only", "SEM-ACCEPT", profile="standard")
    accepted = [status for _, _, status in wire].count(202)
    assert _statuses(run) == {"SEM-ACCEPT": "pass"} and run.requirements["SEM-ACCEPT"]["examples"] >= 12
    assert 12 <= accepted < 30  # the standard profile's 60 would each have waited for one of 3 nodes


def test_independent_max_reimages_1_plan_decides_the_layers_response_header_rule(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory(Correct.nodes, Correct.pool)))
    with serving(Correct) as url:
        run = run_suite(tmp_path / "reports", "--target", url, "--inventory", str(path), "--allow-destructive",
                        "--max-reimages", "1", "--only", "SPEC-RESPONSE-HEADERS", schemathesis=True)
    assert _statuses(run) == {"SPEC-RESPONSE-HEADERS": "pass"} and run.code == 0
