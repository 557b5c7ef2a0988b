"""The emulator's wire format against the live service's recorded exchanges, and every error path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from conformance.emulator import EmbeddedEmulator

from conftest import real_sample

V18, V25 = "2023-11-01.18.0", "2025-06-01"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CRID = "fb4b9c35-4d31-11ee-9667-20c19bdc434a"


@pytest.fixture(scope="module")
def emulator_wire() -> Iterator[EmbeddedEmulator]:
    with EmbeddedEmulator() as emu:
        yield emu


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _post(emu: EmbeddedEmulator, s: requests.Session, path: str = "/pools/pool-cs/nodes/idle-1/reimage",
          query: str = f"api-version={V18}", **kw: Any) -> requests.Response:
    return s.post(f"{emu.url}{path}?{query}" if query else f"{emu.url}{path}", **kw)


def _assert_batch_error(r: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json;odata=minimalmetadata"
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert "Transfer-Encoding" not in r.headers
    rid = r.headers["request-id"]
    assert GUID.match(rid)
    assert r.headers["DataServiceVersion"] == "3.0"
    body = r.json()
    assert body["code"] == code
    assert body["odata.metadata"].endswith(
        "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element")
    assert body["message"]["lang"] == "en-US"
    assert re.fullmatch(rf"[^\n]+\nRequestId:{rid}\nTime:\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{7}}Z",
                        body["message"]["value"])
    return body  # type: ignore[no-any-return]


def test_reimage_idle_node_202_matches_live_sample(emulator_wire: EmbeddedEmulator,
                                                   session: requests.Session) -> None:
    real = real_sample("reimage-202_2025-06-01.json")["response"]
    r = _post(emulator_wire, session, query=f"api-version={V25}")
    assert r.status_code == real["status"] == 202
    assert r.content == b""
    for name in ("request-id", "DataServiceId", "DataServiceVersion", "Date", "Transfer-Encoding"):
        assert name in r.headers and name in real["headers"]
    assert GUID.match(r.headers["request-id"])
    assert r.headers["DataServiceId"] == f"{emulator_wire.url}/pools/pool-cs/nodes/idle-1/reimage"
    for absent in ("ETag", "Last-Modified", "client-request-id"):
        assert absent not in r.headers


def test_reimage_dataserviceid_pool_case_as_sent(emulator_wire: EmbeddedEmulator,
                                                 session: requests.Session) -> None:
    r = _post(emulator_wire, session, path="/pools/POOL-CS/nodes/idle-2/reimage")
    assert r.status_code == 202
    assert r.headers["DataServiceId"].endswith("/pools/POOL-CS/nodes/idle-2/reimage")


def test_error_vm_pool_old_version_matches_live_sample(emulator_wire: EmbeddedEmulator,
                                                       session: requests.Session) -> None:
    real = real_sample("reimage-409-vm-pool_2023-05-01.17.0.json")["response"]
    r = _post(emulator_wire, session, path="/pools/pool-vm/nodes/vm-idle-1/reimage",
              query="api-version=2023-05-01.17.0", json={"nodeReimageOption": "terminate"})
    body = _assert_batch_error(r, real["status"], real["body_json"]["code"])
    assert body["values"] == real["body_json"]["values"]
    assert set(body) == set(real["body_json"])


def test_error_unknown_pool_matches_live_sample(emulator_wire: EmbeddedEmulator,
                                                session: requests.Session) -> None:
    real = real_sample("get-pool-404-PoolNotFound_2025-06-01.json")["response"]
    r = session.get(f"{emulator_wire.url}/pools/non-existent-pool-id?api-version={V25}")
    body = _assert_batch_error(r, 404, "PoolNotFound")
    assert set(body) == set(real["body_json"])
    assert body["message"]["value"].split("\n")[0] == real["body_json"]["message"]["value"].split("\n")[0]


@pytest.mark.parametrize(("query", "status", "code", "values"), [
    ("", 400, "MissingRequiredQueryParameter", [("QueryParameterName", "api-version")]),
    ("api-version=2099-01-01.99.0", 400, "UnsupportedRequestVersion", None),
    (f"api-version={V18}&timeout=abc", 400, "InvalidQueryParameterValue", None),
    (f"api-version={V18}&timeout=2147483648", 400, "InvalidQueryParameterValue", None),
    (f"api-version={V18}&timeout=0", 400, "InvalidQueryParameterValue", None),
    (f"api-version={V25}&timeOut=1.5", 400, "InvalidQueryParameterValue", None),
])
def test_reimage_bad_query_400(emulator_wire: EmbeddedEmulator, session: requests.Session, query: str,
                               status: int, code: str, values: list[tuple[str, str]] | None) -> None:
    body = _assert_batch_error(_post(emulator_wire, session, query=query), status, code)
    if values:
        assert [(v["key"], v["value"]) for v in body["values"]] == values


@pytest.mark.parametrize("query", [f"api-version={V18}&timeout=30", f"api-version={V18}&timeout=31",
                                   f"api-version={V18}&timeout=1", f"api-version={V25}&timeOut=99999",
                                   f"api-version={V25}&timeout=abc"])
def test_reimage_valid_timeout_202(emulator_wire: EmbeddedEmulator, session: requests.Session,
                                   query: str) -> None:
    assert _post(emulator_wire, session, path="/pools/pool-cs/nodes/idle-3/reimage", query=query).status_code == 202


@pytest.mark.parametrize(("headers", "name"), [
    ({"client-request-id": "{" + CRID + "}"}, "client-request-id"),
    ({"client-request-id": "not-a-guid"}, "client-request-id"),
    ({"return-client-request-id": "yes"}, "return-client-request-id"),
    ({"ocp-date": "2026-02-03T18:19:59Z"}, "ocp-date"),
    ({"ocp-date": "Wed, 03 Feb 2026 18:19:59 GMT"}, "ocp-date"),  # wrong weekday
    ({"Content-Type": "text/plain"}, "Content-Type"),
])
def test_reimage_bad_header_400_invalid_header_value(emulator_wire: EmbeddedEmulator,
                                                     session: requests.Session, headers: dict[str, str],
                                                     name: str) -> None:
    r = _post(emulator_wire, session, headers=headers, data=b"{}")
    body = _assert_batch_error(r, 400, "InvalidHeaderValue")
    assert body["values"][0] == {"key": "HeaderName", "value": name}


def test_reimage_valid_headers_202(emulator_wire: EmbeddedEmulator, session: requests.Session) -> None:
    headers = {"client-request-id": CRID, "return-client-request-id": "False",
               "ocp-date": "Tue, 03 Feb 2026 18:19:59 GMT",
               "Content-Type": "application/json; odata=minimalmetadata"}
    r = _post(emulator_wire, session, path="/pools/pool-cs/nodes/idle-4/reimage", headers=headers, data=b"{}")
    assert r.status_code == 202
    assert "client-request-id" not in r.headers


def test_crid_any_string_2025_accepted(emulator_wire: EmbeddedEmulator, session: requests.Session) -> None:
    r = _post(emulator_wire, session, path="/pools/pool-cs/nodes/idle-4/reimage", query=f"api-version={V25}",
              headers={"client-request-id": "Sanitized"})
    assert r.status_code == 202


@pytest.mark.parametrize("path", ["/pools/pool-cs/nodes/idle-1/reimage", "/pools/nope/nodes/x/reimage"])
def test_crid_return_true_echoed_on_202_and_error(emulator_wire: EmbeddedEmulator,
                                                  session: requests.Session, path: str) -> None:
    r = _post(emulator_wire, session, path=path, headers={"client-request-id": CRID,
                                                          "return-client-request-id": "TRUE"})
    assert r.headers["client-request-id"] == CRID


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "InvalidRequestBody"),
    (b"[]", 400, "InvalidRequestBody"),
    (b'"requeue"', 400, "InvalidRequestBody"),
    (b"\xff\xfe", 400, "InvalidRequestBody"),
    (b'{"nodeReimageOption": "Requeue"}', 400, "InvalidPropertyValue"),
    (b'{"nodeReimageOption": 1}', 400, "InvalidPropertyValue"),
    (b'{"nodeReimageOption": {}}', 400, "InvalidPropertyValue"),
    (b"{" + b" " * (1 << 20) + b"}", 413, "RequestBodyTooLarge"),
])
def test_reimage_bad_body_error(emulator_wire: EmbeddedEmulator, session: requests.Session, body: bytes,
                                status: int, code: str) -> None:
    r = _post(emulator_wire, session, data=body, headers={"Content-Type": "application/json"})
    values = _assert_batch_error(r, status, code).get("values")
    if code == "RequestBodyTooLarge":
        assert values == [{"key": "MaxLimit", "value": "1048576"}]
    if code == "InvalidPropertyValue":
        assert values[0] == {"key": "PropertyName", "value": "nodeReimageOption"}


@pytest.mark.parametrize("body", [None, b"", b"{}", b'{"nodeReimageOption": null}', b'{"extra": 1}',
                                  b'{"nodeReimageOption": "retaineddata"}'])
def test_reimage_empty_or_valid_body_202(emulator_wire: EmbeddedEmulator, session: requests.Session,
                                         body: bytes | None) -> None:
    r = _post(emulator_wire, session, path="/pools/pool-cs/nodes/idle-3/reimage", data=body)
    assert r.status_code == 202


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_reimage_other_method_405(emulator_wire: EmbeddedEmulator, session: requests.Session,
                                  method: str) -> None:
    r = session.request(method, f"{emulator_wire.url}/pools/pool-cs/nodes/idle-1/reimage?api-version={V18}")
    _assert_batch_error(r, 405, "UnsupportedHttpVerb")
    assert r.headers["Allow"] == "POST"


@pytest.mark.parametrize("path", ["/", "/pools/p/nodes/n/reboot", "/pools/pool-cs/nodes/idle-1/reimage/x"])
def test_unknown_path_404_resource_not_found(emulator_wire: EmbeddedEmulator, session: requests.Session,
                                             path: str) -> None:
    _assert_batch_error(session.post(f"{emulator_wire.url}{path}?api-version={V18}"), 404, "ResourceNotFound")


def test_get_pools_lists_inventory(emulator_wire: EmbeddedEmulator, session: requests.Session) -> None:
    r = session.get(f"{emulator_wire.url}/pools?api-version={V18}")
    assert r.status_code == 200 and GUID.match(r.headers["request-id"])
    pools = {p["id"]: p for p in r.json()["value"]}
    assert "cloudServiceConfiguration" in pools["pool-cs"]
    assert "virtualMachineConfiguration" in pools["pool-vm"]


def test_get_nodes_lists_states(emulator_wire: EmbeddedEmulator, session: requests.Session) -> None:
    r = session.get(f"{emulator_wire.url}/pools/POOL-CS/nodes?api-version={V18}")
    states = {n["id"]: n["state"] for n in r.json()["value"]}
    assert states["node-unusable"] == "unusable"
    assert states["node-upgradingos"] == "unknown"  # not a state of 2023-11-01.18.0
    r = session.get(f"{emulator_wire.url}/pools/pool-cs/nodes?api-version={V25}")
    assert {n["id"]: n["state"] for n in r.json()["value"]}["node-upgradingos"] == "upgradingos"


def test_get_node_unknown_node_404(emulator_wire: EmbeddedEmulator, session: requests.Session) -> None:
    r = session.get(f"{emulator_wire.url}/pools/pool-cs/nodes/IDLE-1?api-version={V18}")
    _assert_batch_error(r, 404, "NodeNotFound")
