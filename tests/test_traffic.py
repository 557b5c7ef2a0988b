"""validate-traffic: real samples pass, corrupted copies fail the right requirement, bad input exits 2."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conformance.cli import main
from conformance.models import Request, Response
from conformance.reporting.har import TrafficRecorder
from conformance.traffic.command import read_traffic, validate

from conftest import (
    RECORDING_FILES,
    SAMPLE_FILES,
    read_results,
    real_exchanges,
    real_sample,
    run_suite,
    sample_path,
)

REIMAGE_202 = sample_path("reimage-202_2025-06-01.json")
POOL_404 = sample_path("get-pool-404-PoolNotFound_2025-06-01.json")
REIMAGE_409 = sample_path("reimage-409-vm-pool_2023-05-01.17.0.json")
GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def _drop_header(headers: dict[str, str], name: str) -> None:
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]


def test_sample_files_exist_for_the_suite() -> None:
    assert len(SAMPLE_FILES) >= 4


# Recorded live-service traffic that really breaks a SHOULD requirement, by file: none of the vendored
# files does (checked exchange by exchange); a SHOULD failure on them would be a false failure of the suite.
REAL_SHOULD_VIOLATIONS: dict[str, set[str]] = {}


@pytest.mark.parametrize("sample", SAMPLE_FILES + RECORDING_FILES, ids=[p.stem for p in SAMPLE_FILES + RECORDING_FILES])
def test_validate_traffic_real_sample_no_must_failure(sample: Path, tmp_path: Path) -> None:
    code = main(["validate-traffic", str(sample), "--report-dir", str(tmp_path)])
    results = read_results(tmp_path)
    failed = {k: v["first_failure"] for k, v in results["requirements"].items()
              if v["status"] == "fail" and v["level"] == "MUST"}
    assert failed == {}
    # validate-traffic exits 0 without a MUST failure; what the recording leaves undecided makes it incomplete
    assert code == 0 and results["verdict"] in ("pass", "incomplete")
    should = {k for k, v in results["requirements"].items() if v["status"] == "fail"}
    assert should == REAL_SHOULD_VIOLATIONS.get(sample.name, set())
    assert any(v["status"] == "pass" for v in results["requirements"].values())
    assert {p.name for p in tmp_path.iterdir()} >= {"results.json", "junit.xml", "report.html"}


def _errors(exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in exchanges if int(e["response"]["status"]) >= 400]


ERROR_RULES = ("ERR-CONTENT-TYPE", "ERR-BODY-SCHEMA", "ERR-REQUEST-ID")


def test_validate_traffic_all_samples_together_decide_the_response_and_error_rules() -> None:
    exchanges = [e for p in SAMPLE_FILES for e in real_exchanges(p)]
    errors = _errors(exchanges)
    reimage_errors = [e for e in errors if urlsplit(e["request"]["uri"]).path.endswith("/reimage")]
    assert 0 < len(reimage_errors) < len(errors)  # errors of reimage and of other operations alike
    run = validate([str(p) for p in SAMPLE_FILES])
    assert run.config["exchanges"] == len(exchanges)
    status = {rid: r.status for rid, r in run.requirements.items()}
    for rid in ("RSP-202-STATUS", "RSP-202-REQUEST-ID", "RSP-202-DATASERVICEID", *ERROR_RULES):
        assert status[rid] == "pass", rid
    for rid in ERROR_RULES:  # the generic error rules judge every recorded error answer, whatever its operation
        assert run.requirements[rid].examples == len(errors), rid
    assert status["SEM-NODE-STATE"] == "not-applicable" and "live target" in run.requirements["SEM-NODE-STATE"].reason


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=[p.stem for p in SAMPLE_FILES])
def test_validate_traffic_each_sample_error_answer_judged_by_error_body_schema(sample: Path) -> None:
    errors = len(_errors(real_exchanges(sample)))
    result = validate([str(sample)]).requirements["ERR-BODY-SCHEMA"]
    assert (result.status, result.examples) == ("pass" if errors else "undecided", errors)


def _corrupt_202_no_request_id(doc: dict[str, Any]) -> None:
    _drop_header(doc["response"]["headers"], "request-id")


def _corrupt_202_no_dataserviceid(doc: dict[str, Any]) -> None:
    _drop_header(doc["response"]["headers"], "DataServiceId")


def _corrupt_202_request_id_not_guid(doc: dict[str, Any]) -> None:
    doc["response"]["headers"]["request-id"] = "not-a-guid"


def _corrupt_404_message_string(doc: dict[str, Any]) -> None:
    doc["response"]["body_json"]["message"] = "The specified pool does not exist."


def _corrupt_404_request_id_not_guid(doc: dict[str, Any]) -> None:
    doc["response"]["headers"]["request-id"] = "b4669e1a474b4e049c9f1cef6b40a8fd-x"


def _corrupt_404_no_request_id(doc: dict[str, Any]) -> None:
    _drop_header(doc["response"]["headers"], "request-id")


def _corrupt_404_text_plain(doc: dict[str, Any]) -> None:
    doc["response"]["headers"]["Content-Type"] = "text/plain"


def _corrupt_409_no_code(doc: dict[str, Any]) -> None:
    del doc["response"]["body_json"]["code"]


CORRUPTIONS = [
    (REIMAGE_202, _corrupt_202_no_request_id, "RSP-202-REQUEST-ID"),
    (REIMAGE_202, _corrupt_202_request_id_not_guid, "RSP-202-REQUEST-ID"),
    (REIMAGE_202, _corrupt_202_no_dataserviceid, "RSP-202-DATASERVICEID"),
    (POOL_404, _corrupt_404_message_string, "ERR-BODY-SCHEMA"),
    (POOL_404, _corrupt_404_request_id_not_guid, "ERR-REQUEST-ID"),
    (POOL_404, _corrupt_404_no_request_id, "ERR-REQUEST-ID"),
    (POOL_404, _corrupt_404_text_plain, "ERR-CONTENT-TYPE"),
    (REIMAGE_409, _corrupt_409_no_code, "ERR-BODY-SCHEMA"),
]


@pytest.mark.parametrize(("sample", "corrupt", "requirement"), CORRUPTIONS,
                         ids=[c[1].__name__.removeprefix("_corrupt_") for c in CORRUPTIONS])
def test_validate_traffic_corrupted_sample_fails_its_requirement(sample: Path, corrupt: Any, requirement: str,
                                                                 tmp_path: Path) -> None:
    doc = real_sample(sample.name)
    corrupt(doc)
    path = _write(tmp_path, sample.name, doc)
    report_dir = tmp_path / "reports"
    code = main(["validate-traffic", path, "--report-dir", str(report_dir)])
    result = read_results(report_dir)["requirements"][requirement]
    assert result["status"] == "fail" and result["level"] == "MUST"
    assert result["first_failure"]["location"] == f"{path} entry 0"
    assert result["first_failure"]["reproduce"] == f"batch-conformance validate-traffic {path}"
    assert code == 1


def test_validate_traffic_array_counts_every_entry_and_names_failing_ones(tmp_path: Path) -> None:
    good, bad = real_sample(REIMAGE_202.name), real_sample(REIMAGE_202.name)
    _corrupt_202_no_request_id(bad)
    path = _write(tmp_path, "many.json", [good, bad, good, bad])
    run = validate([path])
    result = run.requirements["RSP-202-REQUEST-ID"]
    assert (result.status, result.examples, result.failures) == ("fail", 2, 2)
    assert result.first_failure is not None and result.first_failure["location"] == f"{path} entry 1"
    assert result.first_failure["other_locations"] == [f"{path} entry 3"]


def test_validate_traffic_other_operation_gets_only_the_generic_rules(tmp_path: Path) -> None:
    doc = real_sample(POOL_404.name)
    doc["response"]["status"] = 202  # a GET pool answered 202: no reimage rule may judge it
    doc["response"]["body_json"] = None
    run = validate([_write(tmp_path, "get.json", doc)])
    assert all(r.status == "undecided" for rid, r in run.requirements.items() if rid.startswith("RSP-202"))


def test_validate_traffic_bearer_and_shared_key_never_reach_the_reports(tmp_path: Path) -> None:
    token, signature = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl", \
        "U2hhcmVkS2V5U2lnbmF0dXJlVmFsdWVYWVo9PQ=="
    exchanges = []
    for auth in (f"Bearer {token}", f"SharedKey myaccount:{signature}"):
        doc = real_sample(REIMAGE_202.name)
        doc["request"]["headers"]["Authorization"] = auth
        _corrupt_202_no_request_id(doc)  # a failure, so the request is shown in every report
        doc["response"]["body"] = f"echo of {auth}"  # a server that leaks the credential into its body
        exchanges.append(doc)
    report_dir = tmp_path / "reports"
    assert main(["validate-traffic", _write(tmp_path, "secret.json", exchanges), "--report-dir",
                 str(report_dir)]) == 1
    written = {p.name: p.read_text() for p in report_dir.iterdir()}
    assert set(written) == {"results.json", "junit.xml", "report.html"}
    assert "Bearer REDACTED" in written["report.html"]
    for name, text in written.items():
        assert token not in text and signature not in text, name
        assert "c2VjcmV0LXBheWxvYWQ" not in text, name


def test_validate_traffic_har_from_recorder_round_trip(tmp_path: Path) -> None:
    recorder = TrafficRecorder(tmp_path / "run.har")
    request = Request("pool-a", "node-1", query=(("api-version", "2025-06-01"),),
                      headers=(("client-request-id", GUID), ("return-client-request-id", "true")))
    good = Response(202, (("request-id", GUID), ("DataServiceId", "http://127.0.0.1:1/pools/pool-a/nodes/node-1/"
                                                                   "reimage"), ("client-request-id", GUID)))
    recorder.add(request, good, "http://127.0.0.1:1")
    recorder.add(request, Response(202, (("request-id", GUID), ("client-request-id", GUID))), "http://127.0.0.1:1")
    recorded = read_traffic(recorder.write())
    assert [r.request.target_path for r in recorded] == ["/pools/pool-a/nodes/node-1/reimage"] * 2
    assert recorded[0].request.headers == request.headers and recorded[0].response.headers == good.headers
    run = validate([str(tmp_path / "run.har")])
    assert run.requirements["RSP-CRID-ECHO"].status == "pass"
    assert run.requirements["RSP-202-DATASERVICEID"].status == "fail"
    assert run.requirements["RSP-202-DATASERVICEID"].first_failure["location"].endswith("entry 1")  # type: ignore[index]


def test_validate_traffic_har_base64_content_is_decoded(tmp_path: Path) -> None:
    import base64

    body = json.dumps({"code": "PoolNotFound", "message": "flat string"}).encode()
    har = {"log": {"version": "1.2", "entries": [{
        "request": {"method": "POST", "url": "https://a.b.batch.azure.com/pools/p/nodes/n/reimage?api-version="
                                              "2025-06-01", "headers": [{"name": "Content-Length", "value": "0"}]},
        "response": {"status": 404, "headers": [{"name": "request-id", "value": GUID},
                                                {"name": "Content-Type", "value": "application/json"}],
                     "content": {"text": base64.b64encode(body).decode(), "encoding": "base64"}}}]}}
    run = validate([_write(tmp_path, "x.har", har)])
    assert run.requirements["ERR-BODY-SCHEMA"].status == "fail"
    assert run.requirements["ERR-REQUEST-ID"].status == "pass"


@pytest.mark.parametrize(("content", "needle"), [
    ("{not json", "is not JSON"),
    ('{"something": 1}', "neither a HAR log, a test-proxy recording"),
    ('[{"request": {"method": "GET", "uri": "https://x/pools"}, "response": {"status": 200}}, '
     '{"request": {"method": "GET", "uri": "https://x/pools"}, "response": {"status": "abc"}}]', "entry 1"),
    ('[{"request": {"uri": "https://x/pools"}, "response": {"status": 200}}]', "entry 0: request.method"),
    ('{"log": {"entries": [{"request": {}}]}}', "entry 0"),
    ('[{"request": {"method": "GET", "uri": "https://x/p", "headers": 5}, "response": {"status": 200}}]',
     "entry 0: request headers"),
])
def test_validate_traffic_unreadable_input_exits_2_naming_file_and_entry(
        content: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["validate-traffic", str(path), "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and needle in err and "Traceback" not in err
    assert not (tmp_path / "r" / "results.json").exists()


def test_validate_traffic_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.har"
    assert main(["validate-traffic", str(REIMAGE_202), str(missing), "--report-dir", str(tmp_path)]) == 2
    assert f"cannot read traffic file {missing}" in capsys.readouterr().err


def test_validate_traffic_should_failure_alone_exits_0(tmp_path: Path) -> None:
    doc = real_sample(REIMAGE_202.name)
    doc["response"]["body"] = '{"unexpected": true}'  # RSP-202-EMPTY-BODY is a SHOULD
    report_dir = tmp_path / "r"
    assert main(["validate-traffic", _write(tmp_path, "s.json", doc), "--report-dir", str(report_dir)]) == 0
    results = read_results(report_dir)
    assert results["requirements"]["RSP-202-EMPTY-BODY"]["status"] == "fail"
    assert results["verdict"] in ("pass", "incomplete")  # a SHOULD failure never fails the verdict


def test_validate_traffic_results_name_the_files_as_target(tmp_path: Path) -> None:
    copy_path = _write(tmp_path, "copy.json", copy.deepcopy(real_sample(REIMAGE_409.name)))
    run = validate([str(REIMAGE_202), copy_path])
    assert run.target == f"traffic: {REIMAGE_202}, {copy_path}"
    assert run.config["exchanges"] == 2 and run.api_version == "2023-05-01.17.0, 2025-06-01"


@pytest.mark.parametrize(("fault", "failing"), [(None, set()), ("no-request-id-202", {"RSP-202-REQUEST-ID"})])
def test_run_record_har_validates_back(fault: str | None, failing: set[str], tmp_path: Path) -> None:
    har = tmp_path / "run.har"
    run = run_suite(tmp_path / "run", "--only", "RSP-202-REQUEST-ID", "--only", "RSP-CRID-ECHO", "--only",
                    "ERR-BODY-SCHEMA", "--record", str(har), *(["--emulator-fault", fault] if fault else []))
    assert run.code == (1 if fault else 0)
    recorded = read_traffic(har)
    assert len(recorded) >= 12 and all(r.base_url.startswith("http://127.0.0.1:") for r in recorded)
    code = main(["validate-traffic", str(har), "--report-dir", str(tmp_path / "traffic")])
    results = read_results(tmp_path / "traffic")["requirements"]
    assert {rid for rid, r in results.items() if r["status"] == "fail" and r["level"] == "MUST"} == failing
    assert code == (1 if failing else 0)
    for rid in ("RSP-202-STATUS", "ERR-BODY-SCHEMA", "RSP-CRID-ECHO"):
        assert results[rid]["status"] == "pass", rid


def _reimage_answered(status: int, code: str) -> dict[str, Any]:
    doc, error = real_sample(REIMAGE_202.name), real_sample(POOL_404.name)
    doc["response"] = error["response"]
    doc["response"]["status"], doc["response"]["body_json"]["code"] = status, code
    return doc


@pytest.mark.parametrize(("status", "code"), [(404, "PoolNotFound"), (404, "NodeNotFound"),
                                              (409, "NodeBeingReimaged"), (409, "OperationNotValidOnNode"),
                                              (503, "ServerBusy")])
def test_validate_traffic_refused_reimage_without_inventory_is_no_must_failure(status: int, code: str,
                                                                               tmp_path: Path) -> None:
    run = validate([_write(tmp_path, "r.json", _reimage_answered(status, code))])
    assert [rid for rid, r in run.requirements.items() if r.status == "fail"] == []
    assert run.requirements["ERR-BODY-SCHEMA"].status == "pass"


def test_validate_traffic_reimage_500_fails_no_server_error(tmp_path: Path) -> None:
    run = validate([_write(tmp_path, "r.json", _reimage_answered(500, "InternalError"))])
    assert run.requirements["NO-SERVER-ERROR"].status == "fail" and run.verdict == "fail"


def test_validate_traffic_unknown_api_version_gets_only_the_generic_rules(tmp_path: Path) -> None:
    doc = real_sample(REIMAGE_202.name)
    doc["request"]["uri"] = doc["request"]["uri"].replace("2025-06-01", "2019-01-01.8.0")
    _corrupt_202_no_request_id(doc)  # a reimage rule would fail it; the suite has no data for this version
    run = validate([_write(tmp_path, "old.json", doc)])
    assert run.requirements["RSP-202-REQUEST-ID"].status == "undecided"
    assert run.requirements["RSP-CRID-NOT-ECHOED"].status == "pass"
