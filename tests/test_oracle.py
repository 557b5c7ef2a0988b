"""The oracle: each fault class, unions, open points, uncertainty after observe(), no inventory, versions."""

from __future__ import annotations

import json

import pytest

from conformance.inventory import default_inventory
from conformance.models import Request, Response
from conformance.oracle import Oracle
from conformance.rules import AUTH_BAD_SIGNATURE, AUTH_DIRECTIVE_HEADER, AUTH_OMIT, STATE_CODES
from conformance.spec import limits

V18, V20, V21 = "2023-11-01.18.0", "2024-07-01.20.0", "2025-06-01"
CT = ("Content-Type", "application/json; odata=minimalmetadata")


def oracle(version: str = V18, **kw: object) -> Oracle:
    return Oracle(default_inventory(), version, auth_enforced=kw.pop("auth", False), **kw)  # type: ignore[arg-type]


def req(pool: str = "pool-cs", node: str = "idle-1", *, version: str | None = V18,
        extra: tuple[tuple[str, str], ...] = (), headers: tuple[tuple[str, str], ...] = (),
        body: bytes | None = None, method: str = "POST") -> Request:
    query = ((("api-version", version),) if version is not None else ()) + extra
    return Request(pool, node, method=method, query=query, headers=headers + ((CT,) if body else ()), body=body)


def statuses(request: Request, o: Oracle | None = None) -> set[int]:
    return set((o or oracle()).expect(request).statuses)


def test_valid_request_accepts_202_and_exercises_accept_and_no_body() -> None:
    exp = oracle().expect(req())
    assert exp.statuses == {202} and not exp.faults
    assert {"SEM-ACCEPT", "SEM-NO-BODY"} <= exp.requirements


@pytest.mark.parametrize("body", [None, b"", b"{}"])
def test_no_body_forms_all_mean_requeue(body: bytes | None) -> None:
    assert "SEM-NO-BODY" in oracle().expect(req(body=body)).requirements


def test_valid_option_is_accepted_without_no_body() -> None:
    exp = oracle().expect(req(body=b'{"nodeReimageOption": "retaineddata"}'))
    assert exp.statuses == {202} and "SEM-NO-BODY" not in exp.requirements


def test_pool_id_in_other_case_addresses_the_pool() -> None:
    exp = oracle().expect(req("POOL-CS"))
    assert exp.statuses == {202} and "SEM-POOL-ID-CASE" in exp.requirements


def test_unknown_pool_is_404_pool_not_found() -> None:
    exp = oracle().expect(req("nope"))
    assert exp.statuses == {404} and exp.codes_for(404) == {"PoolNotFound"}


def test_unknown_node_in_known_pool_is_404_node_not_found() -> None:
    exp = oracle().expect(req(node="nope"))
    assert exp.statuses == {404} and exp.codes_for(404) == {"NodeNotFound"}


@pytest.mark.parametrize("pool", ["bad pool", "a" * 65, "pool.cs"])
def test_malformed_pool_id_is_404_or_400(pool: str) -> None:
    assert statuses(req(pool)) == {400, 404}


def test_long_node_id_of_valid_characters_is_just_unknown() -> None:
    assert statuses(req(node="tvmps_" + "a" * 64 + "_d")) == {404}


@pytest.mark.parametrize("node", ["node-rebooting", "node-reimaging", "node-unusable", "node-deallocated"])
def test_node_not_idle_or_running_is_409_with_the_candidate_codes(node: str) -> None:
    exp = oracle().expect(req(node=node))
    assert exp.statuses == {409} and exp.codes_for(409) == STATE_CODES


def test_vm_pool_refused_before_the_version_that_allows_it() -> None:
    exp = oracle(V18).expect(req("pool-vm", "vm-idle-1"))
    assert exp.statuses == {409} and exp.codes_for(409) == {"OperationNotValidOnNode"}


def test_vm_pool_accepted_from_the_version_that_allows_it() -> None:
    exp = oracle(V20).expect(req("pool-vm", "vm-idle-1", version=V20))
    assert exp.statuses == {202} and "SEM-POOL-CONFIG" in exp.requirements


