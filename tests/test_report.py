"""results.json, junit.xml and the HTML sections: content, escaping and redaction."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conformance.reporting.report import (
    closing_lines,
    failure_html,
    outcomes_svg,
    standalone_html,
    summary_html,
    write_html,
    write_reports,
)
from conformance.reporting.results import RequirementResult, RunResult
from conformance.spec import catalogue

from conftest import read_results, run_suite

TOKEN = "eyJhbGciOiJSUzI1NiJ9.dG9rZW4tcGF5bG9hZA.c2lnbmF0dXJlLXZhbHVl"
SIGNATURE = "a2V5LXNpZ25hdHVyZS12YWx1ZS14eXo="


def _failure(rid: str) -> dict[str, Any]:
    return {
        "requirement": rid, "message": "request-id header is None <script>alert(1)</script>",
        "expected": "a request-id header holding a GUID", "flaky": False,
        "request": {"method": "POST", "url": "http://127.0.0.1:9/pools/p/nodes/n/reimage?api-version=2025-06-01",
                    "headers": {"Authorization": f"Bearer {TOKEN}", "client-request-id": "abc"},
                    "body": f'{{"note": "SharedKey acct:{SIGNATURE}"}}'},
        "response": {"status": 202, "headers": {"DataServiceId": "x"}, "body": ""},
        "curl": f"curl -i -X POST 'http://127.0.0.1:8765/pools/p/nodes/n/reimage' -H 'Authorization: Bearer {TOKEN}'",
        "reproduce": "batch-conformance run --profile quick --seed 7 --only " + rid,
    }


def _run_result() -> RunResult:
    """A run with every status: a MUST failure, a SHOULD failure, a pass, an error and skips."""
    run = RunResult(target="http://127.0.0.1:9", api_version="2025-06-01", seed=7, profile="quick",
                    suite_version="0.1.0", config={"target": "http://127.0.0.1:9", "auth": "bearer",
                                                    "note": f"Bearer {TOKEN}"}, duration=3.25)
    for rid, req in catalogue().items():
        run.requirements[rid] = RequirementResult(req, reason="not decided: no example")
    statuses = {"RSP-202-REQUEST-ID": ("fail", 4, 2), "RSP-202-EMPTY-BODY": ("fail", 1, 1),
                "RSP-202-STATUS": ("pass", 12, 0), "SEM-ACCEPT": ("error", 0, 0)}
    for rid, (status, examples, failures) in statuses.items():
        result = run.requirements[rid]
        result.status, result.examples, result.failures = status, examples, failures  # type: ignore[assignment]
        result.reason = "target unreachable" if status == "error" else ""
        if status == "fail":
            result.first_failure = _failure(rid)
    return run


def test_summary_html_shows_the_facts_a_reviewer_needs() -> None:
    page = summary_html(_run_result())
    for fragment in ('id="bc-verdict">FAIL<', 'id="bc-target">http://127.0.0.1:9<', 'id="bc-api-version">2025-06-01<',
                     'id="bc-profile">quick<', 'id="bc-seed">7<', 'id="bc-suite-version">0.1.0<',
                     'id="bc-duration">3.2 s<', 'id="bc-config"'):
        assert fragment in page, fragment


def test_summary_html_counts_per_level_and_status() -> None:
    page = summary_html(_run_result())
    must = re.search(r'<tr data-level="MUST">(.*?)</tr>', page)
    should = re.search(r'<tr data-level="SHOULD">(.*?)</tr>', page)
    assert must and should
    cells = lambda row: re.findall(r'class="bc-count-([\w-]+)">(\d+)<', row)  # noqa: E731
    n_must = sum(1 for r in catalogue().values() if r.level == "MUST")
    assert dict(cells(must[1])) == {"pass": "1", "fail": "1", "error": "1", "undecided": str(n_must - 3),
                                       "not-applicable": "0"}
    assert dict(cells(should[1]))["fail"] == "1"


def test_summary_html_matrix_has_one_row_per_catalogue_id_with_level_source_status() -> None:
    page = summary_html(_run_result())
    rows = re.findall(r'<tr class="bc-row" id="bc-row-([^"]+)" data-status="(\w+)" data-level="(\w+)"', page)
    assert [r[0] for r in rows] == list(catalogue())
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    assert by_id["RSP-202-REQUEST-ID"] == ("fail", "MUST") and by_id["RSP-202-EMPTY-BODY"] == ("fail", "SHOULD")
    assert by_id["SEM-ACCEPT"][0] == "error" and by_id["RSP-202-STATUS"][0] == "pass"
    source = catalogue()["RSP-202-REQUEST-ID"].source
    assert f"<small>{source}</small>" in page
    assert 'id="bc-filter-status"' in page and 'id="bc-filter-level"' in page


def test_summary_html_plot_has_one_bar_per_requirement() -> None:
    svg = outcomes_svg(_run_result())
    assert svg.startswith("<svg") and svg.count('<g class="bc-bar"') == len(catalogue())
    assert 'data-requirement="RSP-202-STATUS" data-status="pass"' in svg


def test_failure_html_shows_request_response_expectation_and_commands() -> None:
    result = _run_result().requirements["RSP-202-REQUEST-ID"]
    page = failure_html(result)
    for cls in ("bc-why", "bc-expected", "bc-request", "bc-response", "bc-curl", "bc-reproduce", "bc-source"):
        assert f'class="{cls}"' in page, cls
    assert "batch-conformance run --profile quick --seed 7 --only RSP-202-REQUEST-ID" in page
    assert "client-request-id: abc" in page and "DataServiceId: x" in page


def test_failure_html_escapes_markup_from_the_target() -> None:
    page = failure_html(_run_result().requirements["RSP-202-REQUEST-ID"])
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_reports_never_contain_secrets(tmp_path: Path) -> None:
    run = _run_result()
    write_reports(run, tmp_path)
    write_html(run, tmp_path / "report.html", "t")
    for path in tmp_path.iterdir():
        text = path.read_text()
        assert TOKEN not in text and SIGNATURE not in text, path.name
    assert "Bearer REDACTED" in (tmp_path / "report.html").read_text()


def test_summary_html_verdict_pass_when_only_a_should_failed() -> None:
    run = _run_result()
    for result in run.requirements.values():
        if result.status != "fail" or result.requirement.level == "MUST":
            result.status, result.reason = "pass", ""
    page = summary_html(run)
    assert 'id="bc-verdict">PASS<' in page and "1 SHOULD warning(s)" in page


def test_summary_html_skip_reason_shown_and_fail_reason_hidden() -> None:
    page = summary_html(_run_result())
    row = re.search(r'id="bc-row-SEM-POOL-CONFIG".*?</tr>', page)
    failing = re.search(r'id="bc-row-RSP-202-REQUEST-ID".*?</tr>', page)
    assert row and "not decided: no example" in row[0]
    assert failing and "bc-reason" not in failing[0] and 'href="#bc-RSP-202-REQUEST-ID"' in failing[0]


def test_junit_one_testcase_per_requirement_with_distinct_outcomes(tmp_path: Path) -> None:
    write_reports(_run_result(), tmp_path)
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == list(catalogue())
    assert cases["RSP-202-REQUEST-ID"].find("failure") is not None
    assert cases["SEM-ACCEPT"].find("error") is not None
    assert cases["SEM-POOL-CONFIG"].find("skipped") is not None
    passed = cases["RSP-202-STATUS"]
    assert passed.find("failure") is None and passed.find("skipped") is None and passed.find("error") is None
    assert suite.get("failures") == "2" and suite.get("errors") == "1"


def test_results_json_carries_verdict_counts_and_first_failure(tmp_path: Path) -> None:
    write_reports(_run_result(), tmp_path)
    doc = read_results(tmp_path)
    assert doc["verdict"] == "fail" and doc["seed"] == 7 and doc["counts"]["MUST"]["fail"] == 1
    failure = doc["requirements"]["RSP-202-REQUEST-ID"]["first_failure"]
    assert failure["reproduce"].endswith("--only RSP-202-REQUEST-ID")
    assert doc["requirements"]["RSP-202-STATUS"]["examples"] == 12


def test_standalone_html_is_self_contained() -> None:
    page = standalone_html(_run_result(), "traffic")
    assert page.startswith("<!DOCTYPE html>") and "bc-summary" in page
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?:', page)


# --- end to end: a failing run's report, its reproduction, and secrets of a signed run ------------------
FAULT, BROKEN = "no-request-id-202", "RSP-202-REQUEST-ID"


def test_failing_run_reproduce_command_reproduces_the_failure(tmp_path: Path) -> None:
    import shlex

    first = tmp_path / "first"
    run = run_suite(first, "--emulator-fault", FAULT, "--only", BROKEN)
    assert run.code == 1
    failure = run.requirements[BROKEN]["first_failure"]
    assert f"--emulator-fault {FAULT}" in failure["reproduce"] and "--seed 0" in failure["reproduce"]
    assert failure["reproduce"] in (first / "report.html").read_text()
    argv = shlex.split(failure["reproduce"])
    assert argv[:2] == ["batch-conformance", "run"]
    replay = run_suite(tmp_path / "again", *argv[2:], profile=None)  # the command's own profile, nothing added
    assert replay.code == 1
    replayed = replay.requirements[BROKEN]
    assert replayed["status"] == "fail"
    assert replayed["first_failure"]["message"] == failure["message"]
    assert replayed["first_failure"]["request"]["method"] == failure["request"]["method"]


def test_signed_runs_leave_no_key_or_token_under_the_report_dir(tmp_path: Path,
                                                                 monkeypatch: Any) -> None:
    import base64
    import re as regex

    from conformance.config import KEY_ENV, TOKEN_ENV
    from conformance.emulator import AuthConfig, EmbeddedEmulator
    from conformance.inventory import default_inventory

    key = base64.b64encode(b"report-test-account-key-0123456789abcdef").decode()
    token = "eyJ0eXAiOiJKV1QifQ.cmVwb3J0LXRlc3QtdG9rZW4.c2lnbmVkLWJ5LXRlc3Q"
    monkeypatch.setenv(KEY_ENV, key)
    monkeypatch.setenv(TOKEN_ENV, token)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(default_inventory().to_json()))
    report_dir = tmp_path / "reports"
    auth = AuthConfig("acct", key, frozenset({token}))
    with EmbeddedEmulator(auth=auth, fault=FAULT) as emulator:
        for mode in (["--auth", "sharedkey", "--account-name", "acct"], ["--auth", "bearer"]):
            name = mode[1]
            run = run_suite(report_dir / name, "--target", emulator.url, "--inventory", str(inventory), *mode,
                            "--allow-destructive", "--max-reimages", "50", "--only", BROKEN, "--only",
                            "AUTH-BAD-SIGNATURE", "--record", str(report_dir / f"{name}.har"))
            # a 202 lacking request-id: the emulator enforces auth, so the signed requests got through
            assert run.code == 1 and run.requirements[BROKEN]["status"] == "fail", name
    files = [p for p in report_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"sharedkey.har", "bearer.har", "results.json", "junit.xml", "report.html"}
    for path in files:
        text = path.read_text()
        assert key not in text and token not in text, path
        assert not regex.search(r"SharedKey acct:(?!REDACTED)", text), path
        assert not regex.search(r"Bearer (?!REDACTED)", text), path


def test_closing_lines_unexpected_undecided_must_says_what_would_decide_it() -> None:
    entry = {"requirement": "SEM-ACCEPT", "level": "MUST", "status": "undecided", "outcome": "unexpected",
             "counts": "incomplete", "expectation": None}
    results = {"buckets": [], "requirements": {"SEM-ACCEPT": {"remedy": "--allow-destructive"}},
               "expectations": {"file": "e.toml", "verdict": "incomplete", "tally": {"unexpected": 1},
                                "entries": [entry]}}
    assert closing_lines(results) == [
        "batch-conformance: against the expectations in e.toml: INCOMPLETE (1 unexpected)",
        "  unexpected: SEM-ACCEPT (MUST) undecided; not in the file, counts as incomplete; to decide it: "
        "--allow-destructive"]


def test_reproduce_command_keeps_a_non_default_body_cap() -> None:
    from conformance.config import Settings
    from conformance.reporting.failures import reproduce_command

    command = reproduce_command(Settings(api_version="2023-11-01.18.0", max_body_bytes=65536), "ERR-BODY-SCHEMA")
    assert "--max-body-bytes 65536" in command and "--max-body-bytes" not in reproduce_command(
        Settings(api_version="2023-11-01.18.0"), "ERR-BODY-SCHEMA")


def test_summary_html_and_results_json_show_each_reimaged_nodes_measured_durations() -> None:
    run = _run_result()
    run.reimages = {"pool-cs/idle-1": {"reimages": 2, "seconds": [[0.3, 0.35], [0.29, None]],
                                       "still_reimaging": True, "second_reimages": 1}}
    html = summary_html(run)
    assert 'id="bc-reimages"' in html and "0.3-0.35 s" in html and "over 0.29 s" in html
    assert run.to_json()["reimages"]["pool-cs/idle-1"]["reimages"] == 2
