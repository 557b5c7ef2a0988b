"""Azure Batch Shared Key signing and verification, canonicalised as azure-batch 14.1.0 signs.

The string to sign is: METHOD, then the values of eleven standard headers (empty when absent), then
every ``ocp-*`` header as ``name:value`` sorted by name, then ``/{account}{path}``, then each query
parameter with a non-empty value as ``\\nname:value`` sorted by name (first value, percent-decoded).
The path is signed as sent (still percent-encoded). Header names are compared lower-case.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

SIGNED_HEADERS = (
    "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
)
SCHEME = "SharedKey"

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k.lower(), v) for k, v in items]


def string_to_sign(method: str, path_and_query: str, headers: Headers, account: str) -> str:
    """The canonical string the signature covers."""
    pairs = _pairs(headers)
    first: dict[str, str] = {}
    for name, value in pairs:
        if value:
            first.setdefault(name, value)
    parts = [method.upper(), *(first.get(h, "") for h in SIGNED_HEADERS)]
    text = "\n".join(parts) + "\n"
    ocp = sorted((k, v) for k, v in pairs if "ocp-" in k and v)
    text += "".join(f"{k}:{v}\n" for k, v in ocp)
    url = urlsplit(path_and_query)
    text += f"/{account}{url.path}"
    query = parse_qs(url.query)
    for name in sorted(query):
        value = query[name][0]
        if value:
            text += f"\n{name}:{value}"
    return text


def signature(text: str, key_b64: str) -> str:
    """HMAC-SHA256 of text under the base64 key, base64-encoded."""
    try:
        key = base64.b64decode(key_b64.encode("utf-8"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the shared key is not valid base64") from None
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(method: str, url_path_and_query: str, headers: Headers, account: str, key_b64: str) -> str:
    """The Authorization header value (``SharedKey account:signature``) for a request."""
    text = string_to_sign(method, url_path_and_query, headers, account)
    return f"{SCHEME} {account}:{signature(text, key_b64)}"


def parse(authorization: str) -> tuple[str, str] | None:
    """(account, signature) from a ``SharedKey account:signature`` value, or None if malformed."""
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme != SCHEME:
        return None
    account, sep, sig = rest.strip().rpartition(":")
    if not sep or not account or not sig:
        return None
    return account, sig


def verify(method: str, url_path_and_query: str, headers: Headers, authorization: str,
           account: str, key_b64: str) -> bool:
    """Whether the Authorization value is a valid Shared Key signature by this account and key."""
    parsed = parse(authorization)
    if parsed is None or parsed[0] != account:
        return False
    expected = signature(string_to_sign(method, url_path_and_query, headers, account), key_b64)
    return hmac.compare_digest(expected.encode(), parsed[1].encode())
