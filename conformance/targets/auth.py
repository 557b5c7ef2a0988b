"""Request signers for real targets: Shared Key, a bearer token, or Microsoft Entra ID via azure-identity.

A signer is ``(Request, base_url) -> Request``: it returns the request as it must go on the wire. It reads
and strips the generator's auth directive (header ``x-batch-conformance-auth``, see conformance.oracle):
``omit`` sends no Authorization (the missing-authorization cases), ``bad-signature`` sends a Shared Key signature that
can never verify (the bad-signature cases). A request that already carries Authorization is left alone.
Secrets are read only from the environment and registered for redaction before first use.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from conformance.config import KEY_ENV, TOKEN_ENV, Settings
from conformance.models import HarnessError, Request, UsageError
from conformance.redaction import register_secret
from conformance.rules import AUTH_BAD_SIGNATURE, AUTH_OMIT, BAD_SIGNATURES, auth_directive, strip_auth_directive
from conformance.targets import sharedkey

ENTRA_SCOPE = "https://batch.core.windows.net/.default"
TOKEN_REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached Entra token is renewed
Signer = Callable[[Request, str], Request]
TokenSource = Callable[[], str]
BODY_METHODS = ("POST", "PUT", "PATCH")


def shared_key_from_env() -> str:
    """The account key from BATCH_CONFORMANCE_ACCOUNT_KEY (registered as a secret); UsageError if unusable."""
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise UsageError(f"--auth sharedkey reads the key from the environment variable {KEY_ENV}, which is not set")
    register_secret(key)
    try:
        sharedkey.signature("", key)
    except ValueError:
        raise UsageError(f"{KEY_ENV} is not a base64 account key (copy it from the account's Keys page)") from None
    return key


def bearer_from_env() -> str:
    """The token from BATCH_CONFORMANCE_BEARER_TOKEN (registered as a secret); UsageError if unset."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(f"--auth bearer reads the token from the environment variable {TOKEN_ENV}, which is not set")
    register_secret(token)
    return token


class EntraTokens:
    """Tokens from azure.identity.DefaultAzureCredential for the Batch scope, cached until near expiry."""

    def __init__(self, credential: object | None = None) -> None:
        self._credential = credential
        self._token = ""
        self._expires = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        """A valid access token, fetching a new one when the cached one is about to expire."""
        with self._lock:
            if self._token and time.time() < self._expires - TOKEN_REFRESH_MARGIN:
                return self._token
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
            try:
                access = self._credential.get_token(ENTRA_SCOPE)  # type: ignore[attr-defined]
            except Exception as err:  # azure-identity raises several unrelated types
                raise HarnessError(f"Microsoft Entra ID: no token for {ENTRA_SCOPE} "
                                   f"({type(err).__name__}; see `az login` or AZURE_* variables)") from None
            register_secret(access.token)
            self._token, self._expires = access.token, float(access.expires_on)
            return self._token


def token_source(settings: Settings) -> TokenSource | None:
    """For bearer and entra auth, a function returning the current token; None for the other modes."""
    if settings.auth == "bearer":
        token = bearer_from_env()
        return lambda: token
    if settings.auth == "entra":
        return EntraTokens()
    return None


def ocp_date_now() -> str:
    """The current time as the SDK writes ocp-date (RFC 1123, GMT)."""
    return format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True)


def wire_headers(request: Request) -> list[tuple[str, str]]:
    """The request's headers plus Content-Length as HttpTarget will send it (signed by Shared Key)."""
    headers = list(request.headers)
    if request.header("Content-Length") is None:
        if request.body is not None:
            headers.append(("Content-Length", str(len(request.body))))
        elif request.method.upper() in BODY_METHODS:
            headers.append(("Content-Length", "0"))  # urllib3 adds it to a bodiless POST/PUT/PATCH
    return headers


def sign_shared_key(request: Request, base_url: str, account: str, key: str) -> Request:
    """The request with ocp-date (when absent, as azure-batch adds it) and a Shared Key Authorization."""
    if request.header("ocp-date") is None:
        request = replace(request, headers=(*request.headers, ("ocp-date", ocp_date_now())))
    path = urlsplit(base_url).path.rstrip("/") + request.path_and_query
    value = sharedkey.sign(request.method, path, wire_headers(request), account, key)
    return replace(request, headers=(*request.headers, ("Authorization", value)))


def bad_signature(request: Request, account: str) -> Request:
    """The request with a Shared Key Authorization that can never verify (recognisable when recorded)."""
    if request.header("ocp-date") is None:
        request = replace(request, headers=(*request.headers, ("ocp-date", ocp_date_now())))
    return replace(request, headers=(*request.headers,
                                     ("Authorization", f"{sharedkey.SCHEME} {account}:{BAD_SIGNATURES[0]}")))


def make_signer(settings: Settings) -> Signer:
    """The signer for settings.auth (none, sharedkey, bearer, entra); it always honours the auth directive."""
    account = settings.account_name or "conformance"
    sign: Callable[[Request, str], Request]
    if settings.auth == "sharedkey":
        if not settings.account_name:
            raise UsageError("--auth sharedkey needs --account-name")
        key = shared_key_from_env()
        sign = lambda r, url: sign_shared_key(r, url, account, key)  # noqa: E731
    elif settings.auth in ("bearer", "entra"):
        source = token_source(settings)
        assert source is not None
        sign = lambda r, url: replace(r, headers=(*r.headers, ("Authorization", f"Bearer {source()}")))  # noqa: E731
    elif settings.auth == "none":
        sign = lambda r, url: r  # noqa: E731
    else:
        raise UsageError(f"--auth {settings.auth!r}: choose none, sharedkey, entra or bearer")

    def signer(request: Request, base_url: str) -> Request:
        directive = auth_directive(request)
        request = strip_auth_directive(request) if directive is not None else request
        if directive == AUTH_OMIT or request.header("Authorization") is not None:
            return request
        if directive == AUTH_BAD_SIGNATURE:
            return bad_signature(request, account)
        return sign(request, base_url)

    return signer
