"""Node state that changes during the run: a second reimage of a node this run has just reimaged, simultaneous
reimages of one node, and what a refused request carrying several factors decides. Checks judged on crafted
exchanges; live safety's rules for the second reimage."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conformance.checks import evaluate
from conformance.inventory import default_inventory
from conformance.models import Exchange, Observations, Overlap, Request, RequirementFailure, Response
from conformance.oracle import Oracle
from conformance.run.safety import LiveSafety, Planned, Withheld

from conftest import run_suite

V = "2023-11-01.18.0"
Q = (("api-version", V),)
CT = ("Content-Type", "application/json; odata=minimalmetadata")


def _answer(status: int, code: str = "") -> Response:
    body = f'{{"code": "{code}", "message": {{"lang": "en-US", "value": "x"}}}}'.encode() if code else b""
    return Response(status, (("request-id", "56d490fb-cabb-4953-95f1-4f7bb3c916ab"),), body)


def _reimaged_oracle() -> Oracle:
    oracle = Oracle(default_inventory(), V, auth_enforced=False)
    oracle.observe(Request("pool-cs", "idle-1", query=Q), Response(202))
    return oracle


def _second(status: int, overlap: Overlap) -> Exchange:
    request = Request("pool-cs", "idle-1", query=Q)
    expectation = _reimaged_oracle().expect(request)
    return Exchange(request, _answer(status, "NodeBeingReimaged" if status == 409 else ""), expectation, V, "",
                    Observations(auth_enforced=False, second=overlap))


def test_second_reimage_refused_409_meets_node_state() -> None:
    assert evaluate("SEM-NODE-STATE", _second(409, Overlap((409,), 0.004, None, "reimaging"))) is True


def test_second_reimage_202_node_still_reimaging_long_after_fails_node_state() -> None:
    with pytest.raises(RequirementFailure, match="read the node reimaging just before"):
        evaluate("SEM-NODE-STATE", _second(202, Overlap((202,), 0.004, 0.2, "reimaging")))


def test_second_reimage_202_node_may_have_finished_decides_nothing() -> None:
    assert evaluate("SEM-NODE-STATE", _second(202, Overlap((202,), 0.004, 0.02, "reimaging"))) is False
    assert evaluate("SEM-NODE-STATE", _second(202, Overlap((202,), 0.004, None, "reimaging"))) is False


def test_second_reimage_202_target_without_get_node_fails_node_state() -> None:
    with pytest.raises(RequirementFailure, match="serves no Get Node"):
        evaluate("SEM-NODE-STATE", _second(202, Overlap((202,), 0.004)))


def test_second_reimage_409_never_decides_acceptance() -> None:
    assert evaluate("SEM-ACCEPT", _second(409, Overlap((409,), 0.004, None, "reimaging"))) is False


def _burst(statuses: tuple[int, ...], *, after: float | None = None, window: float = 0.01) -> Exchange:
    request = Request("pool-cs", "idle-1", query=Q)
    expectation = Oracle(default_inventory(), V, auth_enforced=False).expect(request)
    observed = Observations(auth_enforced=False, burst=Overlap(statuses, window, after))
    return Exchange(request, _answer(statuses[0]), expectation, V, "", observed)


def test_burst_one_202_rest_409_meets_concurrent_reimage() -> None:
    assert evaluate("SEM-CONCURRENT-REIMAGE", _burst((202, 409, 409))) is True


def test_burst_two_202_node_reimaging_long_after_fails_concurrent_reimage() -> None:
    with pytest.raises(RequirementFailure, match="answered 202, 202, 409"):
        evaluate("SEM-CONCURRENT-REIMAGE", _burst((202, 202, 409), after=0.5))


def test_burst_two_202_reimage_too_short_to_tell_decides_nothing() -> None:
    assert evaluate("SEM-CONCURRENT-REIMAGE", _burst((202, 202, 202), after=0.05)) is False


def test_burst_none_accepted_fails_concurrent_reimage() -> None:
    with pytest.raises(RequirementFailure, match="exactly one 202"):
        evaluate("SEM-CONCURRENT-REIMAGE", _burst((409, 409, 409)))


def test_burst_with_server_busy_answer_decides_nothing() -> None:
    assert evaluate("SEM-CONCURRENT-REIMAGE", _burst((202, 503, 409))) is False


def test_concurrent_reimage_single_exchange_decides_nothing() -> None:
    request = Request("pool-cs", "idle-1", query=Q)
    exchange = Exchange(request, _answer(202), Oracle(default_inventory(), V).expect(request), V)
    assert evaluate("SEM-CONCURRENT-REIMAGE", exchange) is False


def _valid(request: Request, response: Response) -> Exchange:
    return Exchange(request, response, Oracle(default_inventory(), V, auth_enforced=False).expect(request), V)


COMBINED = Request("POOL-CS", "idle-1", query=(*Q, ("timeout", "30")), body=b"{}",
                   headers=(CT, ("ocp-date", "Tue, 03 Feb 2026 18:19:59 GMT")))


def test_combined_request_refused_fails_accept_naming_every_factor() -> None:
    with pytest.raises(RequirementFailure) as info:
        evaluate("SEM-ACCEPT", _valid(COMBINED, _answer(400, "InvalidHeaderValue")))
    assert all(part in info.value.detail for part in ("'POOL-CS' in another letter case", "timeout=30", "body '{}'",
                                                      "ocp-date"))


@pytest.mark.parametrize("requirement", ["SEM-NO-BODY", "SEM-TIMEOUT-VALID", "SEM-POOL-ID-CASE"])
def test_combined_request_refused_one_factor_rule_undecided(requirement: str) -> None:
    assert evaluate(requirement, _valid(COMBINED, _answer(400, "InvalidHeaderValue"))) is False


def test_one_factor_request_refused_fails_that_factor_rule() -> None:
    request = Request("pool-cs", "idle-1", query=Q, body=b"{}", headers=(CT,))
    with pytest.raises(RequirementFailure):
        evaluate("SEM-NO-BODY", _valid(request, _answer(400, "InvalidRequestBody")))


def test_faulty_request_refused_never_meets_a_one_factor_rule() -> None:
    request = Request("pool-cs", "idle-1", query=(*Q, ("timeout", "10")), headers=(("ocp-date", "yesterday"),))
    assert evaluate("SEM-TIMEOUT-VALID", _valid(request, _answer(400, "InvalidHeaderValue"))) is False


def _safety(**kw: object) -> LiveSafety:
    inventory = default_inventory()
    return LiveSafety(False, True, 1, 900.0, inventory, **kw)  # type: ignore[arg-type]


def _planned(oracle: Oracle) -> Planned:
    request = Request("pool-cs", "idle-1", query=Q)
    return Planned(request, oracle.expect(request), lambda pool, node: "reimaging")


def test_live_safety_second_reimage_just_read_reimaging_spends_no_budget() -> None:
    safety = _safety()
    safety.admit_second(_planned(_reimaged_oracle()), "reimaging", time.monotonic())
    assert safety.spent == 0


@pytest.mark.parametrize(("state", "age", "why"), [("idle", 0.0, "did not read reimaging"),
                                                   ("reimaging", 5.0, "too long ago")])
def test_live_safety_second_reimage_without_a_fresh_reimaging_read_withheld(state: str, age: float, why: str) -> None:
    with pytest.raises(Withheld, match=why):
        _safety().admit_second(_planned(_reimaged_oracle()), state, time.monotonic() - age)


def test_live_safety_disposable_admits_without_flag_budget_or_read() -> None:
    safety = LiveSafety(False, False, 0, 900.0, default_inventory(), disposable=True)
    request = Request("pool-cs", "node-rebooting", query=Q)  # not expendable in the inventory: no matter
    safety.admit(Planned(request, Oracle(default_inventory(), V).expect(request), lambda pool, node: None))
    assert safety.spent == 0 and safety.exempt


def test_embedded_run_concurrent_reimage_and_second_reimages_decided(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--only", "SEM-CONCURRENT-REIMAGE", "--only", "SEM-NODE-STATE")
    statuses = {rid: r["status"] for rid, r in run.requirements.items()}
    assert statuses == {"SEM-CONCURRENT-REIMAGE": "pass", "SEM-NODE-STATE": "pass"} and run.code == 0
    assert any(entry["second_reimages"] for entry in run.results["reimages"].values())


def _stale(read_now: str) -> tuple[LiveSafety, Planned]:
    oracle = Oracle(default_inventory(), V, auth_enforced=False)
    oracle.note_state("pool-cs", "idle-1", "rebooting")  # read earlier in the run
    request = Request("pool-cs", "idle-1", query=Q)
    return _safety(), Planned(request, oracle.expect(request), lambda pool, node: read_now)


def test_live_safety_node_read_refusing_earlier_now_idle_spends_budget() -> None:
    safety, planned = _stale("idle")
    assert 202 not in planned.expectation.statuses  # the stale read says it would be refused
    safety.admit(planned)
    assert safety.spent == 1


def test_live_safety_node_read_refusing_earlier_still_refusing_withheld() -> None:
    safety, planned = _stale("rebooting")
    with pytest.raises(Withheld, match="rebooting"):
        safety.admit(planned)
    assert safety.spent == 0
