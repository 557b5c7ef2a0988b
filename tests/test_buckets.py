"""Failure buckets: one root cause that breaks several requirements shows as one signature naming them all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.inventory import default_inventory
from conformance.models import Exchange, Request, Response
from conformance.oracle import Oracle
from conformance.reporting.buckets import VALID, bucket_failures, mask, signature
from conformance.spec import default_version

from conftest import run_suite

V = default_version()
ORACLE = Oracle(default_inventory(), V)


def _exchange(body: bytes | None, status: int, code: str | None, node: str = "idle-1",
              pool: str = "pool-cs") -> Exchange:
    request = Request(pool, node, query=(("api-version", V),), body=body,
                      headers=(("Content-Type", "application/json; odata=minimalmetadata"),) if body else ())
    payload = json.dumps({"code": code, "message": {"lang": "en-US", "value": code}}).encode() if code else b""
    return Exchange(request, Response(status, (), payload), ORACLE.expect(request), V)


def _first(exchange: Exchange) -> dict[str, Any]:
    return {"signature": signature(exchange)}


def test_mask_drawn_values_leaves_the_input_class() -> None:
    assert mask("no node 'nonode-7' in pool 'pool-cs'") == "no node '…' in pool '…'"
    assert mask("timeout 2147483648 is outside int32") == "timeout N is outside int32"
    assert mask('nodeReimageOption "bogus" is not one of requeue') == 'nodeReimageOption "…" is not one of requeue'


def test_signature_of_a_bad_body_names_its_class_code_and_status() -> None:
    sig = signature(_exchange(b"{not json", 500, "InternalError"))
    assert sig == {"status": 500, "code": "InternalError", "status_allowed": False,
                   "inputs": {"SEM-BAD-BODY": ["the body is not JSON"]}}


def test_signature_of_a_valid_request_is_the_valid_class() -> None:
    sig = signature(_exchange(None, 202, None))
    assert sig["inputs"] == {VALID: []} and sig["status_allowed"] is True and sig["code"] is None


def test_buckets_one_cause_behind_requests_holding_other_faults_too_is_one_bucket() -> None:
    bad_body_alone = _exchange(b"{not json", 500, "InternalError")
    bad_body_to_missing_pool = _exchange(b"[1]", 500, "InternalError", pool="nopool-3")
    bad_body_to_missing_node = _exchange(b"{not json", 500, "InternalError", node="nonode-1")
    buckets = bucket_failures([("SEM-BAD-BODY", "MUST", _first(bad_body_alone)),
                               ("SEM-POOL-NOT-FOUND", "MUST", _first(bad_body_to_missing_pool)),
                               ("SEM-NODE-NOT-FOUND", "MUST", _first(bad_body_to_missing_node))])
    assert [(b.answer, b.input, b.requirements) for b in buckets] == [
        ("500 InternalError", "SEM-BAD-BODY", ("SEM-BAD-BODY", "SEM-POOL-NOT-FOUND", "SEM-NODE-NOT-FOUND"))]
    assert buckets[0].described == ("the body is JSON list, not an object", "the body is not JSON")


def test_buckets_allowed_status_with_a_wrong_shape_is_its_own_bucket() -> None:
    accepted = _first(_exchange(None, 202, None))
    buckets = bucket_failures([("RSP-202-REQUEST-ID", "MUST", accepted), ("RSP-202-DATASERVICEID", "MUST", accepted)])
    assert sorted(b.input for b in buckets) == ["RSP-202-DATASERVICEID", "RSP-202-REQUEST-ID"]
    assert all(b.shape for b in buckets)


def test_buckets_signature_id_is_stable_across_drawn_values() -> None:
    one = bucket_failures([("SEM-NODE-NOT-FOUND", "MUST", _first(_exchange(None, 500, "InternalError", node="x1")))])
    two = bucket_failures([("SEM-NODE-NOT-FOUND", "MUST", _first(_exchange(None, 500, "InternalError", node="y-22")))])
    assert one[0].id == two[0].id and one[0].key == "500 InternalError | input: SEM-NODE-NOT-FOUND"


def test_run_fault_breaking_several_requirements_through_one_cause_is_one_bucket_naming_them_all(
        tmp_path: Path) -> None:
    # each broken by a 500 for bad bodies (the example that breaks SEM-POOL-NOT-FOUND also names an unknown pool)
    broken = ("SEM-BAD-BODY", "NO-SERVER-ERROR", "SEM-NODE-NOT-FOUND", "SEM-POOL-NOT-FOUND")
    run = run_suite(tmp_path, "--emulator-fault", "bad-json-500", *[a for rid in broken for a in ("--only", rid)])
    assert run.code == 1 and {rid: r["status"] for rid, r in run.requirements.items()} == dict.fromkeys(broken, "fail")
    (bucket,) = run.results["buckets"]
    assert sorted(bucket["requirements"]) == sorted(broken)
    assert (bucket["status"], bucket["code"], bucket["input"]) == (500, "InternalError", "SEM-BAD-BODY")
