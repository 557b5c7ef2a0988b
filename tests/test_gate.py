"""Regression gating end to end: runs against emulator faults with an expectations file, `expectations update`,
and `compare` on the results.json those runs wrote."""

from __future__ import annotations

import contextlib
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.gate.compare import Change

from conftest import read_results

ONLY = ("SEM-NODE-NOT-FOUND", "NO-SERVER-ERROR", "SEM-BAD-BODY", "SEM-ACCEPT")
FIRST_FAULT = "unknown-node-500"  # breaks SEM-NODE-NOT-FOUND and NO-SERVER-ERROR
SECOND_FAULT = "bad-json-500"  # breaks those too (a bad body to an unknown node), and SEM-BAD-BODY
KNOWN = """[requirement.SEM-NODE-NOT-FOUND]
expected = "fail"
reason = "our gateway answers 500 for unknown nodes"
link = "https://tracker.example/B-1"
expires = {expires}

[requirement.NO-SERVER-ERROR]
expected = "fail"
reason = "the same 500"
"""


@dataclass(frozen=True)
class Gated:
    """One `batch-conformance run` with what it printed."""

    code: int
    out: str
    report_dir: Path

    @property
    def results(self) -> dict[str, Any]:
        """Its results.json."""
        return read_results(self.report_dir)

    def outcomes(self) -> dict[str, str]:
        """requirement -> the gate's outcome."""
        return {e["requirement"]: e["outcome"] for e in self.results["expectations"]["entries"]}


def _run(report_dir: Path, *args: str, only: tuple[str, ...] = ONLY) -> Gated:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", "-q", "--profile", "quick", "--no-schemathesis", "--report-dir", str(report_dir),
                     *[a for rid in only for a in ("--only", rid)], *args])
    return Gated(code, out.getvalue(), report_dir)


