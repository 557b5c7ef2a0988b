"""Normalise two api-versions' answers to one case and classify a difference against spec.changes()."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from conformance.diff.sdk import SdkObserved, cited, deviation, observe
from conformance.inventory import Inventory
from conformance.models import Expectation, Request, Response
from conformance.rules import OPTION_KEY, OPTIONS, is_guid, parse_http_date, reimage_target
from conformance.spec import ApiVersion, SdkChange, VersionChange, changes, versions
from conformance.targets.sdk_call import SdkCall, SdkResponse

# The headers an accepted reimage may carry: a difference in which are present is a behaviour difference.
REIMAGE_HEADERS = ("request-id", "DataServiceId", "client-request-id", "ETag", "Last-Modified")
Classification = Literal["expected", "unexpected", "inconclusive"]
Change = VersionChange | SdkChange


@dataclass(frozen=True)
class Observed:
    """An answer reduced to what a version change can alter: status, error code, reimage headers present; through
    an SDK, also what the call did (`sent` False: the SDK raised before anything went on the wire)."""

    status: int
    code: str | None
    headers: tuple[str, ...]
    sdk: SdkObserved | None = None
    sent: bool = True

    def describe(self) -> str:
        """'409 OperationNotValidOnNode [request-id]', then what an SDK call did."""
        code = f" {self.code}" if self.code else ""
        wire = "nothing sent"
        if self.sent:
            wire = f"{self.status}{code} [{', '.join(self.headers) or 'no reimage headers'}]"
        return wire + (f", {self.sdk.describe()}" if self.sdk else "")

    def same_wire(self, other: Observed) -> bool:
        """Whether both answers are alike on the wire."""
        return (self.sent, self.status, self.code, self.headers) == (
            other.sent, other.status, other.code, other.headers)

    def to_json(self) -> dict[str, Any]:
        """The JSON form used in diff.json."""
        return {"status": self.status if self.sent else None, "code": self.code, "headers": list(self.headers),
                "sdk": self.sdk.to_json() if self.sdk else None}


def unsent(call: SdkCall) -> Observed:
    """An SDK call that raised before sending anything."""
    return Observed(0, None, (), observe(call), sent=False)


def normalise(response: Response) -> Observed:
    """Drop request-ids, dates and message text: keep status, BatchError code and header presence (and, through
    an SDK, what the call did)."""
    code = None
    if response.status >= 300:
        try:
            doc = response.json()
        except (ValueError, UnicodeDecodeError):
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("code"), str):
            code = doc["code"]
    present = tuple(h for h in REIMAGE_HEADERS if response.header(h) is not None)
    call = response.sdk if isinstance(response, SdkResponse) else None
    return Observed(response.status, code, present, observe(call) if call is not None else None)


def changes_between(v1: str, v2: str) -> list[VersionChange]:
    """The documented changes that arrived after the older and up to the newer of two versions."""
    order = list(versions())
    low, high = sorted((order.index(v1), order.index(v2)))
    return [c for c in changes() if low < order.index(c.to) <= high]


# --- which documented change a request can touch, keyed by the aspect named in spec/versions.json ---
Touch = Callable[[Request, Inventory | None, ApiVersion, ApiVersion], bool]


def _pool_config(request: Request, inventory: Inventory | None, a: ApiVersion, b: ApiVersion) -> bool:
    target = reimage_target(request)
    if target is None:
        return False
    pool = inventory.pool(target[0]) if inventory else None
    return inventory is None or (pool is not None and pool.configuration == "virtualMachineConfiguration")


def _node_state(request: Request, inventory: Inventory | None, a: ApiVersion, b: ApiVersion) -> bool:
    target = reimage_target(request)
    pool = inventory.pool(target[0]) if inventory and target else None
    node = pool.node(target[1]) if pool and target else None
    return node is not None and node.state in set(a.node_states) ^ set(b.node_states)


def _timeout_value(request: Request, a: ApiVersion, b: ApiVersion) -> str | None:
    names = {a.timeout_param.lower(), b.timeout_param.lower()}
    return next((v for k, v in request.query if k.lower() in names), None)


def _timeout_param(request: Request, inventory: Inventory | None, a: ApiVersion, b: ApiVersion) -> bool:
    return _timeout_value(request, a, b) is not None


def _timeout_above_max(request: Request, inventory: Inventory | None, a: ApiVersion, b: ApiVersion) -> bool:
    raw = _timeout_value(request, a, b)
    try:
        return raw is not None and int(raw) > 30
    except ValueError:
        return False


def _option(request: Request, inventory: Inventory | None, a: ApiVersion, b: ApiVersion) -> bool:
    try:
        doc = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return False
    option = doc.get(OPTION_KEY) if isinstance(doc, dict) else None
    return isinstance(option, str) and option not in OPTIONS


def _crid(request: Request, inventory: Inventory | None, a: ApiVersion, b: ApiVersion) -> bool:
    crid = request.header("client-request-id")
    return crid is not None and not is_guid(crid)


def _ocp_date(request: Request, inventory: Inventory | None, a: ApiVersion, b: ApiVersion) -> bool:
    # An IMF-fixdate is valid under both RFC 1123 and RFC 7231; only other shapes can be read differently.
    date = request.header("ocp-date")
    return date is not None and parse_http_date(date) is None


TOUCHES: dict[str, Touch] = {
    "vm_pool_allowed": _pool_config, "node_states": _node_state, "timeout_param": _timeout_param,
    "timeout_above_max": _timeout_above_max, "option_enum_open": _option,
    "client_request_id_format": _crid, "ocp_date_format": _ocp_date,
}


def touches(change: VersionChange, request: Request, inventory: Inventory | None, a: ApiVersion,
            b: ApiVersion) -> bool:
    """Whether the request exercises the aspect the change is about (an aspect with no rule: always)."""
    rule = TOUCHES.get(change.aspect)
    return True if rule is None else rule(request, inventory, a, b)


def _governing(e: Expectation) -> set[tuple[str, str]]:
    return {("fault", f.requirement) for f in e.faults} | {("open", f.requirement) for f in e.open_points}


def shifted_requirements(e1: Expectation, e2: Expectation) -> set[str]:
    """Requirements whose faults or open points differ between the two versions' expectations."""
    return {rid for _, rid in _governing(e1) ^ _governing(e2) if rid}


