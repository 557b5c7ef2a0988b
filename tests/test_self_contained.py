"""The project needs nothing outside the repository: no code names such a path, vendored data names its source."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import RECORDING_FILES, RECORDINGS_DIR, REPO_ROOT, SAMPLE_FILES, SAMPLES_DIR, real_exchanges

CODE_DIRS = ("conformance", "tests", "benchmarks", "tools")  # every *.py below them
CODE_FILES = (".ci/run", "pyproject.toml", "tox.ini")
PROVENANCE = SAMPLES_DIR / "PROVENANCE.md"

# Each pattern is written so that this file's own text does not match it. System paths (/dev/null,
# /usr/bin/chromium, /tmp) and URLs are fine: only a home, user or workspace folder, the folder beside a
# checkout, or a Windows drive ties the project to one machine.
OUTSIDE = (
    ("a home, user or workspace folder", re.compile(r"(?<![\w.-])/(?:work|home|root|Users)(?=/|[\"'\s]|$)")),
    ("a folder beside the repository", re.compile(r"\.\./shared")),
    ("a Windows drive path", re.compile(r"(?:^|[\s\"'=(,\[])[A-Za-z]:[\\/]+\w")),
)


def outside_paths(text: str) -> list[tuple[int, str, str]]:
    """(line number, kind, line) for each line of text that names a path outside the repository."""
    return [(number, kind, line.strip()) for number, line in enumerate(text.splitlines(), 1)
            for kind, pattern in OUTSIDE if pattern.search(line)]


def scanned_files() -> list[Path]:
    """The repository's code, tests, benchmarks, tools and CI and build configuration."""
    return [*(p for d in CODE_DIRS for p in sorted((REPO_ROOT / d).rglob("*.py"))),
            *(REPO_ROOT / name for name in CODE_FILES)]


def test_self_contained_scan_covers_code_tests_benchmarks_tools_and_ci() -> None:
    files = scanned_files()
    assert all(path.is_file() for path in files)
    assert {path.relative_to(REPO_ROOT).parts[0] for path in files} >= {*CODE_DIRS, ".ci"}
    assert Path(__file__).resolve() in files and (REPO_ROOT / "tests" / "conftest.py") in files


def test_repository_code_names_no_path_outside_the_repository() -> None:
    found = [f"{path.relative_to(REPO_ROOT)}:{number}: {kind}: {line}"
             for path in scanned_files() for number, kind, line in outside_paths(path.read_text(encoding="utf-8"))]
    assert found == [], "paths outside the repository:\n" + "\n".join(found)


# The examples are assembled from pieces so that this file never names such a path itself.
@pytest.mark.parametrize(("line", "kind"), [
    ('SAMPLES = Path("' + "/wo" + 'rk/shared/reference")', "a home, user or workspace folder"),
    ("config = '" + "/ho" + "me/alice/.config'", "a home, user or workspace folder"),
    ('cache = "' + "/ro" + 'ot/.cache"', "a home, user or workspace folder"),
    ('ROOT = Path("' + "/Us" + 'ers")', "a home, user or workspace folder"),
    ('data = ROOT / "' + ".." + '/shared/x.json"', "a folder beside the repository"),
    ('out = r"' + "C:" + '\\temp\\out.json"', "a Windows drive path"),
    ("out = 'd" + ':/data/out.json"', "a Windows drive path"),
])
def test_outside_path_scan_flags_each_kind(line: str, kind: str) -> None:
    assert outside_paths(line) == [(1, kind, line)]


@pytest.mark.parametrize("line", [
    'subprocess.run(cmd, stdout=open("/dev/null", "w"))',
    'CHROMIUM = "/usr/bin/chromium"',
    'url = "https://example.com/home/work/index.html"',
    'pattern = re.compile(r"\\d\\d:\\d\\d:\\d\\d")',
    'path = tmp_path / "work" / "home"',
    'SAMPLES_DIR = TESTS_DIR / "data" / "real-samples"',
])
def test_outside_path_scan_passes_system_paths_urls_and_relative_paths(line: str) -> None:
    assert outside_paths(line) == []


def _provenance_rows(provenance: Path = PROVENANCE) -> dict[str, str]:
    rows = [line for line in provenance.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    return {row.split("`")[1]: row for row in rows}


def test_vendored_samples_and_provenance_rows_name_the_same_files() -> None:
    assert SAMPLE_FILES and set(_provenance_rows()) == {path.name for path in SAMPLE_FILES}


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=[p.stem for p in SAMPLE_FILES])
def test_vendored_sample_provenance_row_matches_its_source_fields(sample: Path) -> None:
    row = _provenance_rows()[sample.name]
    exchanges = real_exchanges(sample)
    assert f"| {len(exchanges)} |" in row
    for source in (exchange["source"] for exchange in exchanges):
        assert f"| {source['repo']} |" in row and f"`{source['path']}`" in row, source
        assert f"`{source['commit']}`" in row and f"| {source['api_version']} |" in row, source


def test_vendored_recordings_and_provenance_rows_name_the_same_files() -> None:
    rows = _provenance_rows(RECORDINGS_DIR / "PROVENANCE.md")
    assert RECORDING_FILES and set(rows) == {path.name for path in RECORDING_FILES}


@pytest.mark.parametrize("recording", RECORDING_FILES, ids=[p.stem for p in RECORDING_FILES])
def test_vendored_recording_provenance_row_names_repository_path_commit_and_entries(recording: Path) -> None:
    row = _provenance_rows(RECORDINGS_DIR / "PROVENANCE.md")[recording.name]
    entries = json.loads(recording.read_text(encoding="utf-8"))["Entries"]
    assert f"| {len(entries)} |" in row and "| Azure/azure-sdk-assets |" in row
    assert re.search(r"\| `[0-9a-f]{40}` \|", row) and f"/{recording.name}` |" in row
