"""Authentication for the emulator: Shared Key (as azure-batch signs) and static bearer tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from conformance.targets import sharedkey


@dataclass(frozen=True)
class AuthConfig:
    """Who may call the emulator: one Shared Key account and/or a set of accepted bearer tokens."""

    account_name: str
    account_key: str | None = None  # base64, as the Azure portal shows it
    bearer_tokens: frozenset[str] = field(default_factory=frozenset)

    def __repr__(self) -> str:  # never show the key or tokens
        return f"AuthConfig(account_name={self.account_name!r}, key={'set' if self.account_key else 'none'}, " \
               f"bearer_tokens={len(self.bearer_tokens)})"


@dataclass(frozen=True)
class AuthResult:
    """Why a request failed authentication: missing (400) or rejected (403), with a detail."""

    missing: bool
    detail: str = ""


def authenticate(config: AuthConfig, method: str, path_and_query: str,
                 headers: Sequence[tuple[str, str]], authorization: str | None) -> AuthResult | None:
    """None when the request is authenticated, else why not."""
    if not authorization:
        return AuthResult(missing=True)
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        if credential.strip() in config.bearer_tokens:
            return None
        return AuthResult(False, "The bearer token is not valid for this account.")
    if scheme == sharedkey.SCHEME:
        parsed = sharedkey.parse(authorization)
        if parsed is None:
            return AuthResult(False, "The Authorization header is not 'SharedKey account:signature'.")
        if parsed[0] != config.account_name or config.account_key is None:
            return AuthResult(False, f"Shared Key authentication is not enabled for account {parsed[0]!r}.")
        if sharedkey.verify(method, path_and_query, headers, authorization, config.account_name,
                            config.account_key):
            return None
        return AuthResult(False, "The MAC signature found in the HTTP request is not the same as any computed "
                                 "signature.")
    return AuthResult(False, "The authentication scheme is not supported.")
