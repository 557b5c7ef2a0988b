"""Explicit examples: one request per input class of a requirement, run before the generated ones.

Random generation covers an input class only with some probability; with a small budget (the quick
profile) a class could go untested and a fault that shows only there would pass. A requirement's home
(checks/) lists its classes as Examples: variants of a valid request, or the inventory's nodes in a
refusing state or in a virtualMachineConfiguration pool. They go through the same oracle, checks and
live-safety gate as generated examples. The refusing-state kind also holds one valid node: the node this run
has just put into reimaging is a refusing state too (the engine sends it a second reimage after the 202).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from conformance.inventory import Inventory
from conformance.models import Request
from conformance.rules import ACCEPTING_STATES
from conformance.spec import ApiVersion, version
from conformance.strategies import CONTENT_TYPE, neighbour


@dataclass(frozen=True)
class Situation:
    """What a variant may read: the api-version's rules and the target's inventory."""

    version: ApiVersion
    inventory: Inventory


# A variant turns a valid request into one of the class; None when the class does not exist here.
Variant = Callable[[Request, Situation], Request | None]


@dataclass(frozen=True)
class Examples:
    """A requirement's explicit examples: variants of valid requests, or nodes of a kind."""

    variants: tuple[Variant, ...] = ()
    targets: Literal["valid", "refusing-state", "vm-pool"] = "valid"


NONE = Examples()


def same(request: Request, here: Situation) -> Request:
    """The valid request itself."""
    return request


def body(doc: Any) -> Variant:
    """The request with this body (bytes as they are, anything else as JSON) and the documented Content-Type."""
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return lambda r, here: replace(r, body=raw, headers=(*r.headers, ("Content-Type", CONTENT_TYPE)))


def header(name: str, value: str) -> Variant:
    """The request with one more header."""
    return lambda r, here: replace(r, headers=(*r.headers, (name, value)))


def headers_only(*pairs: tuple[str, str]) -> Variant:
    """The request with exactly these headers."""
    return lambda r, here: replace(r, headers=pairs)


def timeout(value: str) -> Variant:
    """The request with the timeout query parameter, spelled as the api-version spells it."""
    return lambda r, here: replace(r, query=(*r.query, (here.version.timeout_param, value)))


def query(*pairs: tuple[str, str]) -> Variant:
    """The request with exactly this query."""
    return lambda r, here: replace(r, query=pairs)


def changed(**fields: Any) -> Variant:
    """The request with fields replaced (pool_id, node_id, method, body...)."""
    return lambda r, here: replace(r, **fields)


def pool_id_as(fn: Callable[[str], str]) -> Variant:
    """The request with its pool ID passed through fn (e.g. upper-cased)."""
    return lambda r, here: replace(r, pool_id=fn(r.pool_id))


def when(test: Callable[[ApiVersion], bool], variant: Variant) -> Variant:
    """The variant at api-versions where test holds; no example elsewhere."""
    return lambda r, here: variant(r, here) if test(here.version) else None


def near_pool(r: Request, here: Situation) -> Request:
    """The request to a missing pool whose ID looks like the inventory's own (one character changed)."""
    return replace(r, pool_id=neighbour(r.pool_id, 0, lambda name: here.inventory.pool(name) is not None))


def near_node(r: Request, here: Situation) -> Request:
    """The request to a missing node whose ID looks like the inventory's own (one character changed)."""
    taken = {n.id for p in here.inventory.pools for n in p.nodes}
    return replace(r, node_id=neighbour(r.node_id, 0, taken.__contains__))


def _valid_targets(inventory: Inventory, data: ApiVersion) -> list[tuple[str, str]]:
    return [(p.id, n.id) for p in inventory.pools
            if p.configuration == "cloudServiceConfiguration" or data.vm_pool_allowed
            for n in p.nodes if n.state in ACCEPTING_STATES and n.expendable]


def _state_targets(inventory: Inventory) -> list[tuple[str, str]]:
    seen: dict[str, tuple[str, str]] = {}
    for p in inventory.pools:
        for n in p.nodes:
            if n.state not in ACCEPTING_STATES:
                seen.setdefault(n.state, (p.id, n.id))
    return list(seen.values())


def _vm_targets(inventory: Inventory) -> list[tuple[str, str]]:
    return [(p.id, n.id) for p in inventory.pools if p.configuration == "virtualMachineConfiguration"
            for n in p.nodes[:1] if n.state in ACCEPTING_STATES and n.expendable]


def explicit_examples(examples: Examples, *, inventory: Inventory, api_version: str) -> list[Request]:
    """One request per input class (none for requirements judged on every exchange)."""
    data = version(api_version)
    here = Situation(data, inventory)
    query_ = (("api-version", api_version),)
    if examples.targets == "refusing-state":
        # and one valid node, which this run then reimages: the engine sends it a second reimage while it reimages
        reimaged = _valid_targets(inventory, data)[:1]
        return [Request(p, n, query=query_) for p, n in (*_state_targets(inventory), *reimaged)]
    if examples.targets == "vm-pool":
        return [Request(p, n, query=query_) for p, n in _vm_targets(inventory)]
    targets = _valid_targets(inventory, data)
    if not targets:
        return []
    # spread the examples over the valid targets, so no single node takes every accepted reimage
    out: list[Request] = []
    for variant in examples.variants:
        made = variant(Request(*targets[len(out) % len(targets)], query=query_), here)
        if made is not None:
            out.append(made)
    return out
