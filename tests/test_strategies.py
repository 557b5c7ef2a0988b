"""Strategies: each input class is produced, requests are sendable, every requirement has a focus."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conformance import checks, strategies
from conformance.inventory import default_inventory
from conformance.models import Request
from conformance.oracle import Oracle
from conformance.rules import is_guid, valid_id
from conformance.spec import catalogue, limits

T = TypeVar("T")
INV = default_inventory()
V18, V21 = "2023-11-01.18.0", "2025-06-01"
FAST = settings(max_examples=20, database=None, deadline=None, suppress_health_check=list(HealthCheck))


def draws(strategy: st.SearchStrategy[T], n: int) -> list[T]:
    """n examples, generated without shrinking, the same on every run."""
    out: list[T] = []

    @settings(max_examples=n, database=None, deadline=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: T) -> None:
        out.append(value)
    collect()
    return out


def sendable(request: Request) -> bool:
    """Header values are printable latin-1 without CR/LF; the path is percent-encoded ASCII."""
    request.path_and_query.encode("ascii")
    return all(v.isprintable() and "\r" not in v and "\n" not in v and v.encode("latin-1") is not None
               for _, v in request.headers)


@pytest.mark.parametrize(("strategy", "condition"), [
    (strategies.pool_ids(inventory=INV), lambda p: p in {x.id for x in INV.pools}),
    (strategies.pool_ids(inventory=INV), lambda p: INV.pool(p) is not None and p not in {x.id for x in INV.pools}),
    (strategies.pool_ids(inventory=INV), lambda p: valid_id(p) and INV.pool(p) is None),
    (strategies.pool_ids(inventory=INV), lambda p: len(p) > limits()[1]),
    (strategies.pool_ids(inventory=INV), lambda p: not valid_id(p)),
    (strategies.node_ids(inventory=INV, pool_id="pool-cs"), lambda n: n == "idle-1"),
    (strategies.node_states(api_version=V21), lambda s: s == "deallocated"),
    (strategies.reimage_options(), lambda o: o is None),
    (strategies.reimage_options(), lambda o: isinstance(o, str) and o.lower() == "requeue" and o != "requeue"),
    (strategies.reimage_options(), lambda o: not isinstance(o, str | None)),
    (strategies.bodies(), lambda b: b is None),
    (strategies.bodies(), lambda b: b == b""),
    (strategies.bodies(), lambda b: b is not None and len(b) > limits()[0]),
    (strategies.bodies(valid=False), lambda b: b is not None and b.startswith(b"{") and b"}" not in b),
    (strategies.timeouts(api_version=V18), lambda q: q and int(q[0][1]) > 30 if q and q[0][1].isdigit() else False),
    (strategies.timeouts(api_version=V18), lambda q: bool(q) and q[0][1].lstrip("-").isdigit()
     and int(q[0][1]) <= 0),
    (strategies.timeouts(api_version=V21), lambda q: bool(q) and q[0][0] == "timeOut"),
    (strategies.api_versions(api_version=V18), lambda q: q == ()),
    (strategies.headers(api_version=V18, valid=False),
     lambda h: any(k == "client-request-id" and not is_guid(v) for k, v in h)),
    (strategies.headers(api_version=V18), lambda h: ("return-client-request-id", "true") in h),
])
def test_strategy_produces_the_class(strategy: st.SearchStrategy[Any], condition: Callable[[Any], bool]) -> None:
    assert any(condition(x) for x in draws(strategy, 60))


def test_body_strategy_keeps_the_oversized_payload_valid_json() -> None:
    assert isinstance(json.loads(strategies.BIG_BODY), dict)


@FAST
@given(strategies.reimage_requests(inventory=INV, api_version=V18))
def test_generated_requests_are_sendable(request: Request) -> None:
    assert sendable(request)


@FAST
@given(strategies.reimage_requests(inventory=INV, api_version=V18, valid=True))
def test_valid_requests_are_accepted_by_the_oracle(request: Request) -> None:
    exp = Oracle(INV, V18, auth_enforced=True).expect(request)
    assert 202 in exp.statuses and not exp.faults


@FAST
@given(strategies.reimage_requests(inventory=INV, api_version=V21, valid=False))
def test_invalid_requests_carry_a_fault(request: Request) -> None:
    assert Oracle(INV, V21, auth_enforced=True).expect(request).faults


def test_requests_for_exists_for_every_catalogue_id() -> None:
    for rid in catalogue():
        assert checks.requests_for(rid, inventory=INV, api_version=V18) is not None


def test_requests_for_refuses_unknown_ids() -> None:
    with pytest.raises(KeyError):
        checks.requests_for("NOPE", inventory=INV, api_version=V18)


# the requirements the oracle names for a request (effects, bursts and consistency are judged on what the
# target did)
SEMANTIC = [r.id for r in catalogue().values() if r.category in ("semantics", "auth")
            and not checks.CHECKS.get(r.id).observes and not checks.CHECKS.get(r.id).simultaneous
            and r.id != "SEM-CONSISTENT"]


@pytest.mark.parametrize("requirement", SEMANTIC)
def test_requests_for_exercise_that_requirement(requirement: str) -> None:
    oracle = Oracle(INV, V18, auth_enforced=True)

    @settings(max_examples=8, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(checks.requests_for(requirement, inventory=INV, api_version=V18))
    def prop(request: Request) -> None:
        assert sendable(request)
        assert requirement in oracle.expect(request).requirements
    prop()


def test_requests_for_is_deterministic_under_a_seed() -> None:
    strategy = checks.requests_for("NO-SERVER-ERROR", inventory=INV, api_version=V18)
    assert draws(strategy, 20) == draws(strategy, 20)
