"""The budget planner: with --max-reimages N, the requests that could be accepted are planned before any is sent, so
that together they decide every applicable requirement only an accepted reimage decides.

One valid request can carry several factors: `{}` as body, timeout=30 (and above 30 where the version makes that a
MUST), client-request-id with return-client-request-id: true, ocp-date, the pool ID in another letter case, a node
of a virtualMachineConfiguration pool (where the version accepts those). With N = 1 one request carries them all
(two timeouts cannot share a request: the second is left out, and the plan says so); a refusal fails the acceptance
rule, naming every factor, and the rules about one factor stay undecided (semantics.judge). With more budget the factors
are dealt over more requests, each on its own node, until each request carries one, so that a refusal points at one
factor. Whatever budget the plan leaves goes to the generated examples. After each accepted planned request the
node is read at once and, while it reads reimaging, sent a second reimage that must be refused (it spends nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

from conformance import checks
from conformance.checks import effects, response, sdk, semantics
from conformance.config import Settings
from conformance.inventory import Inventory
from conformance.models import Exchange, Request, RequirementFailure
from conformance.reporting.failures import describe_failure
from conformance.rules import ACCEPTING_STATES
from conformance.run.safety import Withheld
from conformance.spec import version
from conformance.strategies import CONTENT_TYPE
from conformance.targets.base import NotExpressible

if TYPE_CHECKING:
    from conformance.run.session import Session

ECHO_ID = "5f1d6a2c-8b3e-4c7d-9a0f-2e4b6c8d0a1e"


@dataclass(frozen=True)
class Factor:
    """One thing a valid request can carry that a requirement is about."""

    text: str
    decides: str  # the requirement about it
    apply: Callable[[Request], Request]
    exclusive: str = ""  # factors of one group cannot share a request (one query parameter, two values)
    vm: bool = False  # needs a node of a virtualMachineConfiguration pool


@dataclass(frozen=True)
class PlannedReimage:
    """One planned request and the factors it carries."""

    request: Request
    factors: tuple[Factor, ...]

    def describe(self) -> str:
        """The factors, as a person reads them."""
        return "; ".join(f.text for f in self.factors) or "nothing beyond the plainest valid request"


@dataclass(frozen=True)
class ReimagePlan:
    """The requests that could be accepted, planned before any is sent."""

    budget: int
    requests: tuple[PlannedReimage, ...] = ()
    left_out: tuple[Factor, ...] = ()  # factors the budget (or the inventory) leaves undecided
    needs: tuple[str, ...] = ()  # the selected requirements only an accepted reimage decides
    why_none: str = ""  # why nothing is planned


def accepted_only(api_version: str, *, sdk_target: bool = False) -> tuple[str, ...]:
    """The requirements only an accepted reimage decides (their homes), at this api-version and target kind."""
    homes = [semantics.accept, semantics.no_body, semantics.pool_id_case, semantics.timeout_valid,
             response.status_is_202, response.request_id_on_202, response.dataserviceid_on_202,
             response.dataserviceid_is_action_url, response.last_modified_is_a_date, response.etag_not_empty,
             response.empty_202_body, effects.state_after, sdk.sdk_accept_returns,
             semantics.node_state]  # its second-reimage case: a node this run has just put into reimaging
    if version(api_version).vm_pool_allowed:
        homes.append(semantics.pool_config)
    return tuple(home.id for home in homes if home is not sdk.sdk_accept_returns or sdk_target)


def factors(settings: Settings, inventory: Inventory, selected: frozenset[str]) -> list[Factor]:
    """The factors worth carrying for the selected requirements, in the order they are dealt."""
    data = version(settings.api_version)
    timeout = data.timeout_param
    date = format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True)

    def add_query(name: str, value: str) -> Callable[[Request], Request]:
        return lambda r: replace(r, query=(*r.query, (name, value)))

    def add_headers(*pairs: tuple[str, str]) -> Callable[[Request], Request]:
        return lambda r: replace(r, headers=(*r.headers, *pairs))
    out = [
        Factor("body {}", semantics.no_body.id,
               lambda r: replace(r, body=b"{}", headers=(*r.headers, ("Content-Type", CONTENT_TYPE)))),
        Factor(f"{timeout}=30", semantics.timeout_valid.id, add_query(timeout, "30"), exclusive=timeout),
        Factor("client-request-id with return-client-request-id: true", response.client_request_id_echoed.id,
               add_headers(("client-request-id", ECHO_ID), ("return-client-request-id", "true"))),
        Factor("ocp-date", semantics.accept.id, add_headers(("ocp-date", date))),
        Factor("the pool ID in another letter case", semantics.pool_id_case.id,
               lambda r: replace(r, pool_id=_other_case(r.pool_id))),
    ]
    if data.timeout_above_max == "must-accept":
        out.append(Factor(f"{timeout}=31", semantics.timeout_valid.id, add_query(timeout, "31"), exclusive=timeout))
    if data.vm_pool_allowed and _nodes(inventory, settings.api_version, vm=True):
        out.append(Factor("a node of a virtualMachineConfiguration pool", semantics.pool_config.id, lambda r: r,
                          vm=True))
    if settings.schemathesis and _layer_ids()[0] in selected:  # an echoed header is an optional declared one
        selected |= {response.client_request_id_echoed.id}
    return [f for f in out if f.decides in selected or semantics.accept.id in selected]


def _other_case(pool_id: str) -> str:
    other = pool_id.upper() if pool_id.upper() != pool_id else pool_id.lower()
    return other if other != pool_id else pool_id.swapcase()


def _nodes(inventory: Inventory, api_version: str, *, vm: bool) -> list[tuple[str, str]]:
    """Expendable nodes in an accepting state, of pools this api-version accepts: VM pools' or the others'."""
    allowed = version(api_version).vm_pool_allowed
    return [(p.id, n.id) for p in inventory.pools
            if (p.configuration == "virtualMachineConfiguration") == vm and (allowed or not vm)
            for n in p.nodes if n.expendable and n.state in ACCEPTING_STATES]


def make_plan(settings: Settings, inventory: Inventory, selected: frozenset[str]) -> ReimagePlan:
    """The plan for a run that may reimage at most --max-reimages nodes (nothing when none is needed or possible)."""
    sdk_target = (settings.target or "").startswith("sdk+")
    layer = _layer_ids() if settings.schemathesis else ()
    needs = tuple(rid for rid in (*accepted_only(settings.api_version, sdk_target=sdk_target), *layer)
                  if rid in selected)
    budget = settings.max_reimages
    plain, vm_nodes = _nodes(inventory, settings.api_version, vm=False), _nodes(inventory, settings.api_version,
                                                                               vm=True)
    if not needs:
        return ReimagePlan(budget, why_none="no selected requirement needs an accepted reimage")
    if not plain and not vm_nodes:
        return ReimagePlan(budget, needs=needs, why_none="the inventory marks no node expendable in an accepting "
                           "state of a pool this api-version accepts")
    todo = factors(settings, inventory, selected)
    if budget < 1:
        return ReimagePlan(budget, needs=needs, left_out=tuple(todo), why_none="--max-reimages 0")
    groups: list[list[Factor]] = [[] for _ in range(max(min(budget, len(todo)), 1))]
    left_out: list[Factor] = []
    for i, factor in enumerate(todo):
        fits = [g for g in groups[i % len(groups):] + groups[:i % len(groups)]
                if not (factor.exclusive and any(f.exclusive == factor.exclusive for f in g))
                and not (factor.vm and not vm_nodes)]
        (fits[0] if fits else left_out).append(factor)
    query = (("api-version", settings.api_version),)
    requests: list[PlannedReimage] = []
    used = {False: 0, True: 0}
    for group in groups:
        vm = any(f.vm for f in group) or not plain
        nodes = vm_nodes if vm else plain
        request = Request(*nodes[used[vm] % len(nodes)], query=query)  # each request on its own node
        used[vm] += 1
        for factor in group:
            request = factor.apply(request)
        requests.append(PlannedReimage(request, tuple(group)))
    return ReimagePlan(budget, tuple(requests), tuple(left_out), needs)


def run_plan(session: Session) -> ReimagePlan:
    """Send the planned requests before anything else, and judge each against every requirement of the run."""
    plan = make_plan(session.settings, session.inventory, frozenset(session.run.requirements))
    safety = session.safety
    if safety.shared_budget is not None:  # a parallel run: one worker sends the plan, its budget taken first
        reserved = safety.shared_budget.claim_plan(len(plan.requests), session.settings.max_reimages)
        if reserved < 0:
            return plan  # another worker of the run sends it
        safety.reserved = reserved
    try:
        _send_plan(session, plan)
    finally:
        if safety.shared_budget is not None:
            safety.shared_budget.release(safety.reserved)
            safety.reserved = 0
    return plan


def _send_plan(session: Session, plan: ReimagePlan) -> None:
    for i, planned in enumerate(plan.requests, 1):
        try:  # routed: with fewer nodes than requests, a node reimaged earlier in the plan is waited for
            exchange = session.exchange(planned.request, observe_node=True)
        except (Withheld, NotExpressible):
            continue  # the properties meet the same refusal and report it as the reason
        found_by = {"found_by": f"the reimage plan, request {i} of {len(plan.requests)} ({planned.describe()})"}
        for rid, result in session.run.requirements.items():
            if rid not in checks.CHECKS:
                continue
            try:
                decided = checks.evaluate(rid, exchange)
            except RequirementFailure as failure:
                result.broke()
                result.fail(describe_failure(exchange, failure, session.settings) | found_by)
                continue
            if decided:
                result.met()
        _judge_by_the_layer(session, exchange, found_by)


def _judge_by_the_layer(session: Session, exchange: Exchange, found_by: dict[str, str]) -> None:
    """The spec-driven layer's own rules on a planned exchange: with a finite budget the layer gets no reimage of
    its own, and its response-header rule is decided only on an accepted one."""
    if not session.settings.schemathesis or not any(rid in session.run.requirements for rid in _layer_ids()):
        return
    from conformance.run import spec_driven  # lazily: it loads Schemathesis

    for finding in spec_driven.own_verdicts(exchange, spec_driven.operation(session.settings.api_version)):
        result = session.run.requirements.get(finding.requirement)
        if result is None:
            continue
        if finding.failure is None:
            result.met()
        else:
            result.broke()
            result.fail(describe_failure(exchange, finding.failure, session.settings) | found_by)


def _layer_ids() -> tuple[str, ...]:
    """The spec-driven layer's own requirements only an accepted reimage decides (named by the layer)."""
    from conformance.run import spec_driven  # lazily: it loads Schemathesis

    return spec_driven.RESPONSE_HEADERS, spec_driven.CONTENT_TYPE


