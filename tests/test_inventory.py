"""Inventory files: the format users write by hand, and errors that name the bad field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.inventory import ALL_STATES, default_inventory, load_inventory, parse_inventory
from conformance.models import UsageError


def test_default_inventory_has_every_state_and_both_configurations() -> None:
    inventory = default_inventory()
    states = {n.state for p in inventory.pools for n in p.nodes}
    assert states == set(ALL_STATES)
    assert {p.configuration for p in inventory.pools} == {"cloudServiceConfiguration",
                                                         "virtualMachineConfiguration"}


def test_inventory_pool_lookup_ignores_case() -> None:
    inventory = default_inventory()
    assert inventory.pool("POOL-CS") is inventory.pool("pool-cs") is not None
    assert inventory.pool("pool-cs-x") is None


def test_inventory_round_trips_through_its_file_format(tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(default_inventory().to_json()))
    assert load_inventory(path) == default_inventory()


@pytest.mark.parametrize(("raw", "field"), [
    ({}, "pools"),
    ({"pools": [{"configuration": "cloudServiceConfiguration"}]}, "pools[0].id"),
    ({"pools": [{"id": "p", "configuration": "paas"}]}, "pools[0].configuration"),
    ({"pools": [{"id": "p", "configuration": "cloudServiceConfiguration", "nodes": [{"id": "n"}]}]},
     "pools[0].nodes[0].state"),
    ({"pools": [{"id": "p", "configuration": "cloudServiceConfiguration",
                 "nodes": [{"id": "n", "state": "sleepy"}]}]}, "pools[0].nodes[0].state"),
    ({"pools": [{"id": "p", "configuration": "cloudServiceConfiguration",
                 "nodes": [{"id": "n", "state": "idle", "expendable": "yes"}]}]}, "expendable"),
])
def test_inventory_malformed_names_the_field(raw: object, field: str) -> None:
    with pytest.raises(UsageError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_inventory(raw)


def test_inventory_file_not_json_says_where(tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    path.write_text("{pools: }")
    with pytest.raises(UsageError, match="not JSON \\(line 1"):
        load_inventory(path)
