"""validate-traffic on recordings as users have them: test-proxy files, bodiless answers, sanitizer placeholders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance import checks
from conformance.cli import main
from conformance.models import Exchange, Expectation, NotApplicable, Request, Response, UsageError
from conformance.traffic.command import validate
from conformance.traffic.placeholders import Placeholder, find, holds_placeholder, with_stand_ins
from conformance.traffic.read import read_traffic

from conftest import RECORDINGS_DIR, read_results

POOL_EXISTS = RECORDINGS_DIR / "PoolExists.json"  # .NET Azure.Compute.Batch, 2025-06-01: HEAD 200 and 404
REIMAGE = RECORDINGS_DIR / "recording_should_reimage_a_compute_node_successfully.json"  # JS, 2025-06-01
GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
ECHO = "RSP-CRID-ECHO"
CRID_VALUES = ["request header client-request-id = 'Sanitized'", "response header client-request-id = 'Sanitized'"]


def _recording(tmp_path: Path, *entries: dict[str, Any], name: str = "rec.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"Entries": list(entries), "Variables": {}}))
    return str(path)


def _entry(**fields: Any) -> dict[str, Any]:
    entry = {"RequestUri": "https://acct.eastus.batch.azure.com/pools/p?api-version=2025-06-01",
             "RequestMethod": "GET", "RequestHeaders": {}, "RequestBody": None, "StatusCode": 200,
             "ResponseHeaders": {"request-id": GUID}, "ResponseBody": None}
    return entry | fields


# --- reading test-proxy recordings ----------------------------------------------------------------
def test_read_traffic_test_proxy_recording_every_entry_as_recorded() -> None:
    recorded = read_traffic(POOL_EXISTS)
    assert [(r.request.method, r.response.status) for r in recorded] == [
        ("GET", 200), ("POST", 201), ("GET", 200), ("GET", 200), ("GET", 200), ("GET", 200), ("HEAD", 200),
        ("HEAD", 404), ("DELETE", 202)]
    create = recorded[1].request
    assert json.loads(create.body or b"")["id"] == "PoolExists" and create.header("Content-Length") == "279"
    assert recorded[7].request.target_path == "/pools/fakepool" and recorded[7].response.body == b""
    assert recorded[0].base_url == "https://dotnotsdkbatchaccount1.eastus.batch.azure.com"


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    ({"code": "X"}, "application/json; odata=minimalmetadata", b'{"code":"X"}'),
    ("plain text", "text/plain", b"plain text"),
    (["line 1\n", "line 2"], "application/xml", b"line 1\nline 2"),
    ("AAEC", "application/octet-stream", b"\x00\x01\x02"),
    ([], None, b""),
    (None, "application/json", None),
], ids=["json-value", "text", "text-lines", "base64", "empty", "null"])
def test_read_traffic_test_proxy_body_read_as_the_proxy_reads_it(tmp_path: Path, body: Any, content_type: str | None,
                                                                 expected: bytes | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    entry = _entry(RequestMethod="POST", RequestHeaders=headers, RequestBody=body)
    assert read_traffic(_recording(tmp_path, entry))[0].request.body == expected


def test_read_traffic_test_proxy_header_value_list_one_header(tmp_path: Path) -> None:
    entry = _entry(ResponseHeaders={"request-id": GUID, "Vary": ["Accept", "Origin"]})
    assert read_traffic(_recording(tmp_path, entry))[0].response.header("Vary") == "Accept, Origin"


@pytest.mark.parametrize(("entries", "needle"), [
    ({"Entries": {"not": "a list"}}, "Entries must be an array"),
    ({"Entries": [_entry(), _entry(StatusCode="x")]}, "entry 1: response.status"),
    ({"Entries": [_entry(RequestHeaders={"Content-Type": "application/octet-stream"}, RequestBody="%%")]},
     "entry 0: RequestBody: a body of a non-text media type is base64"),
], ids=["entries-not-a-list", "bad-status", "bad-base64"])
def test_read_traffic_malformed_test_proxy_recording_usage_error_naming_entry(tmp_path: Path, entries: Any,
                                                                              needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(UsageError, match=needle):
        read_traffic(path)


# --- answers without a body (RFC 9110) -------------------------------------------------------------
def test_validate_traffic_real_head_404_without_body_passes(tmp_path: Path) -> None:
    head_404 = json.loads(POOL_EXISTS.read_text())["Entries"][7]
    run = validate([_recording(tmp_path, head_404)])
    status = {rid: r.status for rid, r in run.requirements.items()}
    bodiless = (status["ERR-CONTENT-TYPE"], status["ERR-BODY-SCHEMA"], status["ERR-REQUEST-ID"])
    assert bodiless == ("undecided", "undecided", "pass")
    assert run.verdict in ("pass", "incomplete")  # no failure; a recording decides only some rules


def test_validate_traffic_get_404_without_body_still_fails_the_body_rules(tmp_path: Path) -> None:
    get_404 = json.loads(POOL_EXISTS.read_text())["Entries"][7] | {"RequestMethod": "GET"}
    run = validate([_recording(tmp_path, get_404)])
    assert run.requirements["ERR-BODY-SCHEMA"].status == "fail" and run.verdict == "fail"


def _exchange(method: str, status: int, body: bytes = b"") -> Exchange:
    return Exchange(Request("p", "n", method=method), Response(status, (("request-id", GUID),), body),
                    Expectation(frozenset()), "2023-11-01.18.0")


@pytest.mark.parametrize("requirement", ["ERR-CONTENT-TYPE", "ERR-BODY-SCHEMA", "ERR-MESSAGE-REQUEST-ID",
                                         "ERR-CODE-EXPECTED"])
def test_error_body_rules_head_answer_not_applicable(requirement: str) -> None:
    with pytest.raises(NotApplicable, match="a 404 answer to HEAD carries no body"):
        checks.CHECKS.get(requirement)(_exchange("HEAD", 404))


@pytest.mark.parametrize(("status", "decided"), [(503, False), (500, False), (502, True)])
def test_no_server_error_head_5xx_bodiless_only_transient_ones_undecided(status: int, decided: bool) -> None:
    exchange = _exchange("HEAD", status)
    if decided:
        with pytest.raises(AssertionError, match="server error 502"):
            checks.evaluate("NO-SERVER-ERROR", exchange)
    else:
        assert checks.evaluate("NO-SERVER-ERROR", exchange) is False


# --- sanitizer placeholders ------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "placeholder"), [
    ("Sanitized", True), ("REDACTED", True), ("SharedKey acct:REDACTED", True),
    ("https://Sanitized.eastus2.batch.azure.com", True), ("00000000-0000-0000-0000-000000000000", False),
    ("https://example.com", False), ("MA==", False), ("UnsanitizedValue", False), ("sanitized", False),
])
def test_holds_placeholder_only_the_words_sanitizers_write(value: str, placeholder: bool) -> None:
    assert holds_placeholder(value) is placeholder


def test_validate_traffic_test_proxy_file_with_placeholders_passes_counted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_dir = tmp_path / "r"
    assert main(["validate-traffic", str(POOL_EXISTS), "--report-dir", str(report_dir)]) == 0
    results = read_results(report_dir)
    placeholders = results["config"]["placeholders"]
    assert placeholders["exchanges with placeholders"] == 9
    undecided = placeholders["undecided"]
    assert set(undecided) == {ECHO} and (undecided[ECHO]["exchanges"], undecided[ECHO]["values"]) == (9, CRID_VALUES)
    echo = results["requirements"][ECHO]
    assert echo["status"] == "undecided" and "9 recorded exchange(s) a sanitizer placeholder hid" in echo["reason"]
    assert results["verdict"] in ("pass", "incomplete")  # no failure; a recording decides only some rules
    assert "9 verdict(s) of 1 requirement(s) left undecided by sanitizer placeholders" in capsys.readouterr().out
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="bc-placeholders"' in page and "client-request-id = &#x27;Sanitized&#x27;" in page


def _reimage_at(tmp_path: Path, api_version: str, crid: str) -> str:
    doc = json.loads(REIMAGE.read_text())
    entry = doc["Entries"][0]
    entry["RequestUri"] = entry["RequestUri"].replace("2025-06-01", api_version)
    entry["RequestHeaders"]["client-request-id"] = crid
    return _recording(tmp_path, entry, name=f"reimage-{api_version}.json")


def test_validate_traffic_sanitized_client_request_id_where_uuid_required_undecided_not_failed(tmp_path: Path) -> None:
    run = validate([_reimage_at(tmp_path, "2023-11-01.18.0", "Sanitized")])
    bad_header = run.requirements["SEM-BAD-HEADER"]
    assert bad_header.status == "undecided" and bad_header.failures == 0
    assert run.config["placeholders"]["undecided"]["SEM-BAD-HEADER"]["values"] == [CRID_VALUES[0]]
    assert run.verdict in ("pass", "incomplete")  # no failure; a recording decides only some rules


def test_validate_traffic_malformed_client_request_id_where_uuid_required_still_fails(tmp_path: Path) -> None:
    run = validate([_reimage_at(tmp_path, "2023-11-01.18.0", "not-a-guid")])
    assert run.requirements["SEM-BAD-HEADER"].status == "fail" and run.verdict == "fail"


def test_validate_traffic_placeholder_that_decides_nothing_keeps_the_verdict() -> None:
    run = validate([str(REIMAGE)])  # client-request-id 'Sanitized', but 2025-06-01 takes any string
    assert run.config["placeholders"]["undecided"] == {}
    assert run.requirements["RSP-CRID-NOT-ECHOED"].status == "pass" and run.requirements["SEM-ACCEPT"].status == "pass"


def test_with_stand_ins_replace_each_placeholder_by_a_value_of_its_kind() -> None:
    request = Request("", "", method="POST", path="/pools/p/nodes/n/uploadbatchservicelogs",
                      headers=(("client-request-id", "Sanitized"), ("Authorization", "Sanitized"),
                               ("ocp-date", "REDACTED")),
                      body=b'{"containerUrl": "Sanitized", "startTime": "2025-03-19T18:39:21Z"}')
    response = Response(202, (("client-request-id", "Sanitized"), ("DataServiceId", "Sanitized")))
    found = find(request, response, "https://Sanitized.eastus2.batch.azure.com")
    assert Placeholder("request body", "$.containerUrl", "Sanitized", ("containerUrl",)) in found and len(found) == 7
    new_request, new_response, host = with_stand_ins(request, response, "https://Sanitized.eastus2.batch.azure.com",
                                                     found, "seed")
    sent, echoed = new_request.header("client-request-id"), new_response.header("client-request-id")
    assert sent != echoed and all(len(v or "") == 36 for v in (sent, echoed))
    assert new_request.header("ocp-date") == "Tue, 03 Feb 2026 18:19:59 GMT"
    assert new_response.header("DataServiceId") == host + "/pools/p/nodes/n/uploadbatchservicelogs"
    assert json.loads(new_request.body or b"")["startTime"] == "2025-03-19T18:39:21Z"
    assert find(new_request, new_response, host) == ()