def test_request_version_data_wins_over_the_oracle_default() -> None:
    o = oracle(V20, served_versions=frozenset({V18, V20}))
    assert statuses(req("pool-vm", "vm-idle-1", version=V18), o) == {409}


def test_another_known_version_may_be_unserved_when_the_served_set_is_unknown() -> None:
    assert statuses(req("pool-vm", "vm-idle-1", version=V18), oracle(V20)) == {400, 409}


@pytest.mark.parametrize("body", [b"{", b"not json", b"[]", b'"requeue"', b"\xff"])
def test_body_not_a_json_object_is_400(body: bytes) -> None:
    exp = oracle().expect(req(body=body))
    assert exp.statuses == {400} and exp.faults[0].requirement == "SEM-BAD-BODY"


def test_body_over_limit_is_413_or_400() -> None:
    body = b'{"nodeReimageOption": "requeue"' + b" " * limits()[0] + b"}"
    assert statuses(req(body=body)) == {400, 413}


@pytest.mark.parametrize("option", ['"reboot"', '"requeue "', "1", "{}", "[]", "true"])
def test_bad_option_is_400(option: str) -> None:
    exp = oracle().expect(req(body=b'{"nodeReimageOption": ' + option.encode() + b"}"))
    assert exp.statuses == {400} and "SEM-BAD-OPTION" in exp.requirements


@pytest.mark.parametrize("option", ["Requeue", "TERMINATE", "taskCompletion"])
def test_option_in_another_letter_case_is_open_202_or_400(option: str) -> None:
    exp = oracle().expect(req(body=json.dumps({"nodeReimageOption": option}).encode()))
    assert exp.statuses == {202, 400} and not exp.faults and exp.sole_key == f"option:{option}"


def test_null_option_is_open_202_or_400() -> None:
    exp = oracle().expect(req(body=b'{"nodeReimageOption": null}'))
    assert exp.statuses == {202, 400} and not exp.faults and "SEM-BAD-OPTION" in exp.requirements


def test_other_string_option_is_open_under_an_open_enum() -> None:
    assert statuses(req(version=V21, body=b'{"nodeReimageOption": "reboot"}'), oracle(V21)) == {202, 400}


def test_unknown_property_is_open_202_or_400() -> None:
    exp = oracle().expect(req(body=b'{"foo": 1}'))
    assert exp.statuses == {202, 400} and "SEM-UNKNOWN-PROPERTY" in exp.requirements


def test_timeout_in_range_is_valid() -> None:
    exp = oracle().expect(req(extra=(("timeout", "30"),)))
    assert exp.statuses == {202} and "SEM-TIMEOUT-VALID" in exp.requirements


def test_timeout_above_30_is_open_where_the_version_only_recommends_it() -> None:
    exp = oracle(V18).expect(req(extra=(("timeout", "31"),)))
    assert exp.statuses == {202, 400} and any("SHOULD" in n for n in exp.notes)


def test_timeout_above_30_must_be_accepted_where_the_version_says_so() -> None:
    assert statuses(req(version=V20, extra=(("timeout", "3600"),)), oracle(V20)) == {202}


@pytest.mark.parametrize("value", ["0", "-5"])
def test_timeout_zero_or_negative_is_open(value: str) -> None:
    assert statuses(req(extra=(("timeout", value),))) == {202, 400}


@pytest.mark.parametrize("value", ["abc", "1.5", "2147483648", "-2147483649"])
def test_timeout_not_int32_is_400(value: str) -> None:
    exp = oracle().expect(req(extra=(("timeout", value),)))
    assert exp.statuses == {400} and exp.faults[0].requirement == "SEM-TIMEOUT-INVALID"


def test_timeout_is_read_under_the_version_spelling() -> None:
    exp = oracle(V21).expect(req(version=V21, extra=(("timeOut", "abc"),)))
    assert exp.statuses == {400}


@pytest.mark.parametrize("header", [("client-request-id", "not-a-guid"), ("return-client-request-id", "yes"),
                                    ("ocp-date", "yesterday")])
def test_malformed_header_is_400_invalid_header_value(header: tuple[str, str]) -> None:
    exp = oracle().expect(req(headers=(header,)))
    assert exp.statuses == {400} and exp.codes_for(400) == {"InvalidHeaderValue"}


