"""spec/ stays coherent: generated documents match their data, and every requirement has a judge."""

from __future__ import annotations

import json

import pytest

from conformance import checks
from conformance.run.spec_driven import SPEC_IDS
from conformance.spec import catalogue, spec_dir, swagger_path, versions
from tools.specdocs import build_document


@pytest.mark.parametrize("version_id", list(versions()))
def test_committed_swagger_document_matches_its_version_data(version_id: str) -> None:
    data = next(v for v in json.loads((spec_dir() / "versions.json").read_text())["versions"] if v["id"] == version_id)
    committed = json.loads(swagger_path(version_id).read_text())
    assert committed == json.loads(json.dumps(build_document(data))), "run python tools/specdocs.py"


def test_every_requirement_has_a_check_or_the_spec_driven_layer() -> None:
    unjudged = [rid for rid in catalogue() if rid not in checks.CHECKS and rid not in SPEC_IDS]
    assert unjudged == []


def test_every_requirement_names_level_and_source() -> None:
    for requirement in catalogue().values():
        assert requirement.level in ("MUST", "SHOULD") and requirement.source.strip()
