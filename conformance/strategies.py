"""Hypothesis strategies for reimage requests: each part valid, faulty or open, and whole requests.

Every strategy draws from fixed lists or small integer/text ranges (no filters), so thousands of examples
are cheap and the same seed gives the same requests. Authorization is not generated here: the target's
signer adds it (see oracle.AUTH_DIRECTIVE_HEADER for the AUTH-* requests).
"""

from __future__ import annotations

import functools
import json
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from conformance.inventory import ALL_STATES, Inventory
from conformance.models import Request
from conformance.rules import (
    ACCEPTING_STATES,
    AUTH_DIRECTIVE_HEADER,
    OPTION_KEY,
    OPTIONS,
    TIMEOUT_MAX,
)
from conformance.spec import limits, version

Pairs = tuple[tuple[str, str], ...]
T = TypeVar("T")
ID_ALPHABET = string.ascii_letters + string.digits + "-_"
BAD_ID_CHARS = (" ", ".", "!", "@", "$", "~", "+", "*", "'", ":", ",", "=", "&", "é", "中")
CONTENT_TYPE = "application/json; odata=minimalmetadata"
OTHER_METHODS = ("GET", "PUT", "PATCH", "DELETE")
# One oversized body, built once: whitespace padding keeps it valid JSON, so size is its only fault.
BIG_BODY = b'{"nodeReimageOption": "requeue"' + b" " * limits()[0] + b"}"


def _valid_text(min_size: int, max_size: int) -> SearchStrategy[str]:
    return st.text(alphabet=ID_ALPHABET, min_size=min_size, max_size=max_size)


def malformed_ids(*, too_long: bool = True) -> SearchStrategy[str]:
    """IDs the service cannot hold: a character outside [A-Za-z0-9_-], or (pool IDs) longer than 64."""
    bad_chars = st.builds(lambda a, c, b: a + c + b, _valid_text(1, 12), st.sampled_from(BAD_ID_CHARS),
                          _valid_text(0, 12))
    if not too_long:  # node IDs are assigned by the service and may exceed 64 characters
        return bad_chars
    longest = limits()[1]
    return st.one_of(bad_chars, _valid_text(longest + 1, longest + 16))


def _unknown(prefix: str, taken: Callable[[str], bool]) -> SearchStrategy[str]:
    def fresh(suffix: str) -> str:
        name = f"{prefix}{suffix}"
        while taken(name):  # practically never: inventories rarely use the prefix
            name += "0"
        return name
    return _valid_text(1, 16).map(fresh)


