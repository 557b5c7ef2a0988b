"""Load the spec/ documents: requirement catalogue, per-version behaviour, Swagger documents."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

Level = Literal["MUST", "SHOULD"]


def spec_dir() -> Path:
    """The spec/ folder: the checkout's own, or the copy packaged inside conformance/ on install."""
    checkout = Path(__file__).resolve().parent.parent / "spec"
    if (checkout / "requirements.json").is_file():
        return checkout
    return Path(__file__).resolve().parent / "_spec"


@dataclass(frozen=True)
class Requirement:
    """One catalogue entry: the ID our verdicts are keyed on, its level and where it comes from."""

    id: str
    level: Level
    category: str
    title: str
    source: str


@dataclass(frozen=True)
class ApiVersion:
    """What one api-version says about reimage, as data (see spec/versions.json)."""

    id: str
    node_states: tuple[str, ...]
    vm_pool_allowed: bool
    timeout_param: str
    timeout_default: int | None
    timeout_above_max: Literal["should-accept", "must-accept"]
    option_enum_open: bool
    client_request_id_format: Literal["uuid", "string"]
    ocp_date_format: Literal["rfc1123", "rfc7231"]
    sdk: str | None


@dataclass(frozen=True)
class VersionChange:
    """A documented behaviour change introduced by api-version `to`."""

    to: str
    aspect: str
    requirement: str
    change: str


@cache
def _versions_doc() -> dict[str, Any]:
    return json.loads((spec_dir() / "versions.json").read_text())  # type: ignore[no-any-return]


@cache
def catalogue() -> dict[str, Requirement]:
    """The requirement catalogue, keyed by ID, in catalogue order."""
    doc = json.loads((spec_dir() / "requirements.json").read_text())
    return {r["id"]: Requirement(**r) for r in doc["requirements"]}


@cache
def versions() -> dict[str, ApiVersion]:
    """Every api-version the suite knows, oldest first."""
    out = {}
    for raw in _versions_doc()["versions"]:
        raw = dict(raw, node_states=tuple(raw["node_states"]))
        out[raw["id"]] = ApiVersion(**raw)
    return out


def default_version() -> str:
    """The api-version the operation is certified at by default."""
    return str(_versions_doc()["default"])


def version(version_id: str) -> ApiVersion:
    """One api-version's data; a clear ValueError for a version the suite does not know."""
    known = versions()
    if version_id not in known:
        raise ValueError(f"unknown api-version {version_id!r}; known: {', '.join(known)}")
    return known[version_id]


def changes() -> list[VersionChange]:
    """Documented behaviour changes between consecutive api-versions."""
    return [VersionChange(**c) for c in _versions_doc()["changes"]]


def limits() -> tuple[int, int]:
    """(maximum body bytes, maximum ID length)."""
    doc = _versions_doc()
    return int(doc["max_body_bytes"]), int(doc["max_id_length"])


def swagger_path(version_id: str) -> Path:
    """Path of our Swagger 2.0 document for an api-version."""
    return spec_dir() / f"reimage-{version(version_id).id}.json"
