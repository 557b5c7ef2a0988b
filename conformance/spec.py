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


@dataclass(frozen=True)
class SdkRelease:
    """What one azure-batch release documents for a reimage call (see spec/sdks.json)."""

    version: str
    api_version: str
    call: str
    returns: str  # the type name of what the call returns after a 202
    poller: bool  # whether that is a poller following the node
    error_type: str  # every error raises this type (or a subclass)
    errors: dict[str, str]  # status -> the subclass raised for it
    unsendable: dict[str, str]  # input class -> the exception raised before anything is sent
    in_process: bool  # the package's own dependency, driven in this process
    source: str

    @property
    def label(self) -> str:
        """'azure-batch 15.1.0'."""
        return f"azure-batch {self.version}"

    def raises_for(self, status: int) -> str:
        """The exception type the release documents for an error status."""
        return self.errors.get(str(status), self.error_type)


@dataclass(frozen=True)
class SdkChange:
    """A documented change of a caller's experience introduced by azure-batch release `to`."""

    to: str
    aspect: str
    change: str
    source: str


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


@cache
def _sdks_doc() -> dict[str, Any]:
    return json.loads((spec_dir() / "sdks.json").read_text())  # type: ignore[no-any-return]


@cache
def sdks() -> dict[str, SdkRelease]:
    """The azure-batch releases the SDK targets drive, oldest first."""
    return {raw["version"]: SdkRelease(**raw) for raw in _sdks_doc()["sdks"]}


def default_sdk() -> str:
    """The release `sdk+URL` drives."""
    return str(_sdks_doc()["default"])


def sdk(release: str) -> SdkRelease:
    """One release's data; a clear ValueError for a release the suite does not drive."""
    known = sdks()
    if release not in known:
        raise ValueError(f"azure-batch {release} is not a release the suite drives; supported: {', '.join(known)}")
    return known[release]


def sdk_changes() -> list[SdkChange]:
    """Documented changes of what a reimage call does for its caller, between consecutive releases."""
    return [SdkChange(**c) for c in _sdks_doc()["changes"]]


def limits() -> tuple[int, int]:
    """(maximum body bytes, maximum ID length)."""
    doc = _versions_doc()
    return int(doc["max_body_bytes"]), int(doc["max_id_length"])


def swagger_path(version_id: str) -> Path:
    """Path of our Swagger 2.0 document for an api-version."""
    return spec_dir() / f"reimage-{version(version_id).id}.json"
