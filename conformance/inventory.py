"""The inventory: pools and nodes of a target, in the JSON format users write by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from conformance.models import UsageError

CONFIGURATIONS = ("cloudServiceConfiguration", "virtualMachineConfiguration")
ALL_STATES = (
    "idle", "rebooting", "reimaging", "running", "unusable", "creating", "starting",
    "waitingforstarttask", "starttaskfailed", "unknown", "leavingpool", "offline", "preempted",
    "upgradingos", "deallocated", "deallocating",
)


@dataclass(frozen=True)
class Node:
    """A compute node as the inventory describes it."""

    id: str
    state: str
    expendable: bool = False
    tasks: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Pool:
    """A pool and its nodes."""

    id: str
    configuration: str
    nodes: tuple[Node, ...] = field(default_factory=tuple)

    def node(self, node_id: str) -> Node | None:
        """The node with this exact ID (node IDs are case-sensitive), or None."""
        return self._by_id.get(node_id)

    @cached_property
    def _by_id(self) -> dict[str, Node]:
        # looked up for every request, and for every node when a run plans its targets: a scan here made a
        # run's cost grow with the square of the node count
        return {n.id: n for n in self.nodes}


@dataclass(frozen=True)
class Inventory:
    """All pools of a target."""

    pools: tuple[Pool, ...]

    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _hash(self) -> int:
        # the inventory keys the strategies' caches: a hash of its shape (equal inventories share it), computed
        # once and without the nodes (their tasks are dicts, and hashing every node costs time in their count)
        return hash(tuple((p.id, p.configuration, len(p.nodes)) for p in self.pools))

    def pool(self, pool_id: str) -> Pool | None:
        """The pool addressed by this ID: pool IDs are case-insensitive."""
        return self._by_id.get(pool_id.lower())

    @cached_property
    def _by_id(self) -> dict[str, Pool]:
        return {p.id.lower(): p for p in reversed(self.pools)}  # reversed: the first of equal IDs wins, as before

    def throwaway(self) -> Inventory:
        """The same pools with every node expendable (a target the user declared --disposable)."""
        return Inventory(tuple(Pool(p.id, p.configuration, tuple(Node(n.id, n.state, True, n.tasks) for n in p.nodes))
                               for p in self.pools))

    def to_json(self) -> dict[str, Any]:
        """The inventory in its file format."""
        return {"pools": [
            {"id": p.id, "configuration": p.configuration,
             "nodes": [{"id": n.id, "state": n.state, "expendable": n.expendable,
                        **({"tasks": list(n.tasks)} if n.tasks else {})} for n in p.nodes]}
            for p in self.pools]}


def _require(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise UsageError(f"inventory: {where}.{key} is missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is str and not value):
        raise UsageError(f"inventory: {where}.{key} must be a non-empty {kind.__name__}, got {value!r}")
    return value


def _parse_node(raw: Any, where: str) -> Node:
    node_id = _require(raw, "id", str, where)
    state = _require(raw, "state", str, where)
    if state not in ALL_STATES:
        raise UsageError(f"inventory: {where}.state {state!r} is not a node state ({', '.join(ALL_STATES)})")
    expendable = raw.get("expendable", False)
    if not isinstance(expendable, bool):
        raise UsageError(f"inventory: {where}.expendable must be true or false, got {expendable!r}")
    tasks = raw.get("tasks", [])
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise UsageError(f"inventory: {where}.tasks must be a list of objects")
    return Node(node_id, state, expendable, tuple(tasks))


def parse_inventory(raw: Any, *, source: str = "inventory") -> Inventory:
    """Validate raw JSON into an Inventory; a UsageError names the first bad field."""
    try:
        pools_raw = _require(raw, "pools", list, "")
        pools = []
        for i, praw in enumerate(pools_raw):
            where = f"pools[{i}]"
            pid = _require(praw, "id", str, where)
            conf = _require(praw, "configuration", str, where)
            if conf not in CONFIGURATIONS:
                raise UsageError(f"inventory: {where}.configuration must be one of {', '.join(CONFIGURATIONS)}")
            nodes_raw = praw.get("nodes", [])
            if not isinstance(nodes_raw, list):
                raise UsageError(f"inventory: {where}.nodes must be a list")
            nodes = tuple(_parse_node(n, f"{where}.nodes[{j}]") for j, n in enumerate(nodes_raw))
            if len({n.id for n in nodes}) != len(nodes):
                raise UsageError(f"inventory: {where}.nodes has duplicate node IDs")
            pools.append(Pool(pid, conf, nodes))
        if len({p.id.lower() for p in pools}) != len(pools):
            raise UsageError("inventory: pools has two pools whose IDs differ only by case")
    except UsageError as err:
        raise UsageError(f"{source}: {err}") from None
    return Inventory(tuple(pools))


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise UsageError(f"cannot read inventory {p}: {err.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"{p}: not JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    return parse_inventory(raw, source=str(p))


def default_inventory() -> Inventory:
    """The built-in inventory: a cloud-service pool with idle and running nodes and one node in every
    other state, and a virtual-machine pool."""
    cs_nodes = [Node(f"idle-{i}", "idle", True) for i in range(1, 5)]
    cs_nodes += [Node(f"running-{i}", "running", True,
                      ({"id": f"task-{i}a", "state": "running"}, {"id": f"task-{i}b", "state": "running"}))
                 for i in range(1, 7)]
    cs_nodes += [Node(f"node-{s}", s) for s in ALL_STATES if s not in ("idle", "running")]
    vm_nodes = [Node("vm-idle-1", "idle", True), Node("vm-idle-2", "idle", True),
                Node("vm-running-1", "running", True)]
    return Inventory((Pool("pool-cs", "cloudServiceConfiguration", tuple(cs_nodes)),
                      Pool("pool-vm", "virtualMachineConfiguration", tuple(vm_nodes))))
