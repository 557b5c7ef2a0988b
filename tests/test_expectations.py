"""The expectations file and the gate over it, without a run: parsing, what each result counts for, refreshing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from conformance.models import UsageError
from conformance.reporting.expectations import (
    Expected,
    judge,
    load_expectations,
    parse_expectations,
    refresh,
    render_expectations,
)

TODAY = date(2026, 6, 1)
GOOD = """
[requirement.SEM-NODE-NOT-FOUND]
expected = "fail"
reason = "500 for unknown nodes, fixed in 2.4"
link = "https://tracker.example/B-1"
expires = 2026-12-31

[requirement.AUTH-MISSING]
expected = "undecided"
reason = "no signing in CI"
"""


def _gate(expected: dict[str, Expected], *results: tuple[str, str, str], strict: bool = False,
          run_verdict: str = "fail") -> dict[str, tuple[str, str | None]]:
    gate = judge(expected, results, file="x.toml", strict=strict, today=TODAY, run_verdict=run_verdict)
    return {e.requirement: (e.outcome, e.counts) for e in gate.entries} | {"verdict": (gate.verdict, None)}


def _expected(rid: str, status: str = "fail", expires: date | None = None) -> dict[str, Expected]:
    return {rid: Expected(rid, status, "known", expires=expires)}


def test_expectations_file_well_formed_reads_every_field() -> None:
    entries = parse_expectations(GOOD, "x.toml")
    assert entries["SEM-NODE-NOT-FOUND"] == Expected(
        "SEM-NODE-NOT-FOUND", "fail", "500 for unknown nodes, fixed in 2.4", "https://tracker.example/B-1",
        date(2026, 12, 31))
    assert entries["AUTH-MISSING"].status == "undecided" and entries["AUTH-MISSING"].expires is None


@pytest.mark.parametrize(("text", "named"), [
    ("[requirement.SEM-ACCEPT\nexpected = 'fail'", "is not TOML"),
    ("[requirement.NO-SUCH-ID]\nexpected = 'fail'\nreason = 'r'", "'NO-SUCH-ID' is not a requirement ID"),
    ("[requirement.SEM-ACCEPT]\nexpected = 'pass'\nreason = 'r'", "requirement.SEM-ACCEPT.expected: 'pass'"),
    ("[requirement.SEM-ACCEPT]\nexpected = 'fail'", "requirement.SEM-ACCEPT.reason"),
    ("[requirement.SEM-ACCEPT]\nexpected = 'fail'\nreason = 'r'\nexpires = 'soon'", "expires: 'soon' is not a date"),
    ("[requirement.SEM-ACCEPT]\nexpected = 'fail'\nreason = 'r'\nowner = 'me'", "unknown key 'owner'"),
    ("[SEM-ACCEPT]\nexpected = 'fail'", "unknown top-level key 'SEM-ACCEPT'"),
])
def test_expectations_file_malformed_is_a_one_line_usage_error_naming_it(text: str, named: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_expectations(text, "x.toml")
    assert named in str(err.value) and "x.toml" in str(err.value) and "\n" not in str(err.value)


def test_expectations_file_missing_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read expectations file"):
        load_expectations(tmp_path / "none.toml")


def test_expectations_render_then_parse_round_trips() -> None:
    entries = parse_expectations(GOOD, "x.toml")
    tricky = Expected("SEM-ACCEPT", "fail", 'quotes " and \\ and\nnew line', "", None)
    text = render_expectations([*entries.values(), tricky], header="a header\nof two lines")
    assert parse_expectations(text, "y.toml") == {**entries, "SEM-ACCEPT": tricky}


def test_gate_expected_failure_counts_for_nothing() -> None:
    out = _gate(_expected("SEM-ACCEPT"), ("SEM-ACCEPT", "MUST", "fail"))
    assert out == {"SEM-ACCEPT": ("expected", None), "verdict": ("pass", None)}


def test_gate_unlisted_must_failure_fails() -> None:
    out = _gate({}, ("SEM-ACCEPT", "MUST", "fail"), ("RSP-202-STATUS", "MUST", "pass"))
    assert out == {"SEM-ACCEPT": ("unexpected", "fail"), "verdict": ("fail", None)}


def test_gate_unlisted_should_failure_is_reported_as_a_warning() -> None:
    out = _gate({}, ("SEM-METHOD", "SHOULD", "fail"), run_verdict="pass")
    assert out == {"SEM-METHOD": ("unexpected", None), "verdict": ("pass", None)}


def test_gate_must_newly_undecided_is_incomplete() -> None:
    out = _gate(_expected("SEM-ACCEPT"), ("SEM-ACCEPT", "MUST", "undecided"), run_verdict="incomplete")
    assert out == {"SEM-ACCEPT": ("unexpected", "incomplete"), "verdict": ("incomplete", None)}


def test_gate_expected_undecided_stays_quiet() -> None:
    out = _gate(_expected("SEM-ACCEPT", "undecided"), ("SEM-ACCEPT", "MUST", "undecided"), run_verdict="incomplete")
    assert out == {"SEM-ACCEPT": ("expected", None), "verdict": ("pass", None)}


def test_gate_expected_failure_now_passing_is_an_unexpected_pass_failing_only_when_strict() -> None:
    relaxed = _gate(_expected("SEM-ACCEPT"), ("SEM-ACCEPT", "MUST", "pass"), run_verdict="pass")
    strict = _gate(_expected("SEM-ACCEPT"), ("SEM-ACCEPT", "MUST", "pass"), strict=True, run_verdict="pass")
    assert relaxed == {"SEM-ACCEPT": ("unexpected pass", None), "verdict": ("pass", None)}
    assert strict == {"SEM-ACCEPT": ("unexpected pass", "fail"), "verdict": ("fail", None)}


def test_gate_expired_expectation_fails_even_when_the_failure_stays() -> None:
    out = _gate(_expected("SEM-ACCEPT", expires=date(2026, 5, 31)), ("SEM-ACCEPT", "MUST", "fail"))
    assert out == {"SEM-ACCEPT": ("expired", "fail"), "verdict": ("fail", None)}


def test_gate_expectation_holds_through_its_expiry_day() -> None:
    out = _gate(_expected("SEM-ACCEPT", expires=TODAY), ("SEM-ACCEPT", "MUST", "fail"))
    assert out["SEM-ACCEPT"] == ("expected", None)


def test_gate_expectation_of_a_not_applicable_requirement_is_reported_not_a_regression() -> None:
    out = _gate(_expected("AUTH-MISSING", expires=date(2000, 1, 1)), ("AUTH-MISSING", "MUST", "not-applicable"),
                run_verdict="pass")
    assert out == {"AUTH-MISSING": ("not applicable", None), "verdict": ("pass", None)}


def test_gate_expectation_of_a_requirement_not_run_is_reported() -> None:
    out = _gate(_expected("SEM-ACCEPT"), ("RSP-202-STATUS", "MUST", "pass"), run_verdict="pass")
    assert out == {"SEM-ACCEPT": ("not run", None), "verdict": ("pass", None)}


def test_gate_harness_error_is_never_expected() -> None:
    out = _gate(_expected("SEM-ACCEPT"), ("SEM-ACCEPT", "MUST", "error"), run_verdict="error")
    assert out == {"SEM-ACCEPT": ("unexpected", "error"), "verdict": ("error", None)}


def test_refresh_keeps_reasons_adds_new_results_and_drops_what_passes() -> None:
    existing = parse_expectations(GOOD, "x.toml") | _expected("SEM-ACCEPT") | _expected("SEM-BAD-BODY")
    run = {"SEM-NODE-NOT-FOUND": {"level": "MUST", "status": "undecided"},  # was expected to fail
           "SEM-ACCEPT": {"level": "MUST", "status": "pass"},
           "SEM-BAD-BODY": {"level": "MUST", "status": "not-applicable"},
           "NO-SERVER-ERROR": {"level": "MUST", "status": "fail",
                               "first_failure": {"message": "server error 500. Sent: POST ..."}},
           "SEM-METHOD": {"level": "SHOULD", "status": "undecided"}}
    entries, changes = refresh(existing, run, "r.json")
    by_id = {e.requirement: e for e in entries}
    assert set(by_id) == {"SEM-NODE-NOT-FOUND", "NO-SERVER-ERROR", "SEM-BAD-BODY", "AUTH-MISSING"}
    kept = by_id["SEM-NODE-NOT-FOUND"]
    assert (kept.status, kept.reason, kept.link, kept.expires) == (
        "undecided", "500 for unknown nodes, fixed in 2.4", "https://tracker.example/B-1", date(2026, 12, 31))
    assert by_id["NO-SERVER-ERROR"].reason == "TODO: say why this is accepted (recorded from r.json: server error 500)"
    assert by_id["SEM-BAD-BODY"] == existing["SEM-BAD-BODY"] and by_id["AUTH-MISSING"] == existing["AUTH-MISSING"]
    assert sorted(changes) == ["added NO-SERVER-ERROR: expected fail",
                               "changed SEM-NODE-NOT-FOUND: expected fail -> undecided (reason kept)",
                               "removed SEM-ACCEPT: it passes now"]
