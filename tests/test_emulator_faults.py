"""Every fault in the catalogue changes the emulator's behaviour observably, and only with the fault."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from conformance import spec
from conformance.emulator import AuthConfig, EmbeddedEmulator, catalogue
from conformance.emulator.faults import FaultSpec
from conformance.inventory import Inventory, Node, Pool

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CRID = "fb4b9c35-4d31-11ee-9667-20c19bdc434a"
ACCOUNT, KEY = "acct", base64.b64encode(b"k" * 32).decode()
IDLE = "/pools/pool-cs/nodes/idle-1/reimage"
Probe = Callable[[EmbeddedEmulator, str], bool]


def _post(emu: EmbeddedEmulator, version: str | None, path: str = IDLE, query: str = "",
          **kw: Any) -> requests.Response:
    params = ([f"api-version={version}"] if version else []) + ([query] if query else [])
    return requests.post(f"{emu.url}{path}?{'&'.join(params)}", **kw)


def _err(emu: EmbeddedEmulator, version: str) -> requests.Response:
    return _post(emu, version, "/pools/nope/nodes/x/reimage")


def _error_json(emu: EmbeddedEmulator, version: str) -> dict[str, Any]:
    return _err(emu, version).json()  # type: ignore[no-any-return]


def _timeout(version: str, value: str) -> str:
    return f"{spec.version(version).timeout_param}={value}"


def _task_running_after_terminate(emu: EmbeddedEmulator, version: str) -> bool:
    _post(emu, version, "/pools/p/nodes/n/reimage", json={"nodeReimageOption": "terminate"})
    node = requests.get(f"{emu.url}/pools/p/nodes/n?api-version={version}").json()
    return bool(node["recentTasks"][0]["taskState"] == "running")


PROBES: dict[str, Probe] = {
    "no-request-id-202": lambda e, v: "request-id" not in _post(e, v).headers,
    "request-id-not-guid-202": lambda e, v: not GUID.match(_post(e, v).headers["request-id"]),
    "flaky-request-id-202": lambda e, v: any("request-id" not in _post(e, v).headers for _ in range(5)),
    "no-dataserviceid-202": lambda e, v: "DataServiceId" not in _post(e, v).headers,
    "dataserviceid-wrong-url-202": lambda e, v: not _post(e, v).headers["DataServiceId"].endswith(IDLE),
    "status-200": lambda e, v: _post(e, v).status_code == 200,
    "etag-empty-202": lambda e, v: "ETag" in _post(e, v).headers,
    "last-modified-iso-202": lambda e, v: "Last-Modified" in _post(e, v).headers,
    "body-on-202": lambda e, v: _post(e, v).content != b"",
    "no-crid-echo": lambda e, v: "client-request-id" not in _post(
        e, v, headers={"client-request-id": CRID, "return-client-request-id": "true"}).headers,
    "crid-always-echoed": lambda e, v: "client-request-id" in _post(
        e, v, headers={"client-request-id": CRID}).headers,
    "error-message-string": lambda e, v: isinstance(_error_json(e, v)["message"], str),
    "error-missing-code": lambda e, v: "code" not in _error_json(e, v),
    "error-values-not-list": lambda e, v: isinstance(_post(e, None).json()["values"], dict),
    "error-content-type-text": lambda e, v: _err(e, v).headers["Content-Type"] == "text/plain",
    "error-no-request-id": lambda e, v: "request-id" not in _err(e, v).headers,
    "error-message-no-request-id": lambda e, v: "RequestId:" not in _error_json(e, v)["message"]["value"],
    "pool-not-found-generic-code": lambda e, v: _error_json(e, v)["code"] != "PoolNotFound",
    "unknown-pool-accepted": lambda e, v: _err(e, v).status_code == 202,
    "unknown-node-500": lambda e, v: _post(e, v, "/pools/pool-cs/nodes/x/reimage").status_code == 500,
    "unknown-node-500-newer-versions": lambda e, v: _post(e, v, "/pools/pool-cs/nodes/x/reimage").status_code
    == 500,
    "pool-id-case-sensitive": lambda e, v: _post(e, v, "/pools/POOL-CS/nodes/idle-1/reimage").status_code == 404,
    "vm-pool-accepted": lambda e, v: _post(e, v, "/pools/pool-vm/nodes/vm-idle-1/reimage").status_code == 202,
    "vm-pool-refused": lambda e, v: _post(e, v, "/pools/pool-vm/nodes/vm-idle-1/reimage").status_code == 409,
    "any-state-accepted": lambda e, v: _post(e, v, "/pools/pool-cs/nodes/node-unusable/reimage").status_code
    == 202,
    "bad-option-accepted": lambda e, v: _post(e, v, json={"nodeReimageOption": "Requeue"}).status_code == 202,
    "bad-json-500": lambda e, v: _post(e, v, data=b"{").status_code == 500,
    "oversized-body-accepted": lambda e, v: _post(e, v, data=b"{" + b" " * (1 << 20) + b"}").status_code
    == 202,
    "timeout-above-30-refused": lambda e, v: _post(e, v, query=_timeout(v, "31")).status_code == 400,
    "bad-timeout-accepted": lambda e, v: _post(e, v, query=_timeout(v, "abc")).status_code == 202,
    "bad-client-request-id-accepted": lambda e, v: _post(e, v, headers={"client-request-id": "x"}).status_code
    == 202,
    "bad-ocp-date-accepted": lambda e, v: _post(e, v, headers={"ocp-date": "yesterday"}).status_code == 202,
    "valid-ocp-date-refused": lambda e, v: _post(
        e, v, headers={"ocp-date": "Tue, 03 Feb 2026 18:19:59 GMT"}).status_code == 400,
    "missing-api-version-accepted": lambda e, v: _post(e, None).status_code == 202,
    "unknown-api-version-accepted": lambda e, v: _post(e, "2099-01-01.99.0").status_code == 202,
    "empty-object-refused": lambda e, v: _post(e, v, data=b"{}").status_code == 400,
    "unknown-property-500": lambda e, v: _post(e, v, json={"extra": 1}).status_code == 500,
    "flip-flop-null-option": lambda e, v: {_post(e, v, f"/pools/pool-cs/nodes/idle-{n}/reimage",
                                                 json={"nodeReimageOption": None}).status_code for n in (2, 3)}
                                          == {202, 400},
    "get-reimage-accepted": lambda e, v: requests.get(f"{e.url}{IDLE}?api-version={v}").status_code == 202,
    "concurrent-reimage-race": lambda e, v: _simultaneous(e, v).count(202) > 1,
    "no-state-change": lambda e, v: _post(e, v).status_code == 202 and e.node_state("pool-cs", "idle-1")
    == "idle",
    "option-ignored": _task_running_after_terminate,
    "reimaged-node-500": lambda e, v: _post(e, v).status_code == 202 and requests.get(
        f"{e.url}/pools/pool-cs/nodes/idle-1?api-version={v}").status_code == 500,
    "auth-missing-accepted": lambda e, v: _post(e, v).status_code == 202,
    "auth-bad-signature-accepted": lambda e, v: _post(
        e, v, headers={"Authorization": f"SharedKey {ACCOUNT}:bm90LWEtc2lnbmF0dXJl"}).status_code == 202,
}


def _simultaneous(emu: EmbeddedEmulator, version: str) -> list[int]:
    """The statuses of four reimages of one idle node sent at once."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda _: _post(emu, version).status_code, range(4)))