def describe(plan: ReimagePlan, settings: Settings, *, exempt: bool) -> str:
    """The plan as --dry-run prints it."""
    if exempt:
        return ("No budget: the target is the embedded emulator or --disposable. Requests that could be accepted go to "
                "every node the inventory lists in an accepting state, rotating while nodes reimage.")
    lines = [f"Reimage plan (--max-reimages {plan.budget}, api-version {settings.api_version}):"]
    if not settings.allow_destructive:
        lines.append("  without --allow-destructive nothing that could reimage is sent; these requirements stay "
                     f"undecided: {', '.join(plan.needs) or 'none'}")
    if plan.why_none:
        lines.append(f"  nothing planned: {plan.why_none}")
    for i, planned in enumerate(plan.requests, 1):
        r = planned.request
        headers = json.dumps(dict(r.headers)) if r.headers else "{}"
        body = r.body.decode() if r.body is not None else "(no body)"
        lines += [f"  {i}. POST {r.path_and_query}  headers {headers}  body {body}",
                  f"     carries: {planned.describe()}"]
    if plan.requests:
        lines.append(f"  decides: {', '.join(plan.needs)}")
        lines.append("  after each 202 the node is read at once (Get Node); while it reads reimaging it is sent one "
                     f"second reimage, which must be refused with 409 ({semantics.node_state.id}); that request "
                     "spends nothing")
        spare = plan.budget - len(plan.requests)
        lines.append(f"  left for generated examples: {spare} reimage(s)")
    for factor in plan.left_out:
        lines.append(f"  not covered within this budget: {factor.text} ({factor.decides}): raise --max-reimages")
    return "\n".join(lines)
