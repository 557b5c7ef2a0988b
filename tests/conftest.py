"""What several test modules share: the vendored live-service samples and running the suite to its results.json.

Test modules import these names (`from conftest import ...`): pytest puts this directory on sys.path when it
loads this file, so the import returns this very module. Everything here is found relative to this file, so the
tests run from any clone location and need nothing outside the repository.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
# Recorded live-service exchanges, copied verbatim; where each came from is in PROVENANCE.md beside them.
SAMPLES_DIR = TESTS_DIR / "data" / "real-samples"
SAMPLE_FILES = sorted(SAMPLES_DIR.glob("*.json"))
# Azure SDK test-proxy recordings of the live service, copied verbatim as their repositories store them;
# where each came from is in PROVENANCE.md beside them.
RECORDINGS_DIR = TESTS_DIR / "data" / "test-proxy-recordings"
RECORDING_FILES = sorted(RECORDINGS_DIR.glob("*.json"))


def sample_path(name: str) -> Path:
    """The vendored sample file called name; FileNotFoundError naming it when there is none."""
    path = SAMPLES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no vendored sample {name!r} in {SAMPLES_DIR}")
    return path


def real_exchanges(path: Path) -> list[dict[str, Any]]:
    """Every exchange a sample file holds (a file holds one exchange or an array of them), freshly parsed."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [dict(entry) for entry in doc] if isinstance(doc, list) else [dict(doc)]


def real_sample(name: str) -> dict[str, Any]:
    """The one exchange of a single-exchange sample file, freshly parsed (safe to corrupt)."""
    exchanges = real_exchanges(sample_path(name))
    if len(exchanges) != 1:
        raise ValueError(f"sample {name!r} holds {len(exchanges)} exchanges; name a single-exchange file")
    return exchanges[0]


def read_results(report_dir: Path) -> dict[str, Any]:
    """results.json as a run or a traffic validation wrote it into report_dir."""
    return dict(json.loads((report_dir / "results.json").read_text(encoding="utf-8")))


@dataclass(frozen=True)
class SuiteRun:
    """What one `batch-conformance run` returned and wrote."""

    code: int
    results: dict[str, Any]

    @property
    def requirements(self) -> dict[str, dict[str, Any]]:
        """results.json's per-requirement results, by requirement ID."""
        return dict(self.results["requirements"])


def run_suite(report_dir: Path, *args: str, profile: str | None = "quick", schemathesis: bool = False) -> SuiteRun:
    """`batch-conformance run -q` in this process with its reports in report_dir, and the results.json it wrote.

    profile=None sends no --profile (the run's own default, or the one args name); schemathesis=False adds
    --no-schemathesis, True leaves the spec-driven layer as the run's default has it.
    """
    argv = ["run", "-q", "--report-dir", str(report_dir)]
    if profile is not None:
        argv += ["--profile", profile]
    if not schemathesis:
        argv.append("--no-schemathesis")
    code = main([*argv, *args])
    return SuiteRun(code, read_results(report_dir))


@pytest.fixture(scope="session")
def sdk15(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The azure-batch 15.1.0 environment, created once per test session (from the package index) under a temporary
    cache, or reused from BATCH_CONFORMANCE_SDK_CACHE when the developer's environment names one. Yields the
    interpreter; the cache variable stays set for the session so that every command finds it."""
    from conformance.spec import sdk
    from conformance.targets.sdk_env import CACHE_ENV, ensure

    with pytest.MonkeyPatch.context() as patch:
        if not os.environ.get(CACHE_ENV):
            patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("sdk-cache")))
        yield ensure(sdk("15.1.0"))
