"""Every requirement's check fails on a violating exchange and passes on a conforming one."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import pytest

from conformance.checks import CHECKS, evaluate
from conformance.inventory import Inventory, Node, Pool, default_inventory
from conformance.models import (
    Exchange,
    NodeView,
    Observations,
    Overlap,
    Request,
    RequirementFailure,
    Response,
    TaskView,
)
from conformance.oracle import Oracle
from conformance.rules import AUTH_BAD_SIGNATURE, AUTH_DIRECTIVE_HEADER, AUTH_OMIT
from conformance.spec import catalogue, limits

from conftest import real_sample

V = "2023-11-01.18.0"
RID = "56d490fb-cabb-4953-95f1-4f7bb3c916ab"
CRID = "fb4b9c35-4d31-11ee-9667-20c19bdc434a"
ERROR_CT = ("Content-Type", "application/json;odata=minimalmetadata")


def load_sample(name: str) -> tuple[Request, Response, str]:
    """A recorded live exchange as a normalised Request and Response."""
    raw = real_sample(name)
    url = urlsplit(raw["request"]["uri"])
    req_body = raw["request"].get("body_json")
    request = Request("", "", method=raw["request"]["method"], query=tuple(parse_qsl(url.query)),
                      headers=tuple(raw["request"]["headers"].items()),
                      body=None if req_body is None else json.dumps(req_body).encode(), path=url.path)
    resp = raw["response"]
    body = resp.get("body_json")
    data = json.dumps(body).encode() if body is not None else (resp.get("body") or "").encode()
    response = Response(resp["status"], tuple(resp["headers"].items()), data)
    return request, response, raw["source"]["api_version"]


def sample_exchange(name: str, inventory: Inventory | None = None, *, auth: bool | None = False) -> Exchange:
    """Pair a sample with the oracle's expectation (api-versions the suite does not know use the default)."""
    request, response, version = load_sample(name)
    version = version if version in ("2023-05-01.17.0", "2025-06-01") else V
    oracle = Oracle(inventory, version, auth_enforced=auth)
    return Exchange(request, response, oracle.expect(request), version, "", Observations(auth_enforced=auth))


def reimage_202() -> Exchange:
    request, _, _ = load_sample("reimage-202_2025-06-01.json")
    pool, node = request.target_path.split("/")[2], request.target_path.split("/")[4]
    inv = Inventory((Pool(pool, "virtualMachineConfiguration", (Node(node, "idle", True),)),))
    return sample_exchange("reimage-202_2025-06-01.json", inv)


def vm_409() -> Exchange:
    request, _, _ = load_sample("reimage-409-vm-pool_2023-05-01.17.0.json")
    pool, node = request.target_path.split("/")[2], request.target_path.split("/")[4]
    inv = Inventory((Pool(pool, "virtualMachineConfiguration", (Node(node, "idle", True),)),))
    return sample_exchange("reimage-409-vm-pool_2023-05-01.17.0.json", inv)


def req(pool: str = "pool-cs", node: str = "idle-1", *, query: tuple[tuple[str, str], ...] | None = None,
        headers: tuple[tuple[str, str], ...] = (), body: bytes | None = None, method: str = "POST") -> Request:
    """A request at the default version, valid unless told otherwise."""
    if body:
        headers += (("Content-Type", "application/json; odata=minimalmetadata"),)
    return Request(pool, node, method=method, query=(("api-version", V),) if query is None else query,
                   headers=headers, body=body)


def ok202(request: Request | None = None, extra: tuple[tuple[str, str], ...] = (), body: bytes = b"",
          status: int = 202) -> Response:
    """A 202 as the live service sends it."""
    path = (request or req()).target_path
    return Response(status, (("request-id", RID), ("DataServiceId", f"https://acct.region.batch.azure.com{path}"),
                             *extra), body)


