"""Explicit examples: one request per input class of a requirement, run before the generated ones.

Random generation covers an input class only with some probability; with a small budget (the quick
profile) a class could go untested and a fault that shows only there would pass. These examples make
every class of every focused requirement tested at least once, whatever the profile or seed. They go
through the same oracle, checks and live-safety gate as generated examples.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from conformance.inventory import Inventory
from conformance.models import Request
from conformance.rules import ACCEPTING_STATES, AUTH_BAD_SIGNATURE, AUTH_DIRECTIVE_HEADER, AUTH_OMIT, OPTIONS
from conformance.spec import limits, version
from conformance.strategies import (
    BAD_BOOLEANS,
    BAD_CRIDS,
    BAD_DATES,
    BIG_BODY,
    CONTENT_TYPE,
    MALFORMED,
    NON_OBJECTS,
    NOT_INTEGERS,
    OTHER_METHODS,
    UNKNOWN_PROPS,
    UNKNOWN_VERSIONS,
)

Variant = Callable[[Request], Request]


def _body(doc: Any) -> Variant:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return lambda r: replace(r, body=raw, headers=(*r.headers, ("Content-Type", CONTENT_TYPE)))


def _header(name: str, value: str) -> Variant:
    return lambda r: replace(r, headers=(*r.headers, (name, value)))


def _query(name: str, value: str) -> Variant:
    return lambda r: replace(r, query=(*r.query, (name, value)))


def _variants(requirement_id: str, inventory: Inventory, api_version: str) -> list[Variant]:
    data = version(api_version)
    timeout = data.timeout_param
    long_pool = "p" * (limits()[1] + 1)
    table: dict[str, list[Variant]] = {
        "SEM-ACCEPT": [_body({"nodeReimageOption": o}) for o in OPTIONS],
        "SEM-NO-BODY": [lambda r: r, lambda r: replace(r, body=b""), _body({})],
        "SEM-POOL-NOT-FOUND": [lambda r: replace(r, pool_id="nopool-explicit"),
                               lambda r: replace(r, pool_id="bad.pool"), lambda r: replace(r, pool_id=long_pool)],
        "SEM-NODE-NOT-FOUND": [lambda r: replace(r, node_id="nonode-explicit"),
                               lambda r: replace(r, node_id="bad.node")],
        "SEM-POOL-ID-CASE": [lambda r: replace(r, pool_id=r.pool_id.upper()),
                             lambda r: replace(r, pool_id=r.pool_id.swapcase())],
        "SEM-BAD-OPTION": [_body({"nodeReimageOption": 1}), _body({"nodeReimageOption": ["requeue"]}),
                           _body({"nodeReimageOption": None}),
                           *([] if data.option_enum_open else [_body({"nodeReimageOption": "Requeue"})])],
        "SEM-UNKNOWN-PROPERTY": [_body(UNKNOWN_PROPS[0])],
        "SEM-BAD-BODY": [_body(MALFORMED[0]), _body(MALFORMED[1]), _body(NON_OBJECTS[0]), _body(NON_OBJECTS[1])],
        "SEM-BODY-TOO-LARGE": [_body(BIG_BODY)],
        "SEM-TIMEOUT-VALID": [_query(timeout, "1"), _query(timeout, "30"), _query(timeout, "31")],
        "SEM-TIMEOUT-INVALID": [_query(timeout, NOT_INTEGERS[0]), _query(timeout, str(2**31)),
                                _query(timeout, "0"), _query(timeout, "-1")],
        "SEM-BAD-HEADER": [_header("return-client-request-id", BAD_BOOLEANS[0]),
                           _header("ocp-date", BAD_DATES[0]), _header("ocp-date", BAD_DATES[2]),
                           *([_header("client-request-id", BAD_CRIDS[0])]
                             if data.client_request_id_format == "uuid" else [])],
        "SEM-API-VERSION-MISSING": [lambda r: replace(r, query=())],
        "SEM-API-VERSION-UNKNOWN": [lambda r: replace(r, query=(("api-version", UNKNOWN_VERSIONS[0]),)),
                                    lambda r: replace(r, query=(("api-version", UNKNOWN_VERSIONS[2]),))],
        "SEM-METHOD": [lambda r, m=m: replace(r, method=m) for m in OTHER_METHODS],  # type: ignore[misc]
        "RSP-CRID-ECHO": [lambda r: replace(r, headers=(("client-request-id", "9c4d50ee-2d56-4cd3-8152-34347dc9f2b0"),
                                                        ("return-client-request-id", "true")))],
        "AUTH-MISSING": [_header(AUTH_DIRECTIVE_HEADER, AUTH_OMIT)],
        "AUTH-BAD-SIGNATURE": [_header(AUTH_DIRECTIVE_HEADER, AUTH_BAD_SIGNATURE)],
    }
    return table.get(requirement_id, [])


def _valid_targets(inventory: Inventory, api_version: str) -> list[tuple[str, str]]:
    allowed = version(api_version).vm_pool_allowed
    return [(p.id, n.id) for p in inventory.pools
            if p.configuration == "cloudServiceConfiguration" or allowed
            for n in p.nodes if n.state in ACCEPTING_STATES and n.expendable]


def _state_targets(inventory: Inventory) -> list[tuple[str, str]]:
    seen: dict[str, tuple[str, str]] = {}
    for p in inventory.pools:
        for n in p.nodes:
            if n.state not in ACCEPTING_STATES:
                seen.setdefault(n.state, (p.id, n.id))
    return list(seen.values())


def explicit_examples(requirement_id: str, *, inventory: Inventory, api_version: str) -> list[Request]:
    """One request per input class of the requirement (empty for requirements judged on every exchange)."""
    targets = _valid_targets(inventory, api_version)
    query = (("api-version", api_version),)
    if requirement_id == "SEM-NODE-STATE":
        return [Request(p, n, query=query) for p, n in _state_targets(inventory)]
    if requirement_id == "SEM-POOL-CONFIG":
        return [Request(p.id, n.id, query=query) for p in inventory.pools
                if p.configuration == "virtualMachineConfiguration"
                for n in p.nodes[:1] if n.state in ACCEPTING_STATES and n.expendable]
    variants = _variants(requirement_id, inventory, api_version)
    if not targets or not variants:
        return []
    # spread the examples over the valid targets, so no single node takes every accepted reimage
    return [variant(Request(*targets[i % len(targets)], query=query)) for i, variant in enumerate(variants)]
