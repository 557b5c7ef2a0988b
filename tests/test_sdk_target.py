"""The SDK target: azure-batch 14.1.0 against the embedded emulator, correct and with faults, judged on the wire."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import conformance.checks.sdk  # noqa: F401 - registers the SDK-level checks
from conformance import checks
from conformance.config import KEY_ENV, Settings
from conformance.emulator import AuthConfig, EmbeddedEmulator
from conformance.inventory import Inventory, default_inventory, parse_inventory
from conformance.models import Request, RequirementFailure, UsageError
from conformance.rules import AUTH_DIRECTIVE_HEADER
from conformance.run.session import Session, new_run
from conformance.run.setup import NOT_APPLICABLE_KEY
from conformance.strategies import BIG_BODY, CONTENT_TYPE
from conformance.targets.base import ChangedOnTheWire, NotExpressible
from conformance.targets.sdk import CHANGED, SdkResponse, SdkTarget, wire_mismatch
from conformance.targets.sdk import INEXPRESSIBLE as NOT_EXPRESSIBLE

from conftest import run_suite

V18 = "2023-11-01.18.0"
Q = (("api-version", V18),)
CT = ("Content-Type", CONTENT_TYPE)  # the SDK always sends one: without it, it would add its own
GUID = "9c4f3e1a-8d2b-4c5e-9f1a-2b3c4d5e6f70"
SDK_REQUIREMENTS = ("SDK-ERROR-CODE", "SDK-ACCEPT-RETURNS")


def _expendable() -> Inventory:
    doc = default_inventory().to_json()
    for pool in doc["pools"]:
        for node in pool["nodes"]:
            node["expendable"] = True
    return parse_inventory(doc, source="test inventory")


def _settings(url: str, **kw: object) -> Settings:
    return Settings(target="sdk+" + url, api_version=V18, allow_destructive=True, max_reimages=1000,
                    **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmbeddedEmulator]:
    with EmbeddedEmulator(inventory=_expendable()) as emu:
        yield emu


@pytest.fixture
def target(emulator: EmbeddedEmulator) -> Iterator[SdkTarget]:
    sdk = SdkTarget(emulator.url, _settings(emulator.url))
    yield sdk
    sdk.close()


def _session(emu: EmbeddedEmulator) -> Session:
    settings = _settings(emu.url)
    target = SdkTarget(emu.url, settings)
    return Session(settings, target, _expendable(), new_run(settings, "sdk+" + emu.url, "test"))


def test_sdk_target_valid_reimage_202_sdk_returned(target: SdkTarget) -> None:
    answer = target.send(Request("pool-cs", "idle-1", query=(*Q, ("timeout", "20")),
                                 body=b'{"nodeReimageOption": "taskcompletion"}',
                                 headers=(("client-request-id", GUID), ("return-client-request-id", "true"), CT)))
    assert isinstance(answer, SdkResponse) and answer.sdk is not None
    assert answer.status == 202 and answer.sdk.returned and answer.header("client-request-id") == GUID


def test_sdk_target_unknown_pool_404_sdk_raised_wire_code(target: SdkTarget) -> None:
    answer = target.send(Request("no-such-pool", "idle-1", query=Q, headers=(CT,)))
    assert isinstance(answer, SdkResponse) and answer.sdk is not None
    assert answer.status == 404 and answer.json()["code"] == "PoolNotFound"
    assert answer.sdk.exception == "BatchErrorException" and answer.sdk.error_code == "PoolNotFound"


INEXPRESSIBLE = {
    "bad-json": Request("pool-cs", "idle-2", query=Q, body=b'{"nodeReimageOption":'),
    "empty-object": Request("pool-cs", "idle-2", query=Q, body=b"{}"),
    "option-case": Request("pool-cs", "idle-2", query=Q, body=b'{"nodeReimageOption":"Requeue"}'),
    "option-number": Request("pool-cs", "idle-2", query=Q, body=b'{"nodeReimageOption":1}'),
    "extra-property": Request("pool-cs", "idle-2", query=Q, body=b'{"nodeReimageOption":"requeue","x":1}'),
    "no-api-version": Request("pool-cs", "idle-2"),
    "other-api-version": Request("pool-cs", "idle-2", query=(("api-version", "2024-07-01.20.0"),)),
    "timeout-text": Request("pool-cs", "idle-2", query=(*Q, ("timeout", "ten"))),
    "timeout-padded": Request("pool-cs", "idle-2", query=(*Q, ("timeout", "05"))),
    "duplicate-query": Request("pool-cs", "idle-2", query=(*Q, *Q)),
    "return-crid-yes": Request("pool-cs", "idle-2", query=Q, headers=(("return-client-request-id", "yes"),)),
    "ocp-date-iso": Request("pool-cs", "idle-2", query=Q, headers=(("ocp-date", "2026-02-03T18:19:59Z"),)),
    "ocp-date-utc": Request("pool-cs", "idle-2", query=Q, headers=(("ocp-date", "Tue, 03 Feb 2026 18:19:59 UTC"),)),
    "crid-newline": Request("pool-cs", "idle-2", query=Q, headers=(("client-request-id", "a\r\nb"),)),
    "other-header": Request("pool-cs", "idle-2", query=Q, headers=(("If-Match", "*"),)),
    "text-content-type": Request("pool-cs", "idle-2", query=Q, headers=(("Content-Type", "text/plain"),)),
    "given-authorization": Request("pool-cs", "idle-2", query=Q, headers=(("Authorization", "SharedKey a:b"),)),
    "put": Request("pool-cs", "idle-2", method="PUT", query=Q),
    "get-reimage": Request("pool-cs", "idle-2", method="GET", query=Q),
    "empty-pool-id": Request("", "idle-2", query=Q),
}


@pytest.mark.parametrize("request_", INEXPRESSIBLE.values(), ids=INEXPRESSIBLE.keys())
def test_sdk_target_inexpressible_input_raises_nothing_sent(target: SdkTarget, emulator: EmbeddedEmulator,
                                                            request_: Request) -> None:
    sent, accepted = target.sent, emulator.app.accepted
    with pytest.raises(NotExpressible):
        target.send(request_)
    assert target.sent == sent and emulator.app.accepted == accepted


def test_sdk_target_get_node_plain_http_200(target: SdkTarget) -> None:
    answer = target.send(Request("", "", method="GET", query=Q, path="/pools/pool-cs/nodes/running-1"))
    assert answer.status == 200 and answer.json()["id"] == "running-1" and not isinstance(answer, SdkResponse)


def test_sdk_target_other_api_version_usage_error(emulator: EmbeddedEmulator) -> None:
    with pytest.raises(UsageError, match=V18):
        SdkTarget(emulator.url, Settings(target="sdk+x", api_version="2025-06-01"))


def test_sdk_target_shared_key_sdk_signer_verified_and_directives(monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(b"sdk-target-key" * 3).decode()
    monkeypatch.setenv(KEY_ENV, key)
    with EmbeddedEmulator(auth=AuthConfig("acct", key)) as emu:
        sdk = SdkTarget(emu.url, Settings(target="sdk+x", api_version=V18, auth="sharedkey", account_name="acct"))
        assert sdk.send(Request("pool-cs", "idle-1", query=Q, headers=(CT,))).status == 202
        assert sdk.send(Request("", "", method="GET", query=Q, path="/pools")).status == 200
        omit = Request("pool-cs", "idle-2", query=Q, headers=((AUTH_DIRECTIVE_HEADER, "omit"), CT))
        assert sdk.send(omit).json()["code"] == "MissingRequiredHeader"
        bad = Request("pool-cs", "idle-2", query=Q, headers=((AUTH_DIRECTIVE_HEADER, "bad-signature"), CT))
        assert sdk.send(bad).status == 403
        sdk.close()


CORRECT = [
    Request("pool-cs", "idle-3", query=Q, headers=(CT,)),
    Request("POOL-CS", "running-1", query=Q, body=b'{"nodeReimageOption": "retaineddata"}', headers=(CT,)),
    Request("no-such-pool", "idle-1", query=Q, headers=(CT,)),
    Request("pool-cs", "no-such-node", query=Q, headers=(CT,)),
    Request("pool-cs", "node-unusable", query=Q, headers=(CT,)),
    Request("pool-cs", "idle-1", query=Q, headers=(("client-request-id", "not-a-guid"), CT)),
    Request("pool-cs", "idle-1", query=(*Q, ("timeout", "99999999999")), headers=(CT,)),
]


def test_sdk_requirements_correct_emulator_decided_and_pass() -> None:
    with EmbeddedEmulator(inventory=_expendable()) as emu:
        session = _session(emu)
        decided = dict.fromkeys(SDK_REQUIREMENTS, 0)
        for request in CORRECT:
            exchange = session.exchange(request)
            for rid in (*SDK_REQUIREMENTS, "RSP-202-REQUEST-ID", "ERR-BODY-SCHEMA", "SEM-POOL-NOT-FOUND"):
                if checks.evaluate(rid, exchange) and rid in decided:
                    decided[rid] += 1
        session.target.close()
    assert decided == {"SDK-ERROR-CODE": 5, "SDK-ACCEPT-RETURNS": 2}


@pytest.mark.parametrize(("fault", "requirement", "request_"), [
    ("error-message-string", "SDK-ERROR-CODE", Request("no-such-pool", "idle-1", query=Q, headers=(CT,))),
    ("error-content-type-text", "SDK-ERROR-CODE", Request("pool-cs", "node-unusable", query=Q, headers=(CT,))),
    ("last-modified-iso-202", "SDK-ACCEPT-RETURNS", Request("pool-cs", "idle-4", query=Q, headers=(CT,))),
    ("no-request-id-202", "RSP-202-REQUEST-ID", Request("pool-cs", "idle-4", query=Q, headers=(CT,))),
    ("unknown-pool-accepted", "SEM-POOL-NOT-FOUND", Request("no-such-pool", "idle-1", query=Q, headers=(CT,))),
])
def test_sdk_target_emulator_fault_caught(fault: str, requirement: str, request_: Request) -> None:
    with EmbeddedEmulator(inventory=_expendable(), fault=fault) as emu:
        session = _session(emu)
        exchange = session.exchange(request_)
        session.target.close()
    with pytest.raises(RequirementFailure) as info:
        checks.evaluate(requirement, exchange)
    assert info.value.requirement == requirement


def test_sdk_checks_http_target_not_applicable() -> None:
    with EmbeddedEmulator() as emu:
        settings = Settings(api_version=V18)
        from conformance.targets.http import HttpTarget

        target = HttpTarget(emu.url)
        session = Session(settings, target, default_inventory(), new_run(settings, "embedded", "test"))
        exchange = session.exchange(Request("no-such-pool", "idle-1", query=Q))
        target.close()
    assert not any(checks.evaluate(rid, exchange) for rid in SDK_REQUIREMENTS)


def test_sdk_target_run_through_cli_wire_requirements_pass(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(_expendable().to_json()))
    with EmbeddedEmulator(inventory=_expendable()) as emu:
        run = run_suite(tmp_path / "report", "--target", "sdk+" + emu.url, "--inventory", str(inventory),
                        "--allow-destructive", "--max-reimages", "50", "--only", "SEM-NODE-NOT-FOUND", "--only",
                        "RSP-202-REQUEST-ID")
    assert run.code == 0
    assert {rid: r["status"] for rid, r in run.requirements.items()} == {"SEM-NODE-NOT-FOUND": "pass",
                                                                        "RSP-202-REQUEST-ID": "pass"}


@pytest.mark.parametrize(("fault", "expected"), [
    (None, {"SDK-ERROR-CODE": "pass", "SDK-ACCEPT-RETURNS": "pass", "SEM-BAD-BODY": "not-applicable"}),
    ("error-message-string", {"SDK-ERROR-CODE": "fail", "SDK-ACCEPT-RETURNS": "pass"}),
    ("last-modified-iso-202", {"SDK-ERROR-CODE": "pass", "SDK-ACCEPT-RETURNS": "fail"}),
], ids=["correct", "error-message-string", "last-modified-iso-202"])
def test_sdk_run_sdk_requirements_verdicts_inexpressible_skipped(tmp_path: Path, fault: str | None,
                                                                 expected: dict[str, str]) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(_expendable().to_json()))
    with EmbeddedEmulator(inventory=_expendable(), fault=fault) as emu:
        run = run_suite(tmp_path / "r", "--target", "sdk+" + emu.url, "--inventory", str(inventory),
                        "--allow-destructive", "--max-reimages", "100",
                        *(f for rid in expected for f in ("--only", rid)))
    results = run.requirements
    assert {rid: r["status"] for rid, r in results.items()} == expected
    assert results.get("SEM-BAD-BODY", {"examples": 0})["examples"] == 0 and run.code == (0 if fault is None else 1)


# --- judged on the wire -------------------------------------------------------------------------
def test_sdk_target_oversized_body_not_sent_and_counted(target: SdkTarget, emulator: EmbeddedEmulator) -> None:
    sent, accepted = target.sent, emulator.app.accepted
    with pytest.raises(NotExpressible, match=r"as json\.dumps does"):  # azure-batch would send it compacted
        target.send(Request("pool-cs", "idle-2", query=Q, body=BIG_BODY, headers=(CT,)))
    assert (target.sent, emulator.app.accepted) == (sent, accepted)
    assert target.not_applicable == {NOT_EXPRESSIBLE: 1} and target.last_sent is None


def test_sdk_target_header_the_sdk_adds_not_sent_and_counted(target: SdkTarget, emulator: EmbeddedEmulator) -> None:
    sent, accepted = target.sent, emulator.app.accepted
    with pytest.raises(ChangedOnTheWire, match="header Content-Type added"):  # the case sends none; the SDK would
        target.send(Request("pool-cs", "idle-2", query=Q, body=b'{"nodeReimageOption": "requeue"}'))
    assert (target.sent, emulator.app.accepted) == (sent, accepted)
    assert target.not_applicable == {CHANGED: 1} and target.last_sent is None


def test_sdk_session_exchange_judges_the_request_the_sdk_sent() -> None:
    with EmbeddedEmulator(inventory=_expendable()) as emu:
        session = _session(emu)
        generated = Request("pool-cs", "idle-3", query=(("timeout", "20"), *Q), headers=(CT,),
                            body=b'{"nodeReimageOption": "terminate"}')
        exchange = session.exchange(generated)
        session.target.close()
    assert exchange.response.status == 202 and exchange.request != generated
    assert "azure-batch/14.1.0" in (exchange.request.header("User-Agent") or "")
    assert exchange.request.query == (*Q, ("timeout", "20"))  # the SDK's order, not the generated one
    assert exchange.request.body == generated.body and exchange.request.header("Content-Length") == "34"


@pytest.mark.parametrize(("wire_headers", "wire_body", "why"), [
    ((CT, ("Content-Type", "application/json; odata=minimalmetadata; charset=utf-8")), None, "rewritten"),
    ((), None, "header Content-Type dropped"),
    ((CT, ("return-client-request-id", "True")), None, "return-client-request-id added"),
    ((CT,), b'{"nodeReimageOption":"requeue"}', "body re-serialised"),
], ids=["content-type-charset", "content-type-dropped", "header-added", "compact-body"])
def test_wire_mismatch_sdk_changed_input_names_the_change(wire_headers: tuple[tuple[str, str], ...],
                                                          wire_body: bytes | None, why: str) -> None:
    generated = Request("p", "n", query=Q, headers=(CT,), body=b'{"nodeReimageOption": "requeue"}')
    headers = tuple(h for h in wire_headers if h != CT) if why == "rewritten" else wire_headers
    wire = replace(generated, headers=headers, body=wire_body or generated.body)
    assert why in (wire_mismatch(generated, wire) or "")


def test_wire_mismatch_signing_and_framing_headers_are_no_change() -> None:
    generated = Request("p", "n", query=(("timeout", "5"), *Q), headers=(CT,))
    wire = replace(generated, query=(*Q, ("timeout", "5")), body=b"", path="/pools/p/nodes/n/reimage",
                   headers=(("content-type", CONTENT_TYPE), ("User-Agent", "azure-batch/14.1.0"),
                            ("Content-Length", "0"), ("ocp-date", "Tue, 03 Feb 2026 18:19:59 GMT"),
                            ("Authorization", "SharedKey acct:c2lnbmF0dXJl")))
    assert wire_mismatch(generated, wire) is None
    given = replace(generated, headers=(CT, ("ocp-date", "Tue, 03 Feb 2026 18:19:59 GMT"),
                                        ("Authorization", "SharedKey acct:b3RoZXI=")))
    assert wire_mismatch(given, wire) == "header Authorization rewritten: 'SharedKey acct:b3RoZXI=' became " \
                                        "'SharedKey acct:c2lnbmF0dXJl'"


def test_sdk_run_oversized_body_not_applicable_never_failed(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(_expendable().to_json()))
    with EmbeddedEmulator(inventory=_expendable()) as emu:
        run = run_suite(tmp_path / "r", "--target", "sdk+" + emu.url, "--inventory", str(inventory),
                        "--allow-destructive", "--max-reimages", "100", "--only", "SEM-BODY-TOO-LARGE")
    result = run.requirements["SEM-BODY-TOO-LARGE"]
    assert (result["status"], result["failures"], result["examples"], run.code) == ("not-applicable", 0, 0, 0)
    assert run.results["config"][NOT_APPLICABLE_KEY][NOT_EXPRESSIBLE] >= 1  # the oversized body, never sent


@pytest.mark.slow  # the whole suite through azure-batch at --profile standard: about 14 s
def test_sdk_run_standard_correct_server_passes_with_not_applicable_count(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(_expendable().to_json()))
    with EmbeddedEmulator(inventory=_expendable()) as emu:
        run = run_suite(tmp_path / "r", "--target", "sdk+" + emu.url, "--inventory", str(inventory),
                        "--allow-destructive", "--max-reimages", "100000", profile="standard")
    assert (run.code, run.results["verdict"]) == (0, "pass")
    assert [rid for rid, r in run.requirements.items() if r["status"] in ("fail", "error")] == []
    assert {rid: run.requirements[rid]["status"] for rid in SDK_REQUIREMENTS} == dict.fromkeys(SDK_REQUIREMENTS,
                                                                                             "pass")
    counts = run.results["config"][NOT_APPLICABLE_KEY]
    assert counts[CHANGED] > 0 and counts[NOT_EXPRESSIBLE] > 0
    assert counts["cases"] == counts[CHANGED] + counts[NOT_EXPRESSIBLE]
    assert f"{counts['cases']} case(s) not applicable to the SDK target" in capsys.readouterr().out
    assert NOT_APPLICABLE_KEY in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")


def test_session_http_target_judges_the_request_as_signed() -> None:
    from conformance.targets.auth import make_signer
    from conformance.targets.http import HttpTarget

    with EmbeddedEmulator() as emu:
        settings = Settings(api_version=V18)
        target = HttpTarget(emu.url, signer=make_signer(settings))
        session = Session(settings, target, default_inventory(), new_run(settings, "embedded", "test"))
        generated = Request("no-such-pool", "idle-1", query=Q, headers=((AUTH_DIRECTIVE_HEADER, "omit"),))
        exchange = session.exchange(generated)
        target.close()
    assert exchange.request.header(AUTH_DIRECTIVE_HEADER) is None  # the suite's directive never went out
    assert exchange.request == replace(generated, headers=()) and exchange.response.status == 404


def test_sdk_target_inexpressible_request_reads_no_node_and_spends_no_reimage() -> None:
    with EmbeddedEmulator(inventory=_expendable()) as emu:
        settings = Settings(target="sdk+" + emu.url, api_version=V18, allow_destructive=True, max_reimages=1)
        target = SdkTarget(emu.url, settings)
        session = Session(settings, target, _expendable(), new_run(settings, "sdk+" + emu.url, "test"))
        with pytest.raises(NotExpressible):  # it could be accepted, but the SDK cannot send a compact body
            session.exchange(Request("pool-cs", "idle-1", query=Q, body=b'{"nodeReimageOption":"requeue"}'))
        target.close()
    assert target.sent == 0 and session.safety.spent == 0