def err(status: int, code: str, *, rid: str = RID, message: str | None = None,
        headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """A BatchError response as the live service sends it."""
    text = message if message is not None else f"Text.\nRequestId:{rid}\nTime:2026-01-22T20:18:17.6076943Z"
    body = {"odata.metadata": "https://a.b.batch.azure.com/$metadata#errors/@Element", "code": code,
            "message": {"lang": "en-US", "value": text}}
    return Response(status, (ERROR_CT, ("request-id", rid), *headers), json.dumps(body).encode())


NULL_OPTION = b'{"nodeReimageOption": null}'


def after_first(first: Response, response: Response) -> Exchange:
    """A null option answered `response` after the target answered the same input `first` on another node."""
    oracle = Oracle(default_inventory(), V, auth_enforced=False)
    oracle.observe(req(node="idle-2", body=NULL_OPTION), first)
    request = req(body=NULL_OPTION)
    return Exchange(request, response, oracle.expect(request), V, "", Observations(auth_enforced=False))


def ex(request: Request, response: Response, *, auth: bool | None = False, version: str = V,
       before: NodeView | None = None, after: NodeView | None = None, burst: Overlap | None = None) -> Exchange:
    """An exchange judged by a fresh oracle over the default inventory."""
    expectation = Oracle(default_inventory(), version, auth_enforced=auth).expect(request)
    observed = Observations(auth_enforced=auth, node_before=before, node_after=after, burst=burst)
    return Exchange(request, response, expectation, version, "", observed)


ECHO = (("client-request-id", CRID), ("return-client-request-id", "true"))
BIG = b'{"nodeReimageOption": "requeue"' + b" " * limits()[0] + b"}"
TERMINATE = req("pool-cs", "running-1", body=b'{"nodeReimageOption": "terminate"}')
RUNNING_BEFORE = NodeView("running", tasks=(TaskView("task-1", "running"),))

Pair = tuple[Callable[[], Exchange], Callable[[], Exchange]]
CASES: dict[str, Pair] = {
    "RSP-202-STATUS": (lambda: ex(req(), ok202(status=200)), reimage_202),
    "RSP-202-REQUEST-ID": (lambda: ex(req(), Response(202, (("request-id", "abc"), ("DataServiceId", "x")))),
                           reimage_202),
    "RSP-202-DATASERVICEID": (lambda: ex(req(), Response(202, (("request-id", RID),))), reimage_202),
    "RSP-202-DATASERVICEID-URL": (lambda: ex(req(), Response(202, (("request-id", RID), (
        "DataServiceId", "https://a/pools/pool-cs/nodes/idle-2/reimage?api-version=x")))), reimage_202),
    "RSP-CRID-ECHO": (lambda: ex(req(headers=ECHO), ok202()),
                      lambda: ex(req(headers=ECHO), ok202(extra=(("client-request-id", CRID),)))),
    "RSP-CRID-NOT-ECHOED": (lambda: ex(req(headers=ECHO[:1]), ok202(extra=(("client-request-id", CRID),))),
                            vm_409),
    "RSP-202-LAST-MODIFIED": (lambda: ex(req(), ok202(extra=(("Last-Modified", "2026-02-03T18:19:59Z"),))),
                              lambda: ex(req(), ok202(extra=(("Last-Modified", "Tue, 03 Feb 2026 18:19:59 GMT"),)))),
    "RSP-202-ETAG": (lambda: ex(req(), ok202(extra=(("ETag", ""),))),
                     lambda: ex(req(), ok202(extra=(("ETag", '"0x8DC"'),)))),
    "RSP-202-EMPTY-BODY": (lambda: ex(req(), ok202(body=b'{"state": "reimaging"}')), reimage_202),
    "ERR-CONTENT-TYPE": (lambda: ex(req("nope"), Response(404, (("Content-Type", "text/html"), ("request-id", RID)),
                                                          err(404, "PoolNotFound").body)), vm_409),
    "ERR-BODY-SCHEMA": (lambda: ex(req("nope"), Response(404, (ERROR_CT, ("request-id", RID)),
                                                         b'{"error": {"code": "PoolNotFound"}}')),
                        lambda: sample_exchange("missing-auth-400_2020-09-01.12.0.json")),
    "ERR-REQUEST-ID": (lambda: ex(req("nope"), Response(404, (ERROR_CT,), err(404, "PoolNotFound").body)),
                       lambda: sample_exchange("get-pool-404-PoolNotFound_2025-06-01.json")),
    "ERR-MESSAGE-REQUEST-ID": (lambda: ex(req("nope"), err(404, "PoolNotFound", message="The pool does not exist.")),
                               lambda: sample_exchange("get-pool-404-PoolNotFound_2025-06-01.json")),
    "ERR-CODE-EXPECTED": (lambda: ex(req("nope"), err(404, "NodeNotFound")), vm_409),
    "NO-SERVER-ERROR": (lambda: ex(req(), err(500, "InternalError")),
                        lambda: ex(req("nope"), err(404, "PoolNotFound"))),
    "SEM-ACCEPT": (lambda: ex(req(), err(400, "InvalidInput")), reimage_202),
    "SEM-NO-BODY": (lambda: ex(req(body=b"{}"), err(400, "InvalidRequestBody")), reimage_202),
    "SEM-POOL-NOT-FOUND": (lambda: ex(req("nope"), ok202()), lambda: ex(req("nope"), err(404, "PoolNotFound"))),
    "SEM-NODE-NOT-FOUND": (lambda: ex(req(node="nope"), err(409, "NodeBeingCreated")),
                           lambda: ex(req(node="nope"), err(404, "NodeNotFound"))),
    "SEM-POOL-ID-CASE": (lambda: ex(req("POOL-CS"), err(404, "PoolNotFound")), lambda: ex(req("POOL-CS"), ok202())),
    "SEM-POOL-CONFIG": (lambda: ex(req("pool-vm", "vm-idle-1"), ok202()), vm_409),
    "SEM-NODE-STATE": (lambda: ex(req(node="node-rebooting"), ok202()),
                       lambda: ex(req(node="node-rebooting"), err(409, "NodeBeingRebooted"))),
    "SEM-CONCURRENT-REIMAGE": (lambda: ex(req(), ok202(), burst=Overlap((202, 202, 409), 0.01, 0.5)),
                               lambda: ex(req(), ok202(), burst=Overlap((202, 409, 409), 0.01))),
    "SEM-CONSISTENT": (lambda: after_first(ok202(), err(400, "InvalidPropertyValue")),
                       lambda: after_first(ok202(), ok202())),
    "SEM-BAD-OPTION": (lambda: ex(req(body=b'{"nodeReimageOption": "reboot"}'), ok202()),
                       lambda: ex(req(body=b'{"nodeReimageOption": "Requeue"}'), err(400, "InvalidPropertyValue"))),
    "SEM-UNKNOWN-PROPERTY": (lambda: ex(req(body=b'{"foo": 1}'), err(409, "NodeBeingCreated")),
                             lambda: ex(req(body=b'{"foo": 1}'), err(400, "UnsupportedProperty"))),
    "SEM-BAD-BODY": (lambda: ex(req(body=b"{"), ok202()), lambda: ex(req(body=b"{"), err(400, "InvalidRequestBody"))),
    "SEM-BODY-TOO-LARGE": (lambda: ex(req(body=BIG), ok202()),
                           lambda: ex(req(body=BIG), err(413, "RequestBodyTooLarge"))),
    "SEM-TIMEOUT-VALID": (lambda: ex(req(query=(("api-version", V), ("timeout", "10"))), err(400, "InvalidInput")),
                          lambda: ex(req(query=(("api-version", V), ("timeout", "10"))), ok202())),
    "SEM-TIMEOUT-INVALID": (lambda: ex(req(query=(("api-version", V), ("timeout", "abc"))), ok202()),
                            lambda: ex(req(query=(("api-version", V), ("timeout", "abc"))),
                                       err(400, "InvalidQueryParameterValue"))),
    "SEM-BAD-HEADER": (lambda: ex(req(headers=(("client-request-id", "not-a-guid"),)), ok202()),
                       lambda: ex(req(headers=(("client-request-id", "not-a-guid"),)), err(400, "InvalidHeaderValue"))),
    "SEM-API-VERSION-MISSING": (lambda: ex(req(query=()), ok202()),
                                lambda: ex(req(query=()), err(400, "MissingRequiredQueryParameter"))),
    "SEM-API-VERSION-UNKNOWN": (lambda: ex(req(query=(("api-version", "latest"),)), ok202()),
                                lambda: ex(req(query=(("api-version", "latest"),)),
                                           err(400, "UnsupportedRequestVersion"))),
    "SEM-METHOD": (lambda: ex(req(method="GET"), Response(200, (("request-id", RID),), b"{}")),
                   lambda: ex(req(method="GET"), err(405, "UnsupportedHttpVerb"))),
    "SEM-STATE-AFTER": (lambda: ex(req(), ok202(), after=NodeView("unusable")),
                        lambda: ex(req(), ok202(), after=NodeView("reimaging"))),
    "SEM-OPTION-EFFECT": (
        lambda: ex(TERMINATE, ok202(TERMINATE), before=RUNNING_BEFORE,
                   after=NodeView("reimaging", tasks=(TaskView("task-1", "active"),))),
        lambda: ex(TERMINATE, ok202(TERMINATE), before=RUNNING_BEFORE,
                   after=NodeView("reimaging", tasks=(TaskView("task-1", "completed"),)))),
    "AUTH-MISSING": (lambda: ex(req(headers=((AUTH_DIRECTIVE_HEADER, AUTH_OMIT),)), ok202(), auth=True),
                     lambda: ex(req(headers=((AUTH_DIRECTIVE_HEADER, AUTH_OMIT),)),
                                load_sample("missing-auth-400_2020-09-01.12.0.json")[1], auth=True)),
    "AUTH-BAD-SIGNATURE": (lambda: ex(req(headers=((AUTH_DIRECTIVE_HEADER, AUTH_BAD_SIGNATURE),)), ok202(), auth=True),
                           lambda: ex(req(headers=((AUTH_DIRECTIVE_HEADER, AUTH_BAD_SIGNATURE),)),
                                      err(403, "AuthenticationFailed"), auth=True)),
}


OWN_CATEGORIES = ("response", "error", "semantics", "auth")  # other layers register sdk / spec-driven checks


def test_cases_cover_every_catalogue_requirement_of_these_categories() -> None:
    own = {r.id for r in catalogue().values() if r.category in OWN_CATEGORIES}
    assert set(CASES) == own
    assert own <= set(CHECKS)


@pytest.mark.parametrize("requirement", sorted(CASES))
def test_check_violating_exchange_fails(requirement: str) -> None:
    with pytest.raises(RequirementFailure) as info:
        evaluate(requirement, CASES[requirement][0]())
    assert info.value.requirement == requirement
    assert "Sent:" in info.value.detail and "Expected:" in info.value.detail


@pytest.mark.parametrize("requirement", sorted(CASES))
def test_check_conforming_exchange_passes(requirement: str) -> None:
    assert evaluate(requirement, CASES[requirement][1]()) is True


@pytest.mark.parametrize("answer", [err(503, "ServerBusy"), err(500, "OperationTimedOut"), Response(429)],
                         ids=["503-ServerBusy", "500-OperationTimedOut", "429"])
@pytest.mark.parametrize("requirement", ["NO-SERVER-ERROR", "SEM-ACCEPT", "SEM-POOL-NOT-FOUND"])
def test_check_transient_answer_decides_nothing(requirement: str, answer: Response) -> None:
    request = req("nope") if requirement == "SEM-POOL-NOT-FOUND" else req()
    assert evaluate(requirement, ex(request, answer)) is False


def test_consistent_first_answer_to_an_input_is_not_judged() -> None:
    request = req(body=NULL_OPTION)
    exchange = Exchange(request, err(400, "InvalidPropertyValue"), Oracle(default_inventory(), V).expect(request), V)
    assert evaluate("SEM-CONSISTENT", exchange) is False


def test_consistent_input_with_another_open_point_is_not_judged() -> None:
    oracle = Oracle(default_inventory(), V, auth_enforced=False)
    oracle.observe(req(node="idle-2", body=NULL_OPTION), ok202())
    request = req(body=NULL_OPTION, query=(("api-version", V), ("timeout", "0")))
    exchange = Exchange(request, err(400, "InvalidQueryParameterValue"), oracle.expect(request), V)
    assert evaluate("SEM-CONSISTENT", exchange) is False
