"""Sanitizer placeholders: values a recorder replaced, which the suite must treat as unknown.

The Azure SDK test-proxy replaces secrets and identifiers before a recording is stored: its default
sanitizers write ``Sanitized`` (RecordedTestSanitizer.SanitizeValue) into the Authorization,
client-request-id and x-ms-client-request-id headers, into the first label of every host, and into body
keys such as ``$..containerUrl``, ``$..id`` or ``$..name``; recorders (this suite's own `--record` among
them) write ``REDACTED`` for credentials. A value holding either word is a placeholder. Other values those
sanitizers write are real values of their kind and are not placeholders: the empty GUID
``00000000-0000-0000-0000-000000000000`` (tenantId, clientId, ...), ``MA==`` and ``https://example.com``
(Location) read as what they are.

A placeholder hides the value the client sent or the service answered. Whether it decided a requirement is
found by asking again: the exchange is judged once as recorded and once with every placeholder replaced by
a stand-in, a well-formed value of its kind (a fresh GUID for an ID header, an RFC 1123 date for a date
header, the action URL for DataServiceId, a distinct opaque token otherwise; each occurrence its own
value). When the two verdicts differ, the placeholder decided it, and the requirement is undecided for that
exchange (traffic.command counts and lists it); when they agree, the recorded verdict stands.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from conformance.models import Request, Response

PLACEHOLDER_WORDS = ("Sanitized", "REDACTED")
_WORD = re.compile(r"(?<![A-Za-z0-9])(?:Sanitized|REDACTED)(?![A-Za-z0-9])")
STAND_IN_DATE = "Tue, 03 Feb 2026 18:19:59 GMT"
_GUID_HEADERS = frozenset({"client-request-id", "x-ms-client-request-id", "request-id", "x-ms-request-id"})
_DATE_HEADERS = frozenset({"ocp-date", "date", "last-modified", "if-modified-since", "if-unmodified-since"})
_URL_HEADERS = frozenset({"dataserviceid", "location"})
_NAMESPACE = uuid.UUID("6f1c3f0e-2b7a-4c55-9a51-0c6a3e2b9d10")  # stand-ins are the same on every run

Part = Literal["request header", "response header", "request body", "response body", "URL"]


@dataclass(frozen=True)
class Placeholder:
    """Where a placeholder sits (a header, a JSON path in a body, the host) and the value recorded there."""

    part: Part
    name: str
    value: str
    at: tuple[str | int, ...] = ()  # a body value's keys and indexes from the document's root

    def __str__(self) -> str:
        return f"{self.part} {self.name} = {self.value!r}"


def holds_placeholder(value: str) -> bool:
    """Whether a recorded value is, or contains, a sanitizer placeholder."""
    return _WORD.search(value) is not None


def _json_leaves(doc: Any, at: tuple[str | int, ...] = ()) -> Iterable[tuple[tuple[str | int, ...], str]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _json_leaves(value, (*at, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _json_leaves(value, (*at, i))
    elif isinstance(doc, str):
        yield at, doc


def _json_path(at: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in at)


def _json(body: bytes | None) -> Any:
    try:
        return json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None


def _in_body(part: Part, body: bytes | None) -> list[Placeholder]:
    doc = _json(body)
    if doc is not None:
        return [Placeholder(part, _json_path(at), value, at) for at, value in _json_leaves(doc)
                if holds_placeholder(value)]
    text = (body or b"").decode("utf-8", "replace")
    return [Placeholder(part, "(text)", text[:80])] if body and holds_placeholder(text) else []


def find(request: Request, response: Response, base_url: str) -> tuple[Placeholder, ...]:
    """Every placeholder of one recorded exchange: headers, JSON body values, the host."""
    found = [Placeholder("request header", k, v) for k, v in request.headers if holds_placeholder(v)]
    found += [Placeholder("response header", k, v) for k, v in response.headers if holds_placeholder(v)]
    found += _in_body("request body", request.body) + _in_body("response body", response.body)
    if holds_placeholder(base_url):
        found.append(Placeholder("URL", "host", base_url))
    return tuple(found)


# --- stand-ins ----------------------------------------------------------------------------------
def _stand_in(p: Placeholder, seed: str, request: Request, base_url: str) -> str:
    """A well-formed value of the placeholder's kind, distinct for each occurrence."""
    unique = uuid.uuid5(_NAMESPACE, f"{seed}|{p.part}|{p.name}")
    name = p.name.lower()
    if p.part.endswith("header"):
        if name in _GUID_HEADERS:
            return str(unique)
        if name in _DATE_HEADERS:
            return STAND_IN_DATE
        if name in _URL_HEADERS:
            return base_url + request.target_path
        if name == "authorization":
            return "SharedKey standin:" + base64.b64encode(unique.bytes).decode()
        if name == "etag":
            return "0x8D" + unique.hex[:13].upper()
    if p.part == "URL":
        return _WORD.sub(f"standin{unique.hex[:8]}", p.value)
    return f"standin-{unique.hex[:12]}"


def _headers(headers: tuple[tuple[str, str], ...], values: dict[Placeholder, str],
             part: Part) -> tuple[tuple[str, str], ...]:
    named = {p.name: v for p, v in values.items() if p.part == part}
    return tuple((k, named.get(k, v)) for k, v in headers)


def _set(doc: Any, at: tuple[str | int, ...], value: str) -> Any:
    """doc with the value at a path of keys and indexes replaced."""
    if not at:
        return value
    if isinstance(doc, dict) and isinstance(at[0], str):
        return {**doc, at[0]: _set(doc[at[0]], at[1:], value)}
    if isinstance(doc, list) and isinstance(at[0], int):
        return [*doc[:at[0]], _set(doc[at[0]], at[1:], value), *doc[at[0] + 1:]]
    return doc


def _body(body: bytes | None, values: dict[Placeholder, str], part: Part) -> bytes | None:
    chosen = {p: v for p, v in values.items() if p.part == part}
    if not chosen or body is None:
        return body
    doc = _json(body)
    if doc is None:  # a text body: every placeholder word in it takes the stand-in
        return _WORD.sub(next(iter(chosen.values())), body.decode("utf-8", "replace")).encode("utf-8")
    for p, value in chosen.items():
        doc = _set(doc, p.at, value)
    return json.dumps(doc).encode("utf-8")


def with_stand_ins(request: Request, response: Response, base_url: str, placeholders: Iterable[Placeholder],
                   seed: str) -> tuple[Request, Response, str]:
    """The exchange with these placeholders replaced by stand-ins (the rest as recorded)."""
    chosen = list(placeholders)
    host = next((_stand_in(p, seed, request, base_url) for p in chosen if p.part == "URL"), base_url)
    values = {p: host if p.part == "URL" else _stand_in(p, seed, request, host) for p in chosen}
    new_request = replace(request, headers=_headers(request.headers, values, "request header"),
                          body=_body(request.body, values, "request body"))
    new_response = replace(response, headers=_headers(response.headers, values, "response header"),
                           body=_body(response.body, values, "response body") or b"")
    return new_request, new_response, host