def _file(folder: Path, expires: str = "2999-12-31") -> Path:
    path = folder / "expectations.toml"
    path.write_text(KNOWN.format(expires=expires))
    return path


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An expectations file listing what the first fault breaks."""
    return _file(tmp_path_factory.mktemp("known"))


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, known: Path) -> Gated:
    """The first fault, against the file that lists what it breaks."""
    return _run(tmp_path_factory.mktemp("first"), "--emulator-fault", FIRST_FAULT, "--expectations", str(known))


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory, known: Path) -> Gated:
    """The second fault, against the same file: one more requirement fails."""
    return _run(tmp_path_factory.mktemp("second"), "--emulator-fault", SECOND_FAULT, "--expectations", str(known))


def test_run_expectations_listing_what_a_fault_breaks_exits_0(first: Gated) -> None:
    assert first.code == 0
    assert first.results["verdict"] == "fail"  # the conformance verdict stays what it is
    assert first.results["expectations"]["verdict"] == "pass"
    assert first.outcomes() == {"SEM-NODE-NOT-FOUND": "expected", "NO-SERVER-ERROR": "expected"}


def test_run_expectations_second_fault_exits_1_naming_only_the_new_requirement(second: Gated) -> None:
    assert second.code == 1
    assert second.outcomes() == {"SEM-NODE-NOT-FOUND": "expected", "NO-SERVER-ERROR": "expected",
                                 "SEM-BAD-BODY": "unexpected"}
    named = [line for line in second.out.splitlines() if line.startswith("  unexpected")]
    assert named == ["  unexpected: SEM-BAD-BODY (MUST) fail; not in the file, counts as fail"]


def test_run_expectations_junit_shows_expected_and_unexpected_apart(second: Gated) -> None:
    cases = {c.get("name"): c for c in ET.parse(second.report_dir / "junit.xml").getroot().iter("testcase")}
    expected = cases["SEM-NODE-NOT-FOUND"].find("skipped")
    assert expected is not None and expected.get("message", "").startswith("expected fail: our gateway answers 500")
    assert cases["SEM-BAD-BODY"].find("failure") is not None
    properties = {p.get("name"): p.get("value") for p in cases["SEM-BAD-BODY"].iter("property")}
    assert properties["expectation"] == "unexpected"


def test_run_expired_expectation_exits_1(tmp_path: Path) -> None:
    run = _run(tmp_path / "r", "--emulator-fault", FIRST_FAULT, "--expectations", str(_file(tmp_path, "2001-01-01")))
    assert run.code == 1 and run.outcomes() == {"SEM-NODE-NOT-FOUND": "expired", "NO-SERVER-ERROR": "expected"}
    assert "  expired: SEM-NODE-NOT-FOUND (MUST) fail; expected fail, expires 2001-01-01, counts as fail" in run.out


def test_run_expected_failure_now_passing_is_an_unexpected_pass_exit_0(tmp_path: Path, known: Path) -> None:
    run = _run(tmp_path, "--expectations", str(known), only=("SEM-NODE-NOT-FOUND",))
    assert run.code == 0 and run.outcomes() == {"SEM-NODE-NOT-FOUND": "unexpected pass", "NO-SERVER-ERROR": "not run"}


def test_run_strict_expectations_unexpected_pass_exits_1(tmp_path: Path, known: Path) -> None:
    run = _run(tmp_path, "--expectations", str(known), "--strict-expectations", only=("SEM-NODE-NOT-FOUND",))
    assert run.code == 1 and run.results["expectations"]["strict"] is True


def test_run_malformed_expectations_exits_2_with_one_line_before_anything_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[requirement.SEM-ACCEPT]\nexpected = fail\n")
    assert main(["run", "--expectations", str(bad), "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"batch-conformance: error: expectations file {bad} is not TOML") and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_expectations_update_keeps_reasons_adds_the_new_failure_and_its_rerun_exits_0(
        tmp_path: Path, known: Path, second: Gated) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(known.read_text())
    assert main(["expectations", "update", str(second.report_dir / "results.json"), "--file", str(path)]) == 0
    text = path.read_text()
    assert 'reason = "our gateway answers 500 for unknown nodes"' in text and "expires = 2999-12-31" in text
    assert "[requirement.SEM-BAD-BODY]" in text and "TODO: say why this is accepted" in text
    rerun = _run(tmp_path / "r", "--emulator-fault", SECOND_FAULT, "--expectations", str(path))
    assert rerun.code == 0 and set(rerun.outcomes().values()) == {"expected"}


def _other_version(tmp_path: Path, source: Path) -> Path:
    doc = json.loads(source.read_text())
    doc["suite_version"] = "0.0.1"
    path = tmp_path / "old-suite.json"
    path.write_text(json.dumps(doc))
    return path


def test_expectations_update_results_of_another_suite_version_exits_2_one_line(
        tmp_path: Path, first: Gated, capsys: pytest.CaptureFixture[str]) -> None:
    other = _other_version(tmp_path, first.report_dir / "results.json")
    assert main(["expectations", "update", str(other), "--file", str(tmp_path / "e.toml")]) == 2
    err = capsys.readouterr().err
    assert "written by batch-conformance 0.0.1, this is 0.1.0" in err and err.count("\n") == 1
    assert not (tmp_path / "e.toml").exists()


def test_compare_two_runs_names_the_regression_and_exits_1(tmp_path: Path, first: Gated, second: Gated,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", str(first.report_dir / "results.json"), str(second.report_dir / "results.json"),
                 "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert code == 1 and doc["regressions"] == ["SEM-BAD-BODY"]
    assert "  REGRESSION new failure: SEM-BAD-BODY (MUST) pass -> fail" in out.splitlines()
    failed = [c.get("name") for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
              if c.find("failure") is not None]
    assert failed == ["SEM-BAD-BODY"] and (tmp_path / "report.html").stat().st_size > 1000


def test_compare_the_other_way_round_is_a_fix_exit_0(tmp_path: Path, first: Gated, second: Gated) -> None:
    code = main(["compare", str(second.report_dir / "results.json"), str(first.report_dir / "results.json"),
                 "--report-dir", str(tmp_path)])
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert code == 0 and [(c["requirement"], c["change"]) for c in doc["changes"]] == [("SEM-BAD-BODY", "fixed")]
    assert [b["input"] for b in doc["buckets"]["gone"]] == ["SEM-BAD-BODY"]


def test_compare_results_of_another_suite_version_exits_2(tmp_path: Path, first: Gated,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    other = _other_version(tmp_path, first.report_dir / "results.json")
    assert main(["compare", str(other), str(first.report_dir / "results.json"), "--report-dir", str(tmp_path)]) == 2
    assert "written by batch-conformance 0.0.1" in capsys.readouterr().err


@pytest.mark.parametrize(("level", "old", "new", "kind", "regression"), [
    ("MUST", "pass", "fail", "new failure", True),
    ("MUST", "pass", "undecided", "newly undecided", True),
    ("MUST", "pass", "not-applicable", "now not applicable", True),
    ("MUST", "pass", "not run", "not run", True),
    ("MUST", "fail", "undecided", "no longer failing (undecided)", False),
    ("MUST", "undecided", "pass", "newly passing", False),
    ("MUST", "not run", "fail", "new failure", True),
    ("SHOULD", "pass", "fail", "new failure", False),
])
def test_compare_change_kind_and_regression(level: str, old: str, new: str, kind: str, regression: bool) -> None:
    change = Change("X", level, old, new)
    assert (change.kind, change.regression) == (kind, regression)


def test_run_expectations_broken_during_the_run_leave_the_plain_verdict_and_say_why(tmp_path: Path) -> None:
    from conformance.config import Settings
    from conformance.reporting.results import RunResult
    from conformance.run.plugin import conclude

    broken = tmp_path / "e.toml"
    broken.write_text("expected = ")  # read fine at the start, then overwritten
    run = RunResult(target="embedded emulator", api_version="2023-11-01.18.0", seed=0, profile="quick",
                    suite_version="0.1.0")
    conclude(run, Settings(api_version="2023-11-01.18.0", expectations=str(broken)))
    assert run.gate is None and run.record is not None
    assert run.harness_errors == [f"expectations file {broken} is not TOML: Invalid value (at end of document)"]
