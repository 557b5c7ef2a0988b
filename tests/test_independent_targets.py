"""Verdicts proven against small servers written apart from the emulator (tests/tiny_batch.py), one behaviour
each, run the way a vendor runs the suite: a target at a URL, no --auth, an inventory marking nodes expendable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest
from tiny_batch import TinyBatch, inventory, serving

from conftest import SuiteRun, run_suite


def _run(tmp_path: Path, handler: type[TinyBatch], *args: str) -> SuiteRun:
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory(handler.nodes, handler.pool)))
    with serving(handler) as url:
        return run_suite(tmp_path / "reports", "--target", url, "--inventory", str(path), "--request-timeout", "5",
                         *args)


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
    assert statuses["SEM-METHOD"] == "undecided" and "pass" not in statuses.values()
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
    assert seen and all(path.startswith("/pools/pool-a/") for path in seen)