def test_client_request_id_is_a_plain_string_where_the_version_says_so() -> None:
    assert statuses(req(version=V21, headers=(("client-request-id", "Sanitized"),)), oracle(V21)) == {202}


def test_upper_case_guid_is_a_valid_client_request_id() -> None:
    assert statuses(req(headers=(("client-request-id", "FB4B9C35-4D31-11EE-9667-20C19BDC434A"),))) == {202}


def test_missing_api_version_is_400() -> None:
    exp = oracle().expect(req(version=None))
    assert exp.statuses == {400} and exp.codes_for(400) == {"MissingRequiredQueryParameter"}


def test_garbage_api_version_is_400() -> None:
    assert statuses(req(version="latest")) == {400}


def test_unserved_api_version_is_400_when_the_served_set_is_known() -> None:
    o = oracle(served_versions=frozenset({V18}))
    assert statuses(req(version=V21), o) == {400}


def test_real_looking_api_version_is_open_when_the_served_set_is_unknown() -> None:
    assert statuses(req(version="2099-01-01.99.0")) == {202, 400}


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_other_method_is_405_or_400(method: str) -> None:
    exp = oracle().expect(req(method=method))
    assert exp.statuses == {400, 405} and "SEM-METHOD" in exp.requirements


def test_content_type_variant_is_open() -> None:
    body = b'{"nodeReimageOption": "requeue"}'
    request = Request("pool-cs", "idle-1", query=(("api-version", V18),), headers=(("Content-Type", "text/plain"),),
                      body=body)
    assert statuses(request) == {202, 400, 415}


def test_combined_faults_union_their_outcomes_and_never_202() -> None:
    exp = oracle().expect(req("nope", version=None, extra=(("timeout", "abc"),)))
    assert exp.statuses == {400, 404}
    assert {f.requirement for f in exp.faults} == {"SEM-POOL-NOT-FOUND", "SEM-API-VERSION-MISSING",
                                                   "SEM-TIMEOUT-INVALID"}


def test_busy_node_and_bad_body_union_409_and_400() -> None:
    assert statuses(req(node="node-rebooting", body=b"{")) == {400, 409}


def test_reimaged_node_allows_202_or_409_until_its_state_is_read() -> None:
    o = oracle()
    o.observe(req(), Response(202))
    exp = o.expect(req())
    assert exp.statuses == {202, 409} and exp.uncertain
    o.note_state("POOL-CS", "idle-1", "reimaging")
    assert o.expect(req()).statuses == {409}
    o.note_state("pool-cs", "idle-1", "idle")
    assert o.expect(req()).statuses == {202}


def test_reimaged_node_with_a_fault_also_allows_409() -> None:
    o = oracle()
    o.observe(req(), Response(202))
    assert o.expect(req(body=b"{")).statuses == {400, 409}


def test_without_inventory_a_valid_looking_request_may_hit_404_or_409() -> None:
    exp = Oracle(None, V18, auth_enforced=False).expect(req("whatever", "node"))
    assert exp.statuses == {202, 404, 409} and exp.uncertain and "SEM-ACCEPT" in exp.requirements


def test_without_inventory_request_faults_still_count() -> None:
    exp = Oracle(None, V18, auth_enforced=False).expect(req("whatever", "node", body=b"{"))
    assert 202 not in exp.statuses and 400 in exp.statuses


def test_missing_auth_is_400_or_401_where_enforced() -> None:
    exp = oracle(auth=True).expect(req(headers=((AUTH_DIRECTIVE_HEADER, AUTH_OMIT),)))
    assert exp.statuses == {400, 401} and exp.codes_for(400) == {"MissingRequiredHeader"}


def test_bad_signature_is_403_where_enforced() -> None:
    exp = oracle(auth=True).expect(req(headers=((AUTH_DIRECTIVE_HEADER, AUTH_BAD_SIGNATURE),)))
    assert exp.statuses == {403}


def test_unsigned_request_is_open_when_enforcement_is_unknown() -> None:
    assert statuses(req(), Oracle(default_inventory(), V18)) == {202, 400, 401}


def test_other_paths_are_not_predicted() -> None:
    exp = oracle().expect(Request("", "", method="GET", path="/pools/p"))
    assert not exp.outcomes and not exp.requirements