def _accounts(requirement: str, expectation: Expectation, status: int) -> bool:
    """Whether the requirement's fault or open point in an expectation allows this status."""
    governing = (*expectation.faults, *expectation.open_points)
    return any(f.requirement == requirement and status in {o.status for o in f.outcomes} for f in governing)


def _cite(a: Side, b: Side, between: list[VersionChange], inventory: Inventory | None) -> tuple[VersionChange, ...]:
    """The documented changes behind a difference: those whose requirement governs it differently at the two
    versions, narrowed to those the request touches and whose rule accounts for an answer given."""
    shifted = shifted_requirements(a.expectation, b.expectation)
    relevant = [c for c in between if c.requirement in shifted]
    touching = [c for c in relevant if touches(c, a.request, inventory, a.version, b.version)]
    # An answer is accounted for by a rule of its own version, or (a rule applied at the wrong version) by the
    # other version's rule.
    pairs = [(e, side.observed.status) for e in (a.expectation, b.expectation) for side in (a, b)]
    accounting = [c for c in touching or relevant if any(_accounts(c.requirement, e, s) for e, s in pairs)]
    return tuple(accounting or touching or relevant)


@dataclass(frozen=True)
class Verdict:
    """How one case's answers compare: a classification, the changes it cites and why."""

    classification: Classification
    changes: tuple[Change, ...]
    reason: str


@dataclass(frozen=True)
class Side:
    """One version's side of a case: what was sent, what came back, what its oracle allowed."""

    version: ApiVersion
    request: Request
    observed: Observed
    expectation: Expectation


def _state_blurred(a: Side, b: Side, unsettled: bool) -> bool:
    # A busy node answers 409 whatever the version: 202 against 409, or two different 409 codes, say nothing.
    statuses = {a.observed.status, b.observed.status}
    return 409 in statuses and statuses <= {202, 409} and (
        unsettled or a.expectation.uncertain or b.expectation.uncertain)


