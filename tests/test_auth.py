"""Signers for real targets: Shared Key equal to azure-batch's and accepted by the emulator; tokens; directives."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from azure.batch.batch_auth import SharedKeyAuth

from conformance.config import KEY_ENV, TOKEN_ENV, Settings
from conformance.emulator import AuthConfig, EmbeddedEmulator
from conformance.models import Request, UsageError
from conformance.redaction import REDACTED, redact_text
from conformance.rules import AUTH_DIRECTIVE_HEADER, BAD_SIGNATURES
from conformance.targets.auth import EntraTokens, make_signer, wire_headers
from conformance.targets.http import HttpTarget

ACCOUNT = "acct"
KEY = base64.b64encode(b"auth-test-key-" * 4).decode()
TOKEN = "bearer-token-for-auth-tests-0123456789"
V18 = "2023-11-01.18.0"
Q = (("api-version", V18),)
SHARED = Settings(auth="sharedkey", account_name=ACCOUNT)


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmbeddedEmulator]:
    with EmbeddedEmulator(auth=AuthConfig(ACCOUNT, KEY, frozenset({TOKEN}))) as emu:
        yield emu


REQUESTS = [
    Request("pool-cs", "idle-1", query=Q),
    Request("pool-cs", "idle-1", query=(*Q, ("timeout", "12")), body=b'{"nodeReimageOption":"terminate"}',
            headers=(("Content-Type", "application/json; odata=minimalmetadata"),
                     ("client-request-id", "9c4f3e1a-8d2b-4c5e-9f1a-2b3c4d5e6f70"))),
    Request("Pool A/b", "n\u00e9", query=Q, body=b"", headers=(("ocp-date", "Tue, 03 Feb 2026 18:19:59 GMT"),)),
    Request("", "", method="GET", query=Q, path="/pools/pool-cs/nodes"),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=["no-body", "option-timeout", "odd-ids", "get"])
def test_shared_key_signer_equals_azure_batch_signer_on_same_request(key_env: None, request_: Request) -> None:
    signed = make_signer(SHARED)(request_, "https://acct.westeurope.batch.azure.com")
    ours = signed.header("Authorization")
    headers = {k: v for k, v in wire_headers(signed) if k != "Authorization"}
    prepared = requests.Request(signed.method, "https://acct.westeurope.batch.azure.com" + signed.path_and_query,
                                headers=headers, data=signed.body).prepare()
    SharedKeyAuth("Authorization", ACCOUNT, KEY)(prepared)
    assert ours is not None and ours == prepared.headers["Authorization"]


def test_shared_key_signer_adds_ocp_date_only_when_absent(key_env: None) -> None:
    signer = make_signer(SHARED)
    added = signer(REQUESTS[0], "http://h").header("ocp-date")
    assert added is not None and added.endswith(" GMT")
    assert signer(REQUESTS[2], "http://h").header("ocp-date") == "Tue, 03 Feb 2026 18:19:59 GMT"


@pytest.mark.parametrize("body", [None, b"", b'{"nodeReimageOption":"requeue"}'])
def test_shared_key_signed_reimage_verified_by_emulator_accepted(key_env: None, emulator: EmbeddedEmulator,
                                                                 body: bytes | None) -> None:
    target = HttpTarget(emulator.url, signer=make_signer(SHARED))
    answer = target.send(Request("pool-cs", "idle-2", query=Q, body=body))
    assert answer.status == 202, answer.body


def test_shared_key_signed_get_node_verified_200(key_env: None, emulator: EmbeddedEmulator) -> None:
    target = HttpTarget(emulator.url, signer=make_signer(SHARED))
    assert target.send(Request("", "", method="GET", query=Q, path="/pools/pool-cs/nodes/idle-1")).status == 200


def test_shared_key_wrong_key_refused_403(monkeypatch: pytest.MonkeyPatch, emulator: EmbeddedEmulator) -> None:
    monkeypatch.setenv(KEY_ENV, base64.b64encode(b"not-the-account-key" * 2).decode())
    answer = HttpTarget(emulator.url, signer=make_signer(SHARED)).send(Request("pool-cs", "idle-1", query=Q))
    assert answer.status == 403 and answer.json()["code"] == "AuthenticationFailed"


def test_signer_omit_directive_sends_no_authorization_missing_header_400(key_env: None,
                                                                        emulator: EmbeddedEmulator) -> None:
    request = Request("pool-cs", "idle-1", query=Q, headers=((AUTH_DIRECTIVE_HEADER, "omit"),))
    signed = make_signer(SHARED)(request, emulator.url)
    assert signed.header("Authorization") is None and signed.header(AUTH_DIRECTIVE_HEADER) is None
    answer = HttpTarget(emulator.url, signer=make_signer(SHARED)).send(request)
    assert answer.status == 400 and answer.json()["code"] == "MissingRequiredHeader"


def test_signer_bad_signature_directive_sends_unverifiable_signature_403(key_env: None,
                                                                        emulator: EmbeddedEmulator) -> None:
    request = Request("pool-cs", "idle-1", query=Q, headers=((AUTH_DIRECTIVE_HEADER, "bad-signature"),))
    signed = make_signer(SHARED)(request, emulator.url)
    assert signed.header("Authorization") == f"SharedKey {ACCOUNT}:{BAD_SIGNATURES[0]}"
    assert HttpTarget(emulator.url, signer=make_signer(SHARED)).send(request).status == 403


def test_signer_given_authorization_left_untouched(key_env: None) -> None:
    request = Request("pool-cs", "idle-1", query=Q, headers=(("Authorization", "SharedKey acct:abc="),))
    assert make_signer(SHARED)(request, "http://h") == request


def test_auth_none_signer_strips_directive_only() -> None:
    request = Request("pool-cs", "idle-1", query=Q, headers=((AUTH_DIRECTIVE_HEADER, "omit"), ("x", "1")))
    assert make_signer(Settings())(request, "http://h").headers == (("x", "1"),)


def test_bearer_signer_token_from_env_accepted(monkeypatch: pytest.MonkeyPatch, emulator: EmbeddedEmulator) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    target = HttpTarget(emulator.url, signer=make_signer(Settings(auth="bearer")))
    assert target.send(Request("pool-cs", "idle-3", query=Q)).status == 202
    assert redact_text(f"token={TOKEN}") == f"token={REDACTED}"


def test_bearer_signer_without_env_usage_error_names_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(UsageError, match=TOKEN_ENV):
        make_signer(Settings(auth="bearer"))


def test_shared_key_not_base64_usage_error_without_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "not base64 at all!")
    with pytest.raises(UsageError, match=KEY_ENV) as info:
        make_signer(SHARED)
    assert "not base64 at all" not in str(info.value)


def test_shared_key_registered_as_secret(key_env: None) -> None:
    make_signer(SHARED)
    assert KEY not in redact_text(f"the key is {KEY}")


@dataclass
class _Token:
    token: str
    expires_on: int


class _Credential:
    """Stands in for DefaultAzureCredential: counts get_token calls, hands out numbered tokens."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime, self.calls, self.scopes = lifetime, 0, []  # type: ignore[var-annotated]

    def get_token(self, scope: str) -> _Token:
        import time

        self.calls += 1
        self.scopes.append(scope)
        return _Token(f"entra-token-number-{self.calls:04d}", int(time.time()) + self.lifetime)


def test_entra_tokens_cached_until_near_expiry_batch_scope() -> None:
    long_lived, short_lived = _Credential(3600), _Credential(60)
    tokens, expiring = EntraTokens(long_lived), EntraTokens(short_lived)
    assert tokens() == tokens() == "entra-token-number-0001" and long_lived.calls == 1
    assert expiring() != expiring() and short_lived.calls == 2  # inside the refresh margin: renewed
    assert long_lived.scopes == ["https://batch.core.windows.net/.default"]
    assert "entra-token-number-0001" not in redact_text("x entra-token-number-0001 y")
