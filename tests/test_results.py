"""A requirement's status only moves forward: once failed nothing makes it pass; an error never becomes a pass."""

from __future__ import annotations

from conformance.reporting.results import RequirementResult
from conformance.spec import catalogue

FAILURE = {"requirement": "SEM-ACCEPT", "message": "status 500"}


def _result() -> RequirementResult:
    return RequirementResult(catalogue()["SEM-ACCEPT"], reason="not run")


def test_result_failed_then_met_stays_failed() -> None:
    result = _result()
    result.broke()
    result.fail(FAILURE)
    result.met(5)
    result.settle("undecided")
    assert (result.status, result.failures, result.examples) == ("fail", 1, 5)


def test_result_error_then_examples_met_stays_error() -> None:
    result = _result()
    result.error("cannot reach the target")
    result.met()
    result.settle("undecided")
    assert result.status == "error" and result.reason == "cannot reach the target"


def test_result_error_then_failure_becomes_fail() -> None:
    result = _result()
    result.error("timeout")
    result.fail(FAILURE)
    assert result.status == "fail" and result.first_failure == FAILURE


def test_result_no_example_settles_undecided_with_reason() -> None:
    result = _result()
    result.settle("every deciding request was withheld")
    assert result.status == "undecided" and result.reason == "every deciding request was withheld"


def test_result_first_failure_kept_unless_replaced() -> None:
    result = _result()
    result.fail(FAILURE)
    result.fail({"message": "later"})
    assert result.first_failure == FAILURE
    result.fail({"message": "shrunk"}, replace=True)
    assert result.first_failure == {"message": "shrunk"}


def test_result_skip_reason_not_written_over_a_decided_status() -> None:
    result = _result()
    result.met()
    result.settle("undecided")
    result.undecided("switched off")
    result.not_applicable("not an SDK target")
    assert result.status == "pass" and result.reason == ""
