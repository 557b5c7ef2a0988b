"""The budget planner and --disposable: with N reimages, one combined request (N = 1) or the factors split over N
requests on distinct nodes; --dry-run prints the plan; --disposable only for a URL that is not the Batch service."""

from __future__ import annotations

import pytest

from conformance.config import Settings, load_settings
from conformance.inventory import Inventory, Node, Pool, default_inventory
from conformance.models import UsageError
from conformance.run.plan import describe, make_plan
from conformance.spec import catalogue

V18, V19, V20 = "2023-11-01.18.0", "2024-02-01.19.0", "2024-07-01.20.0"
EVERYTHING = frozenset(catalogue())


def _settings(n: int, version: str = V18, **kw: object) -> Settings:
    return Settings(target="http://127.0.0.1:1", api_version=version, allow_destructive=True, max_reimages=n,
                    **kw)  # type: ignore[arg-type]


def test_plan_one_reimage_one_request_carries_every_factor() -> None:
    plan = make_plan(_settings(1), default_inventory(), EVERYTHING)
    (only,) = plan.requests
    request = only.request
    assert request.body == b"{}" and ("timeout", "30") in request.query and request.pool_id == "POOL-CS"
    assert {"ocp-date", "client-request-id", "return-client-request-id"} <= {k for k, _ in request.headers}
    assert plan.left_out == ()


def test_plan_two_reimages_two_requests_on_different_nodes() -> None:
    plan = make_plan(_settings(2), default_inventory(), EVERYTHING)
    nodes = [p.request.node_id for p in plan.requests]
    assert len(nodes) == 2 and len(set(nodes)) == 2
    assert sorted(f.text for p in plan.requests for f in p.factors) == sorted(
        f.text for f in make_plan(_settings(1), default_inventory(), EVERYTHING).requests[0].factors)


def test_plan_budget_beyond_factors_one_factor_per_request() -> None:
    plan = make_plan(_settings(50), default_inventory(), EVERYTHING)
    assert all(len(p.factors) == 1 for p in plan.requests) and len(plan.requests) == 5
    assert len({p.request.node_id for p in plan.requests}) == 5


def test_plan_timeout_above_30_must_version_two_timeouts_never_share_a_request() -> None:
    one = make_plan(_settings(1, V19), default_inventory(), EVERYTHING)
    assert [f.text for f in one.left_out] == ["timeout=31"]
    two = make_plan(_settings(2, V19), default_inventory(), EVERYTHING)
    timeouts = [[v for k, v in p.request.query if k == "timeout"] for p in two.requests]
    assert sorted(timeouts) == [["30"], ["31"]] and two.left_out == ()


def test_plan_vm_pools_accepted_vm_factor_on_a_vm_node() -> None:
    plan = make_plan(_settings(50, V20), default_inventory(), EVERYTHING)
    vm = [p for p in plan.requests if any(f.vm for f in p.factors)]
    assert len(vm) == 1 and vm[0].request.pool_id == "pool-vm"


def test_plan_only_requirements_not_needing_a_202_nothing_planned() -> None:
    plan = make_plan(_settings(5), default_inventory(), frozenset({"SEM-BAD-BODY", "ERR-BODY-SCHEMA"}))
    assert plan.requests == () and "needs an accepted reimage" in plan.why_none


def test_plan_only_a_202_rule_one_plain_request() -> None:
    plan = make_plan(_settings(5), default_inventory(), frozenset({"RSP-202-REQUEST-ID"}))
    (only,) = plan.requests
    assert only.factors == () and only.request.body is None and only.request.headers == ()


def test_plan_no_expendable_node_nothing_planned_says_why() -> None:
    inventory = Inventory((Pool("p", "cloudServiceConfiguration", (Node("n", "idle"),)),))
    plan = make_plan(_settings(5), inventory, EVERYTHING)
    assert plan.requests == () and "expendable" in plan.why_none


def test_plan_described_without_allow_destructive_names_what_stays_undecided() -> None:
    settings = Settings(target="http://127.0.0.1:1", api_version=V18, max_reimages=1)
    text = describe(make_plan(settings, default_inventory(), EVERYTHING), settings, exempt=False)
    assert "without --allow-destructive" in text and "SEM-ACCEPT" in text


def test_plan_described_lists_each_request_and_the_second_reimage() -> None:
    settings = _settings(2)
    text = describe(make_plan(settings, default_inventory(), EVERYTHING), settings, exempt=False)
    assert "1. POST /pools/" in text and "2. POST /pools/" in text and "second reimage" in text


@pytest.mark.parametrize("host", ["https://acct.westeurope.batch.azure.com", "sdk+https://a.b.batch.azure.com/",
                                  "https://BATCH.AZURE.COM", "https://a.chinanorth.batch.chinacloudapi.cn"])
def test_disposable_batch_service_host_refused_one_line(host: str) -> None:
    with pytest.raises(UsageError, match="--disposable is refused for") as info:
        load_settings({"target": host, "disposable": True}, environ={})
    assert "\n" not in str(info.value)


def test_disposable_without_target_refused() -> None:
    with pytest.raises(UsageError, match="--target URL"):
        load_settings({"disposable": True}, environ={})


def test_disposable_own_emulator_url_accepted() -> None:
    settings = load_settings({"target": "http://127.0.0.1:8765", "disposable": True}, environ={})
    assert settings.disposable and not settings.embedded


def test_disposable_host_merely_containing_batch_azure_com_accepted() -> None:
    assert load_settings({"target": "http://batch.azure.com.example.org", "disposable": True}, environ={}).disposable
