"""The spec-driven layer: Schemathesis cases from our spec/ documents, one verdict per requirement it decides."""

from __future__ import annotations

import pytest

from conformance.run import spec_driven
from conformance.run.plugin import fail_requirement
from conformance.run.session import Session
from conformance.spec import catalogue

pytestmark = pytest.mark.spec_driven


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per requirement the layer decides (its own SPEC-* IDs and the IDs it routes findings to)."""
    if "layer_requirement" not in metafunc.fixturenames:
        return
    only = metafunc.config.option.bc_only or []
    ids = [rid for rid in spec_driven.LAYER_IDS if rid in catalogue() and (not only or rid in only)]
    metafunc.parametrize("layer_requirement", [
        pytest.param(rid, id=f"spec-driven:{rid}", marks=pytest.mark.conformance_requirement(rid)) for rid in ids])


@pytest.fixture(scope="module")
def layer(conformance_session: Session) -> spec_driven.LayerResult:
    """Run the layer once for the module and merge its verdicts into the run's results."""
    settings, run = conformance_session.settings, conformance_session.run
    if not settings.schemathesis:  # its own requirements are then left out of the run, like --only does
        pytest.skip(spec_driven.OFF_REASON)
    try:
        result = spec_driven.run_layer(conformance_session)
    except Exception as err:  # a harness or suite failure is an error, never a silent pass
        spec_driven.fail_layer(run, str(err))
        raise
    spec_driven.merge(run, result, settings)
    return result


def test_spec_driven(layer_requirement: str, layer: spec_driven.LayerResult, conformance_session: Session) -> None:
    """The target meets the requirement on every spec-generated exchange that could decide it."""
    requirement = catalogue()[layer_requirement]
    tally = layer.tallies.get(layer_requirement, spec_driven.Tally())
    decided = conformance_session.run.requirements.get(layer_requirement)
    if tally.examples == 0 and tally.first is None and decided is not None and decided.status == "pass":
        return  # decided by the reimage plan's exchanges (a finite --max-reimages left the layer none)
    if tally.first is not None:
        ex, failure, check = tally.first
        fail_requirement(requirement, f"found by Schemathesis {check}: {failure.detail}\n"
                                      f"expected: {failure.expected}\n"
                                      f"sent: {ex.request.method} {ex.request.path_and_query} -> {ex.response.status}")
    if tally.examples == 0:
        stopped = f"; the run stopped sending ({layer.stopped})" if layer.stopped else ""
        pytest.skip(f"{requirement.id} not decided by the spec-driven layer: no generated exchange could decide it "
                    f"({layer.sent} sent, {len(layer.withheld)} withheld{stopped})")
    assert tally.failures == 0 and tally.examples > 0
