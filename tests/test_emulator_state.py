"""Emulator semantics: pool case, version-aware VM rule, node states, option effects, concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from conformance import spec
from conformance.emulator import EmbeddedEmulator
from conformance.inventory import Inventory, Node, Pool

V18 = "2023-11-01.18.0"
WRONG_STATES = {"reimaging": "NodeBeingReimaged", "rebooting": "NodeBeingRebooted",
                "creating": "NodeBeingCreated", "starting": "NodeBeingStarted", "unusable": "NodeStateUnusable",
                "offline": "OperationInvalidForCurrentState", "preempted": "OperationInvalidForCurrentState"}


def _reimage(emu: EmbeddedEmulator, pool: str, node: str, version: str = V18,
             option: str | None = None) -> requests.Response:
    body = None if option is None else {"nodeReimageOption": option}
    return requests.post(f"{emu.url}/pools/{pool}/nodes/{node}/reimage?api-version={version}", json=body)


def _node(emu: EmbeddedEmulator, pool: str, node: str) -> dict[str, Any]:
    r = requests.get(f"{emu.url}/pools/{pool}/nodes/{node}?api-version={V18}")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def _tasks_inventory(**task: Any) -> Inventory:
    tasks = ({"id": "t1", "state": "running", **task}, {"id": "t0", "state": "completed"})
    return Inventory((Pool("p", "cloudServiceConfiguration", (Node("n", "running", True, tasks),)),))


@pytest.mark.parametrize("pool_id", ["POOL-CS", "Pool-Cs", "pool-cs"])
def test_pool_id_case_variant_202(pool_id: str) -> None:
    with EmbeddedEmulator() as emu:
        assert _reimage(emu, pool_id, "idle-1").status_code == 202


@pytest.mark.parametrize("pool_id", ["nope", "a" * 65, "bad%20id"])
def test_pool_unknown_or_invalid_404_pool_not_found(pool_id: str) -> None:
    with EmbeddedEmulator() as emu:
        r = _reimage(emu, pool_id, "idle-1")
        assert (r.status_code, r.json()["code"]) == (404, "PoolNotFound")


def test_node_id_case_variant_404_node_not_found() -> None:
    with EmbeddedEmulator() as emu:
        r = _reimage(emu, "pool-cs", "IDLE-1")
        assert (r.status_code, r.json()["code"]) == (404, "NodeNotFound")


@pytest.mark.parametrize("version", list(spec.versions()))
def test_vm_pool_follows_version_rule(version: str) -> None:
    with EmbeddedEmulator() as emu:
        r = _reimage(emu, "pool-vm", "vm-idle-1", version)
        if spec.version(version).vm_pool_allowed:
            assert r.status_code == 202
            assert emu.node_state("pool-vm", "vm-idle-1") in ("reimaging", "idle")
        else:
            assert (r.status_code, r.json()["code"]) == (409, "OperationNotValidOnNode")


def test_served_versions_limit_unserved_400() -> None:
    with EmbeddedEmulator(api_versions=["2025-06-01"]) as emu:
        r = _reimage(emu, "pool-cs", "idle-1", V18)
        assert (r.status_code, r.json()["code"]) == (400, "UnsupportedRequestVersion")


@pytest.mark.parametrize(("state", "code"), sorted(WRONG_STATES.items()))
def test_node_wrong_state_409_state_code(state: str, code: str) -> None:
    with EmbeddedEmulator() as emu:
        r = _reimage(emu, "pool-cs", f"node-{state}")
        assert (r.status_code, r.json()["code"]) == (409, code)


def test_node_after_202_reimaging_then_idle() -> None:
    with EmbeddedEmulator(reimage_seconds=0.2) as emu:
        assert _reimage(emu, "pool-cs", "running-1").status_code == 202
        node = _node(emu, "pool-cs", "running-1")
        assert (node["state"], node["lastReimageOption"]) == ("reimaging", "requeue")
        r = _reimage(emu, "pool-cs", "running-1")
        assert (r.status_code, r.json()["code"]) == (409, "NodeBeingReimaged")
        time.sleep(0.25)
        assert emu.node_state("pool-cs", "running-1") == "idle"
        assert _reimage(emu, "pool-cs", "running-1").status_code == 202


def test_option_requeue_tasks_active_in_queue() -> None:
    with EmbeddedEmulator(inventory=_tasks_inventory(remaining_seconds=60)) as emu:
        assert _reimage(emu, "p", "n", option="requeue").status_code == 202
        tasks = {t["taskId"]: t for t in _node(emu, "p", "n")["recentTasks"]}
        assert tasks["t1"]["taskState"] == "active" and tasks["t1"]["executionInfo"]["requeueCount"] == 1
        pool = requests.get(f"{emu.url}/pools/p?api-version={V18}").json()
        assert pool["queuedTasks"] == [{"taskId": "t1", "taskState": "active"}]
        assert emu.node_state("p", "n") == "idle"  # reimaged at once (reimage_seconds=0)


def test_option_terminate_tasks_completed_with_failure_info() -> None:
    with EmbeddedEmulator(inventory=_tasks_inventory(remaining_seconds=60)) as emu:
        assert _reimage(emu, "p", "n", option="terminate").status_code == 202
        task = _node(emu, "p", "n")["recentTasks"][0]
        assert task["taskState"] == "completed"
        assert task["executionInfo"]["failureInfo"]["code"] == "TaskEnded"


def test_option_taskcompletion_waits_for_running_tasks() -> None:
    with EmbeddedEmulator(inventory=_tasks_inventory(remaining_seconds=0.3)) as emu:
        assert _reimage(emu, "p", "n", option="taskcompletion").status_code == 202
        node = _node(emu, "p", "n")
        assert node["state"] == "reimaging" and node["recentTasks"][0]["taskState"] == "running"
        time.sleep(0.35)
        node = _node(emu, "p", "n")
        assert node["state"] == "idle"
        assert node["recentTasks"][0]["executionInfo"]["result"] == "success"


def test_option_retaineddata_waits_for_retention() -> None:
    with EmbeddedEmulator(inventory=_tasks_inventory(remaining_seconds=0.1, retention_seconds=0.3)) as emu:
        assert _reimage(emu, "p", "n", option="retaineddata").status_code == 202
        time.sleep(0.2)
        node = _node(emu, "p", "n")
        assert node["state"] == "reimaging" and node["recentTasks"][0]["taskState"] == "completed"
        time.sleep(0.3)
        assert emu.node_state("p", "n") == "idle"


def test_concurrent_reimage_same_node_single_202() -> None:
    with EmbeddedEmulator(reimage_seconds=5) as emu, ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: _reimage(emu, "pool-cs", "idle-1").status_code, range(64)))
    assert statuses.count(202) == 1
    assert statuses.count(409) == 63


def test_embedded_start_stop_fast() -> None:
    began = time.monotonic()
    for _ in range(3):
        with EmbeddedEmulator() as emu:
            assert _reimage(emu, "pool-cs", "idle-1").status_code == 202
    assert time.monotonic() - began < 1.5


def test_default_inventory_running_task_requeued_by_reimage() -> None:
    with EmbeddedEmulator() as emu:
        assert _node(emu, "pool-cs", "running-2")["recentTasks"][0]["taskState"] == "running"
        assert _reimage(emu, "pool-cs", "running-2").status_code == 202
        assert _node(emu, "pool-cs", "running-2")["recentTasks"][0]["taskState"] == "active"


def test_reimage_trailing_slash_202() -> None:
    with EmbeddedEmulator() as emu:
        r = requests.post(f"{emu.url}/pools/pool-cs/nodes/idle-1/reimage/?api-version={V18}")
        assert r.status_code == 202
