"""The certification record: exactly which suite, spec documents, settings and target produced a run's results
(as the OCI distribution-spec conformance results that vendors publish say what was tested, and with what)."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.config import Settings
from conformance.redaction import redact_url
from conformance.reporting.results import RunResult
from conformance.spec import spec_dir, swagger_path

# the packages whose versions decide what a run generates, sends and judges
PACKAGES = ("hypothesis", "schemathesis", "azure-batch")


@dataclass(frozen=True)
class SpecDocument:
    """A spec/ document the run read, and the sha256 of its bytes."""

    name: str  # as the repository names it: spec/requirements.json
    sha256: str


@dataclass(frozen=True)
class TargetIdentity:
    """What the run was pointed at: its kind, its base URL (redacted), what it called itself, the fault if any."""

    kind: str  # embedded emulator | http | sdk
    url: str | None
    servers: tuple[str, ...]  # the distinct Server headers it sent (none: it sent none)
    emulator_fault: str | None


@dataclass(frozen=True)
class Record:
    """The certification record of one run (results.json 'record', and the top of report.html)."""

    suite: str
    suite_version: str
    api_version: str
    profile: str
    seed: int | None
    target: TargetIdentity
    spec_documents: tuple[SpecDocument, ...]
    versions: tuple[tuple[str, str], ...]  # (package, version): python, hypothesis, schemathesis, azure-batch
    started: str
    finished: str

    def to_json(self) -> dict[str, Any]:
        """The results.json 'record' object."""
        return {"suite": self.suite, "suite_version": self.suite_version, "api_version": self.api_version,
                "profile": self.profile, "seed": self.seed,
                "target": {"kind": self.target.kind, "url": self.target.url, "server": list(self.target.servers),
                           "emulator_fault": self.target.emulator_fault},
                "spec_documents": [{"name": d.name, "sha256": d.sha256} for d in self.spec_documents],
                "versions": dict(self.versions), "started": self.started, "finished": self.finished}


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def spec_documents(api_version: str, *, swagger: bool) -> tuple[SpecDocument, ...]:
    """The spec/ documents a run reads (the catalogue and per-version data always; our Swagger document of the
    api-version when the spec-driven layer ran), from where the run read them."""
    paths = [spec_dir() / "requirements.json", spec_dir() / "versions.json"]
    if swagger:
        paths.append(swagger_path(api_version))
    return tuple(SpecDocument(f"spec/{p.name}", sha256_of(p)) for p in paths)


def package_versions() -> tuple[tuple[str, str], ...]:
    """Python's version and each package's installed version ('not installed' when absent)."""
    out = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)


def target_identity(settings: Settings, servers: list[str]) -> TargetIdentity:
    """The run's target as the record names it; the URL redacted at the one redaction point."""
    if settings.target is None:
        return TargetIdentity("embedded emulator", None, tuple(servers), settings.emulator_fault)
    kind = "sdk" if settings.target.startswith("sdk+") else "http"
    return TargetIdentity(kind, redact_url(settings.target.removeprefix("sdk+")), tuple(servers), None)


def certification_record(run: RunResult, settings: Settings, *, finished: datetime, swagger: bool) -> Record:
    """The record of a finished run (its start is its end less its duration)."""
    started = finished - timedelta(seconds=run.duration)
    return Record("batch-conformance", __version__, run.api_version, run.profile, run.seed,
                  target_identity(settings, run.servers), spec_documents(run.api_version, swagger=swagger),
                  package_versions(), started.isoformat(timespec="seconds"), finished.isoformat(timespec="seconds"))
