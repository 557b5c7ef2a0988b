"""The emulator's state model: pools, nodes, tasks, and what a reimage does to them over time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conformance.inventory import Inventory

OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
# how long a reimage lasts in the emulator `run` embeds and in `batch-conformance emulator` by default: long enough
# that a second or simultaneous reimage of a node just accepted meets it `reimaging` (an instant reimage can never
# show a race, so the simultaneous-reimage requirement would stay undecided), short enough that a run barely waits
MODELLED_REIMAGE_SECONDS = 0.05
TERMINATED = {"category": "usererror", "code": "TaskEnded",
              "message": "The task was terminated because the compute node was reimaged"}


@dataclass
class TaskState:
    """A task on a node. A running task runs until a reimage acts on it: `taskcompletion` and
    `retaineddata` let it finish `remaining_seconds` later; its data is kept `retention_seconds` after."""

    id: str
    state: str = "running"
    remaining_seconds: float = 0.0
    retention_seconds: float = 0.0
    finishes_at: float | None = None  # set once the task is allowed to complete
    failure_info: dict[str, str] | None = None
    requeue_count: int = 0

    def view(self, now: float) -> dict[str, Any]:
        """The task as Get Node's recentTasks shows it (state computed lazily)."""
        state = self.state
        if state == "running" and self.finishes_at is not None and now >= self.finishes_at:
            state = "completed"
        info: dict[str, Any] = {"requeueCount": self.requeue_count}
        if state == "completed":
            info["result"] = "failure" if self.failure_info else "success"
            info["exitCode"] = -1 if self.failure_info else 0
            if self.failure_info:
                info["failureInfo"] = dict(self.failure_info)
        return {"taskId": self.id, "taskState": state, "executionInfo": info}


@dataclass
class NodeState:
    """A node: its resting state, and the window during which it is being reimaged."""

    id: str
    state: str
    tasks: list[TaskState] = field(default_factory=list)
    reimage_until: float | None = None
    reimages: int = 0
    last_option: str | None = None
    transitioned_at: float = 0.0  # clock time the node entered its current state (stateTransitionTime)

    def current(self, now: float) -> str:
        """The node's state now: `reimaging` until the window ends, then idle."""
        if self.reimage_until is not None:
            if now < self.reimage_until:
                return "reimaging"
            self.transitioned_at = self.reimage_until
            self.reimage_until = None
            self.state = "idle"
        return self.state


@dataclass
class PoolState:
    """A pool, its configuration, its nodes and the tasks requeued from them."""

    id: str
    configuration: str
    nodes: dict[str, NodeState]
    queue: list[TaskState] = field(default_factory=list)


def _tasks(raw: tuple[dict[str, Any], ...], now: float) -> list[TaskState]:
    out = []
    for t in raw:
        state = str(t.get("state", "running"))
        task = TaskState(str(t.get("id", "task")), state, float(t.get("remaining_seconds", 0)),
                         float(t.get("retention_seconds", 0)))
        task.finishes_at = None if state == "running" else now
        out.append(task)
    return out


class EmulatorState:
    """All pools and nodes; every read-check-write happens under one lock."""

    def __init__(self, inventory: Inventory, *, reimage_seconds: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = threading.Lock()
        self.reimage_seconds = reimage_seconds
        self.clock = clock
        now = clock()
        self.pools: dict[str, PoolState] = {}
        for p in inventory.pools:
            nodes = {n.id: NodeState(n.id, n.state, _tasks(n.tasks, now), transitioned_at=now - 3600.0)
                     for n in p.nodes}
            self.pools[p.id.lower()] = PoolState(p.id, p.configuration, nodes)

    def pool(self, pool_id: str, *, case_sensitive: bool = False) -> PoolState | None:
        """The pool addressed by this ID (case-insensitive unless a fault says otherwise)."""
        pool = self.pools.get(pool_id.lower())
        if pool is not None and case_sensitive and pool.id != pool_id:
            return None
        return pool

    def node_state(self, pool_id: str, node_id: str) -> str:
        """The current state of a node; KeyError if it does not exist."""
        with self.lock:
            pool = self.pool(pool_id)
            if pool is None or node_id not in pool.nodes:
                raise KeyError(f"no node {pool_id}/{node_id}")
            return pool.nodes[node_id].current(self.clock())

    def reimage(self, pool: PoolState, node: NodeState, option: str, *, effect: bool = True) -> None:
        """Apply a reimage (caller holds the lock): act on tasks, then mark the node reimaging."""
        now = self.clock()
        node.reimages += 1
        node.last_option = option
        wait = _act_on_tasks(pool, node, option, now) if effect else 0.0
        node.reimage_until = now + wait + self.reimage_seconds
        node.transitioned_at = now
        node.state = "idle"  # the resting state once the window ends


def _act_on_tasks(pool: PoolState, node: NodeState, option: str, now: float) -> float:
    """Apply the option to the node's running tasks; return seconds until the OS reimage can start."""
    running = [t for t in node.tasks if t.state == "running" and (t.finishes_at is None or t.finishes_at > now)]
    if option == "requeue":
        for t in running:
            t.state, t.requeue_count = "active", t.requeue_count + 1
            pool.queue.append(t)
        return 0.0
    if option == "terminate":
        for t in running:
            t.state, t.finishes_at, t.failure_info = "completed", now, dict(TERMINATED)
        return 0.0
    for t in running:
        if t.finishes_at is None:
            t.finishes_at = now + t.remaining_seconds
    ends = [t.finishes_at for t in running if t.finishes_at is not None]
    if option == "retaineddata":
        ends += [max(t.finishes_at, now) + t.retention_seconds for t in node.tasks if t.finishes_at is not None]
    return max([0.0, *(end - now for end in ends)])


def pool_view(pool: PoolState, base_url: str) -> dict[str, Any]:
    """A pool as Get Pool returns it (configuration object plus the emulator's queue extension)."""
    conf: dict[str, Any]
    if pool.configuration == "cloudServiceConfiguration":
        conf = {"osFamily": "6", "osVersion": "*"}
    else:
        conf = {"imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy",
                                   "sku": "22_04-lts", "version": "latest"},
                "nodeAgentSKUId": "batch.node.ubuntu 22.04"}
    return {"id": pool.id, "url": f"{base_url}/pools/{pool.id}", "state": "active",
            "vmSize": "standard_d2s_v3", pool.configuration: conf,
            "currentDedicatedNodes": len(pool.nodes),
            "queuedTasks": [{"taskId": t.id, "taskState": t.state} for t in pool.queue]}


def node_view(pool: PoolState, node: NodeState, now: float, known_states: tuple[str, ...],
              base_url: str) -> dict[str, Any]:
    """A node as Get Node returns it; a state the api-version does not know reads `unknown`."""
    state = node.current(now)
    tasks = [t.view(now) for t in node.tasks]
    return {"id": node.id, "url": f"{base_url}/pools/{pool.id}/nodes/{node.id}",
            "state": state if state in known_states else "unknown",
            "schedulingState": "disabled" if state == "reimaging" else "enabled",
            "recentTasks": tasks, "runningTasksCount": sum(1 for t in tasks if t["taskState"] == "running"),
            "stateTransitionTime": _wall_clock(node.transitioned_at),
            "reimageCount": node.reimages, "lastReimageOption": node.last_option}


_WALL_OFFSET = time.time() - time.monotonic()  # fixed once, so a moment always prints the same


def _wall_clock(moment: float) -> str:
    """A clock-time moment as the ISO 8601 UTC timestamp the service writes (7 fraction digits)."""
    stamp = datetime.fromtimestamp(_WALL_OFFSET + moment, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
