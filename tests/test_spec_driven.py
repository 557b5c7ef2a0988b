"""The spec-driven layer: no failure on the correct emulator, the spec-level faults caught, each pitfall handled."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as st_checks

from conformance.config import load_settings
from conformance.models import Exchange, Expectation, Outcome, Request, Response
from conformance.rules import parse_http_date
from conformance.run import spec_driven
from conformance.run.session import new_run
from conformance.run.setup import open_session
from conformance.spec import catalogue, default_version

from conftest import run_suite

GUID = "6f0e2b1c-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
GOOD_202 = (("request-id", GUID), ("DataServiceId", "http://127.0.0.1/pools/p/nodes/n/reimage"))
SPEC_LEVEL_FAULTS = [  # (emulator fault, the requirement the layer must fail)
    ("no-request-id-202", "RSP-202-REQUEST-ID"),
    ("last-modified-iso-202", "RSP-202-LAST-MODIFIED"),
    ("status-200", "SPEC-STATUS-CODE"),
    ("error-missing-code", "ERR-BODY-SCHEMA"),
    ("error-content-type-text", "ERR-CONTENT-TYPE"),
    ("error-no-request-id", "ERR-REQUEST-ID"),
    ("unknown-property-500", "NO-SERVER-ERROR"),
    ("missing-api-version-accepted", "SPEC-NEGATIVE-REJECTED"),
    ("valid-ocp-date-refused", "SEM-ACCEPT"),
]


def _layer(fault: str | None = None) -> spec_driven.LayerResult:
    s = load_settings({"profile": "quick", "emulator_fault": fault, "only": list(spec_driven.LAYER_IDS)},
                      environ={})
    with open_session(s, new_run(s, "embedded emulator", "test")) as session:
        return spec_driven.run_layer(session)


def _failed(layer: spec_driven.LayerResult) -> set[str]:
    return {rid for rid, tally in layer.tallies.items() if tally.failures}


def _exchange(status: int, headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> Exchange:
    request = Request("p", "n", query=(("api-version", default_version()),))
    return Exchange(request, Response(status, headers, body), Expectation(frozenset({Outcome(202)})),
                    default_version(), "http://127.0.0.1:1")


@pytest.fixture(scope="module")
def operation() -> spec_driven.APIOperation:
    return spec_driven.operation(default_version())


@pytest.fixture(scope="module")
def correct() -> spec_driven.LayerResult:
    return _layer()


def test_layer_correct_emulator_no_failure(correct: spec_driven.LayerResult) -> None:
    assert _failed(correct) == set()
    decided = {rid for rid, tally in correct.tallies.items() if tally.examples}
    assert {"SPEC-STATUS-CODE", "SPEC-NEGATIVE-REJECTED", "SPEC-CONTENT-TYPE", "NO-SERVER-ERROR",
            "ERR-BODY-SCHEMA", "RSP-202-REQUEST-ID", "RSP-202-DATASERVICEID", "SEM-ACCEPT"} <= decided


@pytest.mark.parametrize(("fault", "requirement"), SPEC_LEVEL_FAULTS, ids=[f for f, _ in SPEC_LEVEL_FAULTS])
def test_layer_spec_level_fault_fails_its_requirement(fault: str, requirement: str) -> None:
    layer = _layer(fault)
    assert requirement in _failed(layer)
    assert layer.tallies[requirement].first is not None


def test_catalogue_spec_driven_ids_have_level_and_source() -> None:
    for rid in spec_driven.SPEC_IDS:
        entry = catalogue()[rid]
        assert entry.category == "spec-driven" and entry.level in ("MUST", "SHOULD") and entry.source
    assert all(rid in catalogue() for rid in spec_driven.ROUTED_IDS)


# --- the pitfalls ------------------------------------------------------------------------------------------
def test_ocp_date_registered_format_generates_rfc1123_dates(operation: spec_driven.APIOperation) -> None:
    dates: list[str] = []

    @settings(max_examples=40, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def collect(case: spec_driven.Case) -> None:
        if case.headers and "ocp-date" in case.headers:
            dates.append(case.headers["ocp-date"])

    collect()
    assert dates and all(parse_http_date(d) is not None for d in dates)


def test_ocp_date_valid_on_correct_server_not_blamed(correct: spec_driven.LayerResult) -> None:
    accept = correct.tallies["SEM-ACCEPT"]  # valid requests, RFC 1123 ocp-date included, reached 202
    assert accept.examples > 0 and accept.failures == 0


def test_api_version_missing_explicit_case_is_negative(operation: spec_driven.APIOperation) -> None:
    s = load_settings({"profile": "quick"}, environ={})
    with open_session(s, new_run(s, "embedded emulator", "test")) as session:
        cases = spec_driven.explicit_cases(operation, session, spec_driven.acceptable_targets(session))
    missing = [case for case, negative in cases if negative]
    assert len(missing) == 1 and "api-version" not in missing[0].query
    assert all("api-version" in case.query for case, negative in cases if not negative)


def test_bodiless_202_without_content_type_not_blamed(operation: spec_driven.APIOperation) -> None:
    ex = _exchange(202, GOOD_202)
    case = operation.Case(path_parameters={"poolId": "p", "nodeId": "n"})
    findings = list(spec_driven.content_type_verdict(case, ex, spec_driven.to_st_response(ex.request, ex.response,
                                                                                           ex.base_url)))
    assert [(f.requirement, f.failure) for f in findings] == [("SPEC-CONTENT-TYPE", None)]


def test_202_with_body_and_no_content_type_fails(operation: spec_driven.APIOperation) -> None:
    ex = _exchange(202, GOOD_202, b'{"status":"accepted"}')
    case = operation.Case(path_parameters={"poolId": "p", "nodeId": "n"})
    findings = list(spec_driven.content_type_verdict(case, ex, spec_driven.to_st_response(ex.request, ex.response,
                                                                                           ex.base_url)))
    assert findings[0].requirement == "SPEC-CONTENT-TYPE" and findings[0].failure is not None


def test_status_200_schemathesis_silent_our_verdict_fails(operation: spec_driven.APIOperation) -> None:
    ex = _exchange(200, GOOD_202)
    case = operation.Case(path_parameters={"poolId": "p", "nodeId": "n"})
    response = spec_driven.to_st_response(ex.request, ex.response, ex.base_url)
    assert spec_driven._st_failures(case, response, st_checks.status_code_conformance) == []  # the no-op
    assert spec_driven.status_verdict(ex).failure is not None
    assert spec_driven.status_verdict(_exchange(202, GOOD_202)).failure is None
    assert spec_driven.status_verdict(_exchange(404)).failure is None


def test_202_headers_missing_dataserviceid_fails(operation: spec_driven.APIOperation) -> None:
    findings = list(spec_driven.header_verdicts(_exchange(202, GOOD_202[:1]), operation))
    failed = {f.requirement for f in findings if f.failure is not None}
    assert failed == {"RSP-202-DATASERVICEID"}


def test_202_headers_request_id_not_guid_fails(operation: spec_driven.APIOperation) -> None:
    headers = (("request-id", "req-1234"), GOOD_202[1])
    failed = {f.requirement for f in spec_driven.header_verdicts(_exchange(202, headers), operation) if f.failure}
    assert failed == {"RSP-202-REQUEST-ID"}


def test_202_without_etag_or_last_modified_passes(operation: spec_driven.APIOperation) -> None:
    findings = list(spec_driven.header_verdicts(_exchange(202, GOOD_202), operation))
    assert findings and all(f.failure is None for f in findings)


def test_202_last_modified_not_rfc1123_fails(operation: spec_driven.APIOperation) -> None:
    headers = (*GOOD_202, ("Last-Modified", "2026-02-03T18:19:59Z"))
    failed = {f.requirement for f in spec_driven.header_verdicts(_exchange(202, headers), operation) if f.failure}
    assert failed == {"RSP-202-LAST-MODIFIED"}


# --- in the run: results.json, junit.xml, the switch ---------------------------------------------------------
LAYER_ONLY = ("--only", "SPEC-STATUS-CODE", "--only", "SPEC-NEGATIVE-REJECTED")


def test_run_correct_emulator_reports_spec_driven_pass(tmp_path: Path) -> None:
    run = run_suite(tmp_path, *LAYER_ONLY, schemathesis=True)
    results = run.requirements
    assert run.code == 0
    assert results["SPEC-STATUS-CODE"]["status"] == "pass" and results["SPEC-STATUS-CODE"]["category"] == "spec-driven"
    assert results["SPEC-NEGATIVE-REJECTED"]["status"] == "pass"
    assert 'name="SPEC-STATUS-CODE"' in (tmp_path / "junit.xml").read_text()
    assert "SPEC-STATUS-CODE" in (tmp_path / "report.html").read_text()


def test_run_missing_api_version_accepted_fails(tmp_path: Path) -> None:
    run = run_suite(tmp_path, *LAYER_ONLY, "--emulator-fault", "missing-api-version-accepted", schemathesis=True)
    results = run.requirements
    assert run.code == 1
    failure = results["SPEC-NEGATIVE-REJECTED"]["first_failure"]
    assert results["SPEC-NEGATIVE-REJECTED"]["status"] == "fail" and isinstance(failure, dict)
    assert "api-version" not in str(failure["request"]["url"]) and "SEM-API-VERSION-MISSING" in str(failure["message"])


def test_run_no_schemathesis_leaves_the_layer_requirements_out(tmp_path: Path) -> None:
    run = run_suite(tmp_path, *LAYER_ONLY, schemathesis=False)
    results = run.requirements
    assert run.code == 0
    assert not [rid for rid in results if rid.startswith("SPEC-")]  # switched off like --only leaves them out
    assert run.results["config"]["schemathesis"] is False
