"""README stays true: its commands are the ones CI runs, and it lists every requirement."""

from __future__ import annotations

from pathlib import Path

from conformance.emulator.faults import catalogue as faults
from conformance.spec import catalogue

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_lists_every_catalogue_requirement() -> None:
    missing = [rid for rid in catalogue() if f"| {rid} |" not in README]
    assert missing == []


def test_readme_install_and_test_commands_are_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]'" in README and "python -m pip install -q -e '.[test]'" in ci
    assert "python -m pytest -q -n auto" in README and "python -m pytest -q -n auto" in ci


def test_readme_fault_count_matches_catalogue() -> None:
    assert f"catalogue of {len(faults())}" in README.replace("\n  ", " ")