def _emulator_options(fault: FaultSpec) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if fault.reimage_seconds:  # the emulator without the fault reimages as slowly, so only the race differs
        options["reimage_seconds"] = fault.reimage_seconds
    if fault.needs_auth:
        options["auth"] = AuthConfig(ACCOUNT, KEY)
    if fault.name == "no-state-change":
        options["reimage_seconds"] = 30
    if fault.name == "option-ignored":
        tasks = ({"id": "t1", "state": "running", "remaining_seconds": 60},)
        node = Node("n", "idle", True, tasks)
        options["inventory"] = Inventory((Pool("p", "cloudServiceConfiguration", (node,)),))
    return options


def _version(fault: FaultSpec) -> str:
    default = spec.default_version()
    return default if fault.applies(default) else fault.versions[0]


FAULTS = catalogue()


def test_catalogue_has_18_faults_with_probes_and_known_requirements() -> None:
    assert len(FAULTS) >= 18
    assert {f.name for f in FAULTS} == set(PROBES)
    known = spec.catalogue()
    must = [f for f in FAULTS if any(known[r].level == "MUST" for r in f.breaks)]
    assert all(r in known for f in FAULTS for r in f.breaks)
    assert len(must) > len(FAULTS) // 2


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_deviation_observable_only_with_fault(fault: FaultSpec) -> None:
    version, options = _version(fault), _emulator_options(fault)
    with EmbeddedEmulator(fault=fault.name, **options) as emu:
        assert PROBES[fault.name](emu, version), f"{fault.name} did not show at {version}"
    with EmbeddedEmulator(**options) as emu:
        assert not PROBES[fault.name](emu, version), f"{fault.name}'s probe fires without the fault"


def test_fault_unknown_name_usage_error() -> None:
    from conformance.models import UsageError
    with pytest.raises(UsageError, match="unknown fault 'nope'"):
        EmbeddedEmulator(fault="nope")


def test_fault_versions_follow_version_data() -> None:
    by_name = {f.name: f for f in FAULTS}
    assert all(not spec.version(v).vm_pool_allowed for v in by_name["vm-pool-accepted"].versions)
    assert all(spec.version(v).vm_pool_allowed for v in by_name["vm-pool-refused"].versions)
    assert by_name["status-200"].versions == tuple(spec.versions())


def test_version_scoped_fault_absent_on_other_versions() -> None:
    with EmbeddedEmulator(fault="unknown-node-500-newer-versions") as emu:
        assert _post(emu, "2023-11-01.18.0", "/pools/pool-cs/nodes/x/reimage").status_code == 404
        assert _post(emu, "2024-07-01.20.0", "/pools/pool-cs/nodes/x/reimage").status_code == 500
