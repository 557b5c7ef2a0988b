"""Shared Key signing against azure-batch's own signer, and the emulator's authentication."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyAuth, SharedKeyCredentials
from azure.batch.models import BatchErrorException

from conformance.emulator import AuthConfig, EmbeddedEmulator
from conformance.targets import sharedkey

ACCOUNT = "acct"
KEY = base64.b64encode(b"k" * 64).decode()
OTHER_KEY = base64.b64encode(b"x" * 64).decode()
TOKEN = "token-abc-123"
V18 = "2023-11-01.18.0"


@pytest.fixture(scope="module")
def emulator_auth() -> Iterator[EmbeddedEmulator]:
    config = AuthConfig(ACCOUNT, KEY, frozenset({TOKEN}))
    with EmbeddedEmulator(auth=config) as emu:
        yield emu


def _reimage_url(emu: EmbeddedEmulator, node: str = "idle-1") -> str:
    return f"{emu.url}/pools/pool-cs/nodes/{node}/reimage?api-version={V18}&timeout=30"


@pytest.mark.parametrize(("method", "url", "headers", "body"), [
    ("POST", "http://h/pools/p/nodes/n/reimage?api-version=2023-11-01.18.0&timeout=30", {}, None),
    ("POST", "http://h/pools/P%20x/nodes/n/reimage?timeout=&api-version=v", {"Content-Type": "application/json",
                                                                            "ocp-date": "Tue, 03 Feb 2026 "
                                                                                        "18:19:59 GMT"}, b"{}"),
    ("GET", "http://h/pools?api-version=v&b=2&a=1", {"If-Match": "x", "client-request-id": "c"}, None),
])
def test_sign_equals_azure_batch_signer(method: str, url: str, headers: dict[str, str],
                                        body: bytes | None) -> None:
    prepared = requests.Request(method, url, headers=headers, data=body).prepare()
    SharedKeyAuth("Authorization", ACCOUNT, KEY)(prepared)
    ours = sharedkey.sign(method, prepared.path_url, dict(prepared.headers), ACCOUNT, KEY)
    assert ours == prepared.headers["Authorization"]
    assert sharedkey.verify(method, prepared.path_url, dict(prepared.headers), ours, ACCOUNT, KEY)
    assert not sharedkey.verify(method, prepared.path_url, dict(prepared.headers), ours, ACCOUNT, OTHER_KEY)


def test_auth_shared_key_sdk_session_202(emulator_auth: EmbeddedEmulator) -> None:
    session = SharedKeyCredentials(ACCOUNT, KEY).signed_session()
    r = session.post(_reimage_url(emulator_auth), json={"nodeReimageOption": "requeue"})
    assert r.status_code == 202, r.text


def test_auth_azure_batch_client_reimage_accepted(emulator_auth: EmbeddedEmulator) -> None:
    client = BatchServiceClient(SharedKeyCredentials(ACCOUNT, KEY), batch_url=emulator_auth.url)
    client.compute_node.reimage("POOL-CS", "idle-2", node_reimage_option="terminate")
    with pytest.raises(BatchErrorException) as info:
        client.compute_node.reimage("pool-cs", "missing-node")
    assert info.value.error.code == "NodeNotFound"


def test_auth_missing_400_missing_required_header(emulator_auth: EmbeddedEmulator) -> None:
    r = requests.post(_reimage_url(emulator_auth))
    assert (r.status_code, r.json()["code"]) == (400, "MissingRequiredHeader")
    assert r.json()["values"] == [{"key": "HeaderName", "value": "Authorization"}]


@pytest.mark.parametrize("auth", [
    SharedKeyCredentials(ACCOUNT, OTHER_KEY).auth,
    SharedKeyCredentials("other", KEY).auth,
])
def test_auth_bad_shared_key_403_authentication_failed(emulator_auth: EmbeddedEmulator, auth: object) -> None:
    r = requests.post(_reimage_url(emulator_auth), auth=auth)  # type: ignore[arg-type]
    assert (r.status_code, r.json()["code"]) == (403, "AuthenticationFailed")


def test_auth_signature_of_other_request_403(emulator_auth: EmbeddedEmulator) -> None:
    header = sharedkey.sign("POST", "/pools/pool-cs/nodes/idle-3/reimage?api-version=" + V18, {}, ACCOUNT, KEY)
    r = requests.post(_reimage_url(emulator_auth), headers={"Authorization": header})
    assert r.status_code == 403


@pytest.mark.parametrize(("value", "status"), [(f"Bearer {TOKEN}", 202), ("Bearer nope", 403),
                                               ("Basic dXNlcjpwYXNz", 403), ("SharedKey garbage", 403)])
def test_auth_authorization_scheme_outcome(emulator_auth: EmbeddedEmulator, value: str, status: int) -> None:
    r = requests.post(_reimage_url(emulator_auth, "idle-4"), headers={"Authorization": value})
    assert r.status_code == status


def test_auth_config_repr_hides_secrets() -> None:
    text = repr(AuthConfig(ACCOUNT, KEY, frozenset({TOKEN})))
    assert KEY not in text and TOKEN not in text
