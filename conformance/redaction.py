"""The single place secrets are removed before anything is recorded, reported or printed.

Three kinds: known secret shapes (Shared Key and bearer Authorization values, connection-string keys, the
userinfo of a URL), secret values registered for the whole run (the account key, tokens, a password given in
the --target URL), and the secrets one request carried, which a target may echo in its answer (a Shared Key
signature is different for every request, so it is scrubbed from that exchange's record: `echoable`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

REDACTED = "REDACTED"
SECRET_HEADERS = frozenset({"authorization", "ocp-apim-subscription-key", "x-ms-authorization-auxiliary",
                            "proxy-authorization", "cookie", "set-cookie"})
_SIGNATURE = r"(?:[A-Za-z0-9+=]|\\?/)+"  # base64, with the "/" that JSON may escape as "\/"
_PATTERNS = [
    re.compile(r"(?i)\b(SharedKey\s+[^:\s\"']+:)" + _SIGNATURE),
    re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9\-._~+/]{12,}=*"),
    re.compile(r"(?i)\b(AccountKey=)[^;\s\"']+"),
    re.compile(r"(?i)(\"?(?:authorization|account_key|shared_key|access_token|client_secret)\"?\s*[:=]\s*\"?)"
               r"[^\"',\s}]+"),
    re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#@\s\"'<>]+@"),  # userinfo: scheme://user:password@host
]
_USERINFO_REPLACEMENT = {4: REDACTED + "@"}
_extra_secrets: set[str] = set()
MIN_SECRET = 8  # shorter values would redact common words


def register_secret(value: str | None) -> None:
    """Remember a secret value (a shared key, a token) so that it is scrubbed wherever it appears."""
    if value and len(value) >= MIN_SECRET:
        _extra_secrets.add(value)


def register_url_secret(url: str | None) -> None:
    """Remember the password (or lone user token) of a URL's userinfo, so that an echo of it is scrubbed too."""
    if not url or "@" not in url:
        return
    parts = urlsplit(url.removeprefix("sdk+"))
    for value in (parts.password, parts.username if parts.password is None else None):
        if value:
            register_secret(value)
            register_secret(unquote(value))


# Every pattern above starts with one of these words: a text without any of them needs no regex pass
# (a 1 MiB body took 230 ms through the patterns, and a run records dozens of them).
_MARKERS = ("sharedkey", "bearer", "accountkey", "authorization", "account_key", "shared_key", "access_token",
            "client_secret", "://")


def redact_text(text: str, extra: Iterable[str] = ()) -> str:
    """Scrub known secret shapes, every registered secret value, and the `extra` values (see echoable)."""
    for secret in (*_extra_secrets, *extra):
        if secret in text:
            text = text.replace(secret, REDACTED)
        escaped = secret.replace("/", "\\/")  # as a JSON body may carry it
        if escaped != secret and escaped in text:
            text = text.replace(escaped, REDACTED)
    low = text.lower()
    if not any(marker in low for marker in _MARKERS):
        return text
    for i, pattern in enumerate(_PATTERNS):
        replacement = _USERINFO_REPLACEMENT.get(i, REDACTED)
        text = pattern.sub(lambda m, r=replacement: m.group(1) + r, text)  # type: ignore[misc]
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


def echoable(headers: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The secrets a request carried in its headers, as a target could echo them back: each secret header's
    value, its credential after the scheme, and a Shared Key signature after the account name."""
    found: list[str] = []
    for name, value in headers:
        if name.lower() not in SECRET_HEADERS:
            continue
        credential = value.split(None, 1)[-1].strip()
        signature = credential.rpartition(":")[2]
        found += [v for v in (value.strip(), credential, signature) if len(v) >= MIN_SECRET]
    return tuple(sorted(set(found), key=len, reverse=True))  # longest first: no half-scrubbed value is left


def redact_headers(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]],
                   extra: Iterable[str] = ()) -> tuple[tuple[str, str], ...]:
    """Headers with secret-bearing values replaced; other values scrubbed (registered secrets, `extra`)."""
    extra = tuple(extra)
    out = []
    for name, value in headers:
        if name.lower() in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out.append((name, f"{scheme} {REDACTED}".strip()))
        else:
            out.append((name, redact_text(value, extra)))
    return tuple(out)