def classify(a: Side, b: Side, between: list[VersionChange], inventory: Inventory | None, *,
             unsettled: bool = False, sdk_between: list[SdkChange] | None = None) -> Verdict | None:
    """None when nothing differs and nothing was predicted to; otherwise the classified difference.

    `unsettled`: an earlier 202 of this diff left the node busy or of unknown state. `sdk_between`: the documented
    changes between the two sides' azure-batch releases (SDK targets).
    """
    wire = _wire(a, b, between, inventory, unsettled) if a.observed.sent and b.observed.sent else None
    if a.observed.sdk is None and b.observed.sdk is None:
        return wire
    return _with_sdk(a, b, wire, sdk_between or [])


def _wire(a: Side, b: Side, between: list[VersionChange], inventory: Inventory | None,
          unsettled: bool) -> Verdict | None:
    cited = _cite(a, b, between, inventory)
    ok_a = a.observed.status in a.expectation.statuses
    ok_b = b.observed.status in b.expectation.statuses
    if a.observed.same_wire(b.observed):
        if a.expectation.statuses.isdisjoint(b.expectation.statuses) and a.expectation.statuses:
            wrong = a if not ok_a else b
            return Verdict("unexpected", cited,
                           f"documented change not observed: both answered {a.observed.describe()}, but "
                           f"{wrong.version.id} allows {wrong.expectation.describe()}")
        return None
    if _state_blurred(a, b, unsettled):
        return Verdict("inconclusive", (), "the node was reimaged earlier in this diff and may still be busy: "
                       "its 409 says nothing about the versions")
    if not cited:
        named = ", ".join(f"{c.to} {c.aspect}" for c in between) or "none"
        return Verdict("unexpected", (), f"no documented change between {a.version.id} and {b.version.id} "
                       f"alters the outcome of this request (changes in range: {named})")
    if not (ok_a and ok_b):
        wrong = a if not ok_a else b
        return Verdict("unexpected", cited,
                       f"a documented change applies here, but {wrong.version.id} answered "
                       f"{wrong.observed.describe()} where the spec allows {wrong.expectation.describe()}")
    why = "; ".join(f"{c.to} ({c.requirement}, {c.aspect}): {c.change}" for c in cited)
    return Verdict("expected", cited, f"explained by {why}")


def _sdk_problems(a: Side, b: Side) -> list[str]:
    """Calls that did not do what their release documents, and (when only one side sent) a wire answer the spec
    does not allow."""
    problems = []
    for side in (a, b):
        seen = side.observed
        if seen.sdk is not None:
            why = deviation(seen.sdk, side.request, seen.status if seen.sent else None, seen.code)
            if why:
                problems.append(why)
        if seen.sent and not (a.observed.sent and b.observed.sent) and seen.status not in side.expectation.statuses:
            problems.append(f"{side.version.id} answered {seen.describe()} where the spec allows "
                            f"{side.expectation.describe()}")
    return problems


def _with_sdk(a: Side, b: Side, wire: Verdict | None, between: list[SdkChange]) -> Verdict | None:
    """The wire's verdict joined with what the SDK calls did: every call must do what its release documents for
    its answer, and a difference between the calls must follow from the wire's or a documented SDK change."""
    sa, sb = a.observed.sdk, b.observed.sdk
    wire_changes = wire.changes if wire else ()
    differs = sa is not None and sb is not None and sa.key() != sb.key()
    sdk_cited = cited(sa, sb, (a.request, b.request), between) if sa is not None and sb is not None and differs \
        else ()
    problems = _sdk_problems(a, b)
    if wire is not None and wire.classification == "unexpected":
        problems.insert(0, wire.reason)
    if problems:
        return Verdict("unexpected", (*wire_changes, *sdk_cited), "; ".join(problems))
    if wire is not None and wire.classification == "inconclusive":
        return wire
    if not differs:
        return wire
    assert sa is not None and sb is not None
    follows_wire = a.observed.sent and b.observed.sent and not a.observed.same_wire(b.observed)
    if not sdk_cited and not follows_wire:
        return Verdict("unexpected", wire_changes, f"no documented change between azure-batch {sa.release} and "
                       f"{sb.release} explains {sa.describe()} against {sb.describe()}")
    sdk_why = "; ".join(f"azure-batch {c.to} ({c.aspect}): {c.change}" for c in sdk_cited)
    reason = "; ".join(r for r in (wire.reason if wire else "", f"explained by {sdk_why}" if sdk_why else "") if r)
    return Verdict("expected", (*wire_changes, *sdk_cited), reason or "each call did what its release documents "
                   "for the answer it got")
