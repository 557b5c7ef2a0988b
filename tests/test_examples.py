"""Explicit examples: every input class of a focused requirement is tried, and the oracle agrees it is one."""

from __future__ import annotations

import pytest

from conformance.checks import examples_for
from conformance.inventory import default_inventory
from conformance.oracle import Oracle
from conformance.spec import versions

FOCUSED = ("SEM-ACCEPT", "SEM-NO-BODY", "SEM-POOL-NOT-FOUND", "SEM-NODE-NOT-FOUND", "SEM-POOL-ID-CASE",
           "SEM-NODE-STATE", "SEM-BAD-OPTION", "SEM-UNKNOWN-PROPERTY", "SEM-BAD-BODY", "SEM-BODY-TOO-LARGE",
           "SEM-TIMEOUT-VALID", "SEM-TIMEOUT-INVALID", "SEM-BAD-HEADER", "SEM-API-VERSION-MISSING",
           "SEM-API-VERSION-UNKNOWN", "SEM-METHOD", "SEM-POOL-CONFIG")


@pytest.mark.parametrize("api_version", list(versions()))
@pytest.mark.parametrize("requirement", FOCUSED)
def test_explicit_examples_exercise_their_requirement(requirement: str, api_version: str) -> None:
    inventory = default_inventory()
    requests = examples_for(requirement, inventory=inventory, api_version=api_version)
    assert requests, f"no explicit example for {requirement}"
    oracle = Oracle(inventory, api_version, served_versions=frozenset(versions()), auth_enforced=False)
    if requirement == "SEM-NODE-STATE":  # the last one is a valid node: its second reimage, after the 202, is judged
        *requests, reimaged = requests
        assert 202 in oracle.expect(reimaged).statuses
    for request in requests:
        expectation = oracle.expect(request)
        exercised = expectation.requirements | {f.requirement for f in expectation.faults}
        assert requirement in exercised, (request, expectation)


def test_explicit_examples_cover_every_non_accepting_state() -> None:
    inventory = default_inventory()
    states = [next(n.state for p in inventory.pools for n in p.nodes if n.id == r.node_id)
              for r in examples_for("SEM-NODE-STATE", inventory=inventory, api_version="2024-07-01.20.0")]
    assert set(states[:-1]) == {n.state for p in inventory.pools for n in p.nodes} - {"idle", "running"}
    assert states[-1] in ("idle", "running")  # and a node this run then puts into reimaging


def test_generic_requirements_have_no_examples_for() -> None:
    assert examples_for("NO-SERVER-ERROR", inventory=default_inventory(), api_version="2023-11-01.18.0") == []
