"""One home per requirement: its ID is written in the package only where its check lives (and in the emulator's
fault catalogue, which names what each fault breaks); every other module names it through the home."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance import checks
from conformance.run import spec_driven
from conformance.spec import catalogue

PACKAGE = Path(checks.__file__).resolve().parent.parent
FAULT_CATALOGUE = PACKAGE / "emulator" / "faults.py"


def _home(requirement_id: str) -> Path:
    if requirement_id in spec_driven.SPEC_IDS:
        return Path(spec_driven.__file__).resolve()
    module = checks.CHECKS.get(requirement_id).fn.__module__
    return PACKAGE.parent / (module.replace(".", "/") + ".py")


@pytest.mark.parametrize("requirement_id", list(catalogue()))
def test_requirement_id_written_only_in_its_home_and_the_fault_catalogue(requirement_id: str) -> None:
    pattern = re.compile(rf"(?<![A-Z0-9-]){re.escape(requirement_id)}(?![A-Z0-9-])")
    allowed = {_home(requirement_id), FAULT_CATALOGUE}
    elsewhere = [f"{path.relative_to(PACKAGE.parent)}:{n}" for path in sorted(PACKAGE.rglob("*.py"))
                 if path not in allowed
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert elsewhere == [], f"{requirement_id} is written outside its home {_home(requirement_id).name}"


def test_every_catalogue_requirement_has_a_home() -> None:
    homeless = [rid for rid in catalogue() if rid not in checks.CHECKS and rid not in spec_driven.SPEC_IDS]
    assert homeless == []


def test_every_home_names_a_catalogue_requirement() -> None:
    assert [rid for rid in checks.CHECKS if rid not in catalogue()] == []
