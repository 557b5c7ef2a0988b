"""The single place secrets are removed before anything is recorded, reported or printed."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

REDACTED = "REDACTED"
SECRET_HEADERS = frozenset({"authorization", "ocp-apim-subscription-key", "x-ms-authorization-auxiliary",
                            "proxy-authorization", "cookie", "set-cookie"})
_PATTERNS = [
    re.compile(r"(?i)\b(SharedKey\s+[^:\s]+:)[A-Za-z0-9+/=]+"),
    re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9\-._~+/]{12,}=*"),
    re.compile(r"(?i)\b(AccountKey=)[^;\s\"']+"),
    re.compile(r"(?i)(\"?(?:authorization|account_key|shared_key|access_token|client_secret)\"?\s*[:=]\s*\"?)"
               r"[^\"',\s}]+"),
    # a URL's userinfo (user:password@, or a token as the user name): all of it, since either part may be secret
    re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@]+(?=@)"),
]
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value (a shared key, a token) so that it is scrubbed wherever it appears."""
    if value and len(value) >= 8:
        _extra_secrets.add(value)


# Every pattern above needs one of these markers: a text without any of them needs no regex pass
# (a 1 MiB body took 230 ms through the patterns, and a run records dozens of them).
_MARKERS = ("sharedkey", "bearer", "accountkey", "authorization", "account_key", "shared_key", "access_token",
            "client_secret", "://")


def redact_text(text: str) -> str:
    """Scrub known secret shapes and every registered secret value from a string."""
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    low = text.lower()
    if not any(marker in low for marker in _MARKERS):
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def redact_url(url: str) -> str:
    """A URL as reports may show it: its userinfo and every query value replaced, no fragment, and registered
    secrets scrubbed (the identity of a target: scheme, host, port and path stay readable)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = "&".join(f"{name}={REDACTED}" if value else name
                     for name, value in parse_qsl(parts.query, keep_blank_values=True))
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def redact_headers(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Headers with secret-bearing values replaced; other values scrubbed of registered secrets."""
    out = []
    for name, value in headers:
        if name.lower() in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out.append((name, f"{scheme} {REDACTED}".strip()))
        else:
            out.append((name, redact_text(value)))
    return tuple(out)