def neighbour(base: str, n: int, taken: Callable[[str], bool]) -> str:
    """An ID that looks like `base`: one letter or digit changed to another of its kind (same length, same
    separators), the n-th such change that names nothing the inventory holds."""
    positions = [i for i, ch in enumerate(base) if ch.isascii() and ch.isalnum()]
    for attempt in range(len(positions) * 9):
        pos = positions[(n + attempt) % len(positions)]
        ch = base[pos]
        kind = string.digits if ch.isdigit() else string.ascii_lowercase if ch.islower() else string.ascii_uppercase
        step = 1 + (n + attempt // len(positions)) % (len(kind) - 1)
        candidate = base[:pos] + kind[(kind.index(ch) + step) % len(kind)] + base[pos + 1:]
        if not taken(candidate):
            return candidate
    return base + "0" if not taken(base + "0") else base + "00"  # no letter or digit to change: practically never


def near_neighbours(ids: list[str], taken: Callable[[str], bool]) -> SearchStrategy[str]:
    """Missing IDs that look like the inventory's own (its IDs with one character changed): a target that
    treats real-looking IDs differently from made-up ones is caught at every profile."""
    usable = [i for i in ids if any(ch.isascii() and ch.isalnum() for ch in i)]
    if not usable:
        return st.nothing()
    return st.tuples(st.sampled_from(usable), st.integers(0, 2**16)).map(lambda t: neighbour(t[0], t[1], taken))


def _case_variants(ids: list[str]) -> list[str]:
    out = []
    for pid in ids:
        out += sorted({v for v in (pid.upper(), pid.lower(), pid.swapcase()) if v != pid})
    return out


def unknown_pool_ids(*, inventory: Inventory) -> SearchStrategy[str]:
    """Valid-looking pool IDs the inventory does not hold (in any case): made up, or near its own."""
    def taken(name: str) -> bool:
        return inventory.pool(name) is not None
    made_up = _unknown("nopool-", taken)
    near = near_neighbours([p.id for p in inventory.pools], taken)
    return st.one_of(made_up, near) if inventory.pools else made_up


def unknown_node_ids(*, inventory: Inventory) -> SearchStrategy[str]:
    """Valid-looking node IDs no pool of the inventory holds: made up, or near its own."""
    existing = sorted({n.id for p in inventory.pools for n in p.nodes})
    taken = set(existing).__contains__
    made_up = _unknown("nonode-", taken)
    return st.one_of(made_up, near_neighbours(existing, taken)) if existing else made_up


def pool_ids(*, inventory: Inventory) -> SearchStrategy[str]:
    """Existing pool IDs, case variants of them, unknown and malformed IDs."""
    existing = [p.id for p in inventory.pools]
    parts = [unknown_pool_ids(inventory=inventory), malformed_ids()]
    if existing:
        parts.append(st.sampled_from(existing))
    if variants := _case_variants(existing):
        parts.append(st.sampled_from(variants))
    return st.one_of(*parts)


def node_ids(*, inventory: Inventory, pool_id: str | None = None) -> SearchStrategy[str]:
    """Node IDs of the pool (or of any pool), unknown and malformed IDs."""
    pools = [p for p in inventory.pools if pool_id is None or p.id.lower() == pool_id.lower()]
    existing = sorted({n.id for p in pools for n in p.nodes})
    parts = [unknown_node_ids(inventory=inventory), malformed_ids(too_long=False)]
    if existing:
        parts.append(st.sampled_from(existing))
    return st.one_of(*parts)


def node_states(*, api_version: str | None = None) -> SearchStrategy[str]:
    """Node states of the api-version (all known states when none is given)."""
    return st.sampled_from(version(api_version).node_states if api_version else ALL_STATES)


OTHER_OPTION_STRINGS = ("Requeue", "TERMINATE", "taskCompletion", "RetainedData", "reboot", "", "requeue ", "none")
NON_STRING_OPTIONS: tuple[Any, ...] = (0, 1, True, 1.5, [], ["requeue"], {}, {"value": "requeue"})
BAD_OPTIONS = OTHER_OPTION_STRINGS + NON_STRING_OPTIONS


def reimage_options(*, valid: bool | None = None) -> SearchStrategy[Any]:
    """nodeReimageOption values: the four, other case, other strings, non-strings, and null."""
    good = st.sampled_from(OPTIONS)
    bad = st.sampled_from(BAD_OPTIONS)
    if valid is True:
        return good
    if valid is False:
        return bad
    return st.one_of(good, bad, st.none())


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


UNKNOWN_PROPS: tuple[dict[str, Any], ...] = (
    {"foo": "bar"}, {"nodeRebootOption": "requeue"}, {"NodeReimageOption": "requeue"},
    {"nodeReimageOption": "terminate", "extra": 1}, {"odata.type": "x"}, {"nodeReimageOption": "requeue",
                                                                           "comment": None})
MALFORMED = (b"{", b"not json", b'{"nodeReimageOption": }', b"{'nodeReimageOption': 'requeue'}",
             b'{"nodeReimageOption": "requeue",}', b"\xff\xfe\x00", b"nodeReimageOption=requeue")
NON_OBJECTS = (b"[]", b'"requeue"', b"42", b"true", b'[{"nodeReimageOption": "requeue"}]')

BODY_KINDS: dict[str, Callable[[], SearchStrategy[bytes | None]]] = {
    "empty": lambda: st.sampled_from((None, b"", b"{}")),
    "absent": lambda: st.just(None),
    "option": lambda: reimage_options(valid=True).map(lambda o: _json({OPTION_KEY: o})),
    "null-option": lambda: st.just(_json({OPTION_KEY: None})),
    "bad-option": lambda: st.sampled_from(NON_STRING_OPTIONS).map(lambda o: _json({OPTION_KEY: o})),
    # Other strings: refused under a closed enum, an open point under an open one (versions.json).
    "other-option": lambda: st.sampled_from(OTHER_OPTION_STRINGS).map(lambda o: _json({OPTION_KEY: o})),
    "unknown-property": lambda: st.sampled_from(UNKNOWN_PROPS).map(_json),
    "malformed": lambda: st.sampled_from(MALFORMED),
    "non-object": lambda: st.sampled_from(NON_OBJECTS),
    "too-large": lambda: st.just(BIG_BODY),
}
VALID_BODIES, BAD_BODIES = ("empty", "option"), ("bad-option", "malformed", "non-object", "too-large")


def _kinds(table: dict[str, Callable[[], SearchStrategy[T]]], kinds: tuple[str, ...]) -> SearchStrategy[T]:
    return st.one_of(*(table[k]() for k in kinds))


def bodies(*, valid: bool | None = None) -> SearchStrategy[bytes | None]:
    """Request bodies: absent, empty, {}, options, unknown properties, broken, non-object, oversized."""
    kinds = VALID_BODIES if valid else BAD_BODIES if valid is False else tuple(BODY_KINDS)
    return _kinds(BODY_KINDS, kinds)


NOT_INTEGERS = ("abc", "1.5", "1e3", "30s", "0x1E", "thirty", "1,5", "NaN")


def _timeout_kinds(api_version: str) -> dict[str, Callable[[], SearchStrategy[Pairs]]]:
    name = version(api_version).timeout_param

    def q(values: SearchStrategy[Any]) -> SearchStrategy[Pairs]:
        return values.map(lambda v: ((name, str(v)),))
    return {
        "absent": lambda: st.just(()),
        "valid": lambda: q(st.integers(1, TIMEOUT_MAX)),
        "above": lambda: q(st.one_of(st.integers(TIMEOUT_MAX + 1, 3600), st.just(2**31 - 1))),
        "nonpositive": lambda: q(st.one_of(st.just(0), st.integers(-(2**31), -1))),
        "not-integer": lambda: q(st.sampled_from(NOT_INTEGERS)),
        "beyond-int32": lambda: q(st.one_of(st.integers(2**31, 2**63), st.integers(-(2**63), -(2**31) - 1))),
    }


def timeouts(*, api_version: str, valid: bool | None = None) -> SearchStrategy[Pairs]:
    """The timeout query pair (spelled as the version spells it): absent, 1-30, above, 0/negative, bad."""
    accepted = ("absent", "valid") + (("above",) if version(api_version).timeout_above_max == "must-accept" else ())
    table = _timeout_kinds(api_version)
    kinds = accepted if valid else ("not-integer", "beyond-int32") if valid is False else tuple(table)
    return _kinds(table, kinds)


UNKNOWN_VERSIONS = ("latest", "not-a-version", "2023-13-45.18.0", "18.0", "v1", "1.0", "2023-11-01.18.0.0", "")


def api_versions(*, api_version: str, served: frozenset[str] | None = None,
                 valid: bool | None = None) -> SearchStrategy[Pairs]:
    """The api-version query pair: a served version, none at all, or one that cannot be served."""
    ok = st.sampled_from(sorted(served) if served else [api_version]).map(lambda v: (("api-version", v),))
    missing: SearchStrategy[Pairs] = st.just(())
    unknown = st.sampled_from(UNKNOWN_VERSIONS).map(lambda v: (("api-version", v),))
    if valid is True:
        return ok
    return st.one_of(missing, unknown) if valid is False else st.one_of(ok, missing, unknown)


def _version_kinds(api_version: str, kind: str) -> SearchStrategy[Pairs]:
    missing: SearchStrategy[Pairs] = st.just(())
    unknown = st.sampled_from(UNKNOWN_VERSIONS).map(lambda v: (("api-version", v),))
    table = {"ok": st.just((("api-version", api_version),)), "missing": missing, "unknown": unknown,
             "bad": st.one_of(missing, unknown)}
    return table[kind]


def _http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


# Drawn as whole seconds and 128-bit integers: st.datetimes() and st.uuids() cost ~0.7 ms a draw each, the
# largest share of generation time, for no extra variety in what a header can hold.
DATES = st.integers(int(datetime(2020, 1, 1, tzinfo=UTC).timestamp()),
                    int(datetime(2035, 12, 31, tzinfo=UTC).timestamp())).map(lambda t: datetime.fromtimestamp(t, UTC))
GUIDS = st.integers(0, 2**128 - 1).map(lambda n: str(uuid.UUID(int=n, version=4)))
BAD_CRIDS = ("not-a-guid", "1234", "g" * 36, "00000000-0000-0000-0000-00000000000", "xyz-" * 9)
BAD_BOOLEANS = ("yes", "maybe", "on", "tru", "2")
BAD_DATES = ("yesterday", "not a date", "Thu, 32 Sep 2023 03:52:35 GMT", "Tue, 03 Feb 2026 25:61:00 GMT", "0")


def _optional(name: str, values: SearchStrategy[str]) -> SearchStrategy[Pairs]:
    return st.one_of(st.just(()), values.map(lambda v: ((name, v),)))


def headers(*, api_version: str, valid: bool | None = None) -> SearchStrategy[Pairs]:
    """client-request-id, return-client-request-id and ocp-date: well-formed, or one of them malformed."""
    guids = GUIDS
    good = st.tuples(
        _optional("client-request-id", st.one_of(guids, guids.map(str.upper))),
        _optional("return-client-request-id", st.sampled_from(("true", "false"))),
        st.one_of(st.just(()), st.just(()), _optional("ocp-date", DATES.map(_http_date))),
    ).map(lambda parts: tuple(p for part in parts for p in part))
    bad_parts = [st.sampled_from(BAD_BOOLEANS).map(lambda v: (("return-client-request-id", v),)),
                 st.sampled_from(BAD_DATES).map(lambda v: (("ocp-date", v),))]
    if version(api_version).client_request_id_format == "uuid":
        bad_parts.append(st.sampled_from(BAD_CRIDS).map(lambda v: (("client-request-id", v),)))
    bad = st.tuples(good, st.one_of(*bad_parts)).map(
        lambda gb: tuple(h for h in gb[0] if h[0] != gb[1][0][0]) + gb[1])
    if valid is True:
        return good
    return bad if valid is False else st.one_of(good, bad)


def echo_headers() -> SearchStrategy[Pairs]:
    """A GUID client-request-id with return-client-request-id: true."""
    return GUIDS.map(lambda u: (("client-request-id", u), ("return-client-request-id", "true")))


@dataclass(frozen=True)
class Plan:
    """Which kind of each part a request is drawn from."""

    target: tuple[str, ...] = ("accept",)
    body: tuple[str, ...] = VALID_BODIES
    timeout: tuple[str, ...] = ("absent", "valid")
    version: str = "ok"
    headers: str = "ok"
    method: str = "POST"
    auth: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


CLEAN_KINDS = {"target": {"accept", "case", "vm", "running"}, "body": {"empty", "absent", "option"},
               "timeout": {"absent", "valid", "above"}, "version": {"ok"}, "headers": {"ok", "echo", "none"}}
FAULTY_PART: dict[str, Any] = {"target": ("pool-unknown", "node-unknown", "state"), "body": BAD_BODIES,
               "timeout": ("not-integer", "beyond-int32"), "version": "bad", "headers": "bad"}


def _targets(inventory: Inventory, api_version: str, kinds: tuple[str, ...]) -> SearchStrategy[tuple[str, str]]:
    return _kinds(_target_table(inventory, api_version), kinds)


@functools.lru_cache(maxsize=8)
def _target_table(inventory: Inventory, api_version: str) -> dict[str, Callable[[], SearchStrategy[tuple[str, str]]]]:
    """Per kind of target, its strategy (built on first use), once per inventory and api-version: every
    requirement's plans draw from the same lists, which cost time in the number of nodes (a run must stay
    linear in it; the inventory's hash is cached, so the lookup is not)."""
    data = version(api_version)
    pools = inventory.pools
    allowed = [p for p in pools if p.configuration == "cloudServiceConfiguration" or data.vm_pool_allowed]
    vm = [p for p in pools if p.configuration == "virtualMachineConfiguration"]

    def safe(ps: list[Any], states: tuple[str, ...] = ACCEPTING_STATES) -> list[tuple[str, str]]:
        return [(p.id, n.id) for p in ps for n in p.nodes if n.state in states and n.expendable]
    any_pool = [p.id for p in pools] or ["nopool-x"]
    known_nodes = {n.id for p in pools for n in p.nodes}
    any_node = sorted(known_nodes) or ["nonode-x"]
    fallback = st.tuples(st.sampled_from(any_pool), _unknown("nonode-", known_nodes.__contains__))
    lists: dict[str, list[tuple[str, str]]] = {
        "accept": safe(allowed), "vm": safe(vm), "running": safe(allowed, ("running",)),
        "case": [(v, n) for p, n in safe(allowed) for v in _case_variants([p])],
        "state": [(p.id, n.id) for p in pools for n in p.nodes if n.state not in ACCEPTING_STATES],
    }

    def pick(v: list[tuple[str, str]]) -> Callable[[], SearchStrategy[tuple[str, str]]]:
        # one branch per pool, so every pool (and configuration) is drawn early, not only the first listed
        per_pool: dict[str, list[tuple[str, str]]] = {}
        for pair in v:
            per_pool.setdefault(pair[0].lower(), []).append(pair)
        return _once(lambda: st.one_of(*(st.sampled_from(p) for p in per_pool.values())) if v else fallback)
    table = {k: pick(v) for k, v in lists.items()}
    table["pool-unknown"] = _once(lambda: st.tuples(unknown_pool_ids(inventory=inventory), st.sampled_from(any_node)))
    table["pool-malformed"] = _once(lambda: st.tuples(malformed_ids(), st.sampled_from(any_node)))
    table["node-unknown"] = _once(lambda: st.tuples(st.sampled_from(any_pool), unknown_node_ids(inventory=inventory)))
    table["node-malformed"] = _once(lambda: st.tuples(st.sampled_from(any_pool), malformed_ids(too_long=False)))
    return table


def _once(make: Callable[[], SearchStrategy[T]]) -> Callable[[], SearchStrategy[T]]:
    """The strategy make() builds, built on the first call only."""
    return functools.cache(make)


def _requests(plan: Plan, inventory: Inventory, api_version: str) -> SearchStrategy[Request]:
    # Every part's strategy is built once here, not on each draw: building strategies inside a draw
    # made Hypothesis re-validate them every time (about 20 ms an example).
    targets = _targets(inventory, api_version, plan.target)
    body_s = _kinds(BODY_KINDS, plan.body)
    version_s = _version_kinds(api_version, plan.version)
    timeout_s = _kinds(_timeout_kinds(api_version), plan.timeout)
    headers_s = echo_headers() if plan.headers == "echo" else st.just(()) if plan.headers == "none" else \
        headers(api_version=api_version, valid=plan.headers == "ok")
    methods_s = other_methods()

    @st.composite
    def build(draw: st.DrawFn) -> Request:
        pool_id, node_id = draw(targets)
        body = draw(body_s)
        query = draw(version_s) + draw(timeout_s)
        hdrs = draw(headers_s)
        # Bodies travel with the documented Content-Type; an empty body may or may not carry it (SDKs differ);
        # "absent" is no body and no Content-Type at all.
        if body or (plan.body != ("absent",) and draw(st.booleans())):
            hdrs += (("Content-Type", CONTENT_TYPE),)
        if plan.auth:
            hdrs += ((AUTH_DIRECTIVE_HEADER, plan.auth),)
        method = draw(methods_s) if plan.method == "other" else plan.method
        if method != "POST":
            body = None
        return Request(pool_id, node_id, method=method, query=query, headers=hdrs, body=body)

    return build()


def other_methods() -> SearchStrategy[str]:
    """HTTP methods the reimage path does not define."""
    return st.sampled_from(OTHER_METHODS)


def _with_extra_fault(plan: Plan) -> list[Plan]:
    """Variants of a plan carrying one more fault, in each part the plan leaves clean."""
    out = []
    for part, kinds in FAULTY_PART.items():
        current = getattr(plan, part)
        if not set((current,) if isinstance(current, str) else current) <= CLEAN_KINDS[part]:
            continue
        if part == "body":
            kinds = plan.extra.get("bad_bodies", BAD_BODIES)
        out.append(replace(plan, **{part: kinds}))
    return out


def reimage_requests(*, inventory: Inventory, api_version: str,
                     valid: bool | None = None) -> SearchStrategy[Request]:
    """Whole reimage requests: valid (True), with at least one fault (False), or anything (None)."""
    clean = Plan(target=("accept", "case"), timeout=("absent", "valid", "above")
                  if version(api_version).timeout_above_max == "must-accept" else ("absent", "valid"))
    if not version(api_version).option_enum_open:
        clean = replace(clean, extra={"bad_bodies": (*BAD_BODIES, "other-option")})
    faulty = _with_extra_fault(clean)
    # Combined faults: the oracle's union must hold for them too.
    faulty += [replace(faulty[0], headers="bad", version="bad"), replace(faulty[1], body=BAD_BODIES)]

    def build(plan: Plan) -> SearchStrategy[Request]:
        return _requests(plan, inventory, api_version)
    if valid is True:
        return build(clean)
    bad = st.one_of(*(build(p) for p in faulty))
    if valid is False:
        return bad
    mixed = Plan(target=(*FAULTY_PART["target"], "accept", "case"), body=tuple(BODY_KINDS),
                  timeout=("absent", "valid", "above", "nonpositive"))
    return st.one_of(build(clean), bad, build(mixed))


@dataclass(frozen=True)
class Focus:
    """Which generated requests exercise a requirement: a requirement's home names one (checks/)."""

    kind: Literal["valid", "faulty", "any", "plan"] = "any"
    plan: Plan | None = None
    extra_fault: bool = True  # plan: also the plan with one more fault in a part it leaves clean

    def requests(self, *, inventory: Inventory, api_version: str) -> SearchStrategy[Request]:
        """The strategy of requests this focus names, for an inventory and an api-version."""
        def build(plan: Plan) -> SearchStrategy[Request]:
            return _requests(plan, inventory, api_version)
        if self.kind == "valid":
            return reimage_requests(inventory=inventory, api_version=api_version, valid=True)
        methods = build(Plan(method="other", body=("empty",)))
        if self.kind == "faulty":
            return st.one_of(reimage_requests(inventory=inventory, api_version=api_version, valid=False), methods)
        if self.kind == "any" or self.plan is None:
            return st.one_of(reimage_requests(inventory=inventory, api_version=api_version), methods)
        if not self.extra_fault:
            return build(self.plan)
        return st.one_of(build(self.plan), st.one_of(*(build(p) for p in _with_extra_fault(self.plan))))


def focused(*, extra_fault: bool = True, **parts: Any) -> Focus:
    """A Focus on a plan (keyword parts of Plan: target, body, timeout, version, headers, method, auth)."""
    return Focus("plan", Plan(**parts), extra_fault)


VALID_REQUESTS = Focus("valid")
FAULTY_REQUESTS = Focus("faulty")
ANY_REQUESTS = Focus("any")
