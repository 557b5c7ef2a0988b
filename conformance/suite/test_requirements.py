"""One test per catalogue requirement, each a Hypothesis property against the target."""

from __future__ import annotations

import pytest

from conformance.models import HarnessError
from conformance.reporting.failures import shown
from conformance.reporting.results import RequirementResult
from conformance.run.plugin import fail_requirement
from conformance.run.session import Session
from conformance.spec import catalogue


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize over the selected requirement IDs (all, or those named with --only)."""
    if "requirement_id" not in metafunc.fixturenames:
        return
    only = metafunc.config.option.bc_only or []
    unknown = [rid for rid in only if rid not in catalogue()]
    if unknown:
        raise pytest.UsageError(f"--only {', '.join(unknown)}: not a requirement ID of the catalogue")
    # the spec-driven category has its own module (test_spec_driven.py); the plugin orders the tests
    ids = [rid for rid, req in catalogue().items() if req.category != "spec-driven" and (not only or rid in only)]
    metafunc.parametrize("requirement_id", [
        pytest.param(rid, id=rid, marks=pytest.mark.conformance_requirement(rid)) for rid in ids])


@pytest.fixture
def verdict(requirement_id: str, conformance_session: Session) -> RequirementResult:
    """Run the requirement's property during setup, so a harness error shows as an error, not a fail."""
    result = conformance_session.check_requirement(requirement_id)
    if result.status == "error":
        raise HarnessError(shown(result.reason))
    return result


def test_requirement(verdict: RequirementResult) -> None:
    """The target meets the requirement on every generated example that could decide it."""
    requirement = verdict.requirement
    if verdict.status == "not-applicable":
        pytest.skip(shown(f"{requirement.id} not applicable: {verdict.reason}"))
    if verdict.status == "undecided":
        remedy = f" (to decide it: {verdict.remedy})" if verdict.remedy else ""
        pytest.skip(shown(f"{requirement.id} undecided: {verdict.reason}{remedy}"))
    if verdict.status == "fail":
        failure = verdict.first_failure or {}
        fail_requirement(requirement, f"{failure.get('message', '')}\nexpected: {failure.get('expected', '')}\n"
                                      f"reproduce: {failure.get('reproduce', '')}")
    assert verdict.status == "pass" and verdict.examples > 0 and verdict.failures == 0
