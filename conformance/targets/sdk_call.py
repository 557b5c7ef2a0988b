"""What both SDK targets share: what an SDK call did (SdkCall), how a generated request reads as SDK arguments,
and the rule that the request an SDK put on the wire is the generated one.

An SDK target judges the response that came over the wire. Before anything is sent it compares the request the
SDK built with the generated one in everything the checks look at; if they differ, nothing is sent and the example
is skipped (NotExpressible). When the SDK itself refuses an input before sending (raises), that is SdkRefused: a
NotExpressible for a run, and for diff a difference a caller would meet.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance.models import Request, Response
from conformance.rules import OPTION_KEY, auth_directive, parse_http_date, strip_auth_directive
from conformance.targets.base import NotExpressible

TYPED_HEADERS = ("client-request-id", "return-client-request-id", "ocp-date")
# A well-formed key no account has: how an SDK user produces a signature that does not verify.
WRONG_KEY = "d3Jvbmcta2V5LWZvci1iYXRjaC1jb25mb3JtYW5jZS0wMA=="
_HEADER_VALUE = re.compile(r"^\S[^\r\n]*$|^$")  # what requests itself accepts as a header value
_INT = re.compile(r"^-?[1-9][0-9]*$|^0$")


@dataclass(frozen=True)
class PollerView:
    """What begin_reimage_node's poller did when followed after a 202."""

    initial: str  # status() as the call returned
    status: str  # status() when the follow ended
    done: bool
    result: str | None  # the type of result() once done ('NoneType' as documented)
    polls: tuple[int, ...]  # the statuses of the Get Node answers the poller read
    waited: float
    error: str = ""  # what result() raised, if anything

    def describe(self) -> str:
        """'Succeeded after 1 poll (Get Node 200)'."""
        polls = ", ".join(str(s) for s in self.polls) or "none"
        end = self.status if self.done else f"still {self.status} after {self.waited:.1f} s"
        return f"{end} (Get Node answers: {polls})" + (f", result() raised {self.error}" if self.error else "")


@dataclass(frozen=True)
class SdkCall:
    """What the SDK did with the response: returned (what), or raised (which exception, with which error code)."""

    returned: bool
    exception: str | None = None  # the exception's class name
    error_code: str | None = None  # the code read where the release documents it (.error.code)
    has_error_model: bool = False
    detail: str = ""
    value: str | None = None  # the type name of what the call returned
    exception_types: tuple[str, ...] = ()  # the exception's class and its bases, by name
    poller: PollerView | None = None
    sent: bool = True  # whether the SDK put the request on the wire
    release: str = ""  # the azure-batch release that made the call

    def raised(self, type_name: str) -> bool:
        """Whether the exception is of that type (or a subclass)."""
        return self.exception == type_name or type_name in self.exception_types

    def describe(self) -> str:
        """'returned LROPoller (poller Succeeded)', 'raised ResourceNotFoundError (PoolNotFound)', ..."""
        if self.returned:
            poller = f" (poller {self.poller.status if self.poller.done else 'unfinished'})" if self.poller else ""
            return f"returned {self.value or 'normally'}{poller}"
        code = f" ({self.error_code})" if self.error_code else ""
        return f"raised {self.exception}{code}" + ("" if self.sent else " before sending")


@dataclass(frozen=True)
class SdkResponse(Response):
    """The wire response, plus what the SDK made of it."""

    sdk: SdkCall | None = None


class SdkRefused(NotExpressible):
    """The SDK raised before sending anything: the input is not expressible through it, and a caller meets this."""

    def __init__(self, message: str, call: SdkCall) -> None:
        super().__init__(message)
        self.call = call


def plain_get(request: Request) -> bool:
    """Whether the suite's own read (discovery, Get Node) goes out as plain HTTP rather than through the SDK."""
    return request.method.upper() == "GET" and request.path is not None and "/reimage" not in request.path


def sdk_request(request: Request, label: str) -> tuple[Request, str | None]:
    """The request without the suite's auth directive, and the directive (the SDK signs per it); NotExpressible
    for a request that carries its own Authorization."""
    directive = auth_directive(request)
    if directive is not None:
        request = strip_auth_directive(request)
    if request.header("Authorization") is not None:
        raise NotExpressible(f"{label} computes Authorization itself; it cannot send a given one")
    return request, directive


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def json_body(body: bytes | None, label: str) -> dict[str, Any] | None:
    """The body as the JSON object an SDK model serialises to (None for no body); NotExpressible otherwise."""
    if not body:
        return None
    try:
        doc = json.loads(body.decode("utf-8"), object_pairs_hook=_json_pairs)
    except (UnicodeDecodeError, ValueError):
        raise NotExpressible(f"{label} cannot send a body that is not JSON") from None
    if not isinstance(doc, dict):
        raise NotExpressible(f"{label} sends a body only as a JSON object")
    if json.dumps(doc).encode() != body:  # both releases serialise with json.dumps' defaults
        raise NotExpressible(f"{label} writes a body as json.dumps does, not with this spacing or size")
    return doc


def option_of(doc: dict[str, Any] | None, label: str, choices: Iterable[str] | None) -> str | None:
    """The nodeReimageOption a body names (None: none); NotExpressible for any other property or value (`choices`
    None: any string, as an open enum allows)."""
    if doc is None or not doc:
        return None
    allowed = set(choices) if choices is not None else None
    value = doc.get(OPTION_KEY)
    if set(doc) != {OPTION_KEY} or not isinstance(value, str) or (allowed is not None and value not in allowed):
        kinds = "one of " + ", ".join(sorted(allowed)) if allowed is not None else "a string"
        raise NotExpressible(f"{label} sends only {{\"{OPTION_KEY}\": {kinds}}}")
    return value


def typed_headers(request: Request, label: str) -> tuple[str | None, str | None, str | None]:
    """client-request-id, return-client-request-id and ocp-date as an SDK can set them; NotExpressible for any
    other header, a repeated one, or a value the SDK cannot produce."""
    names = [k.lower() for k, _ in request.headers]
    if len(names) != len(set(names)):
        raise NotExpressible(f"{label} sends each header once")
    extra = set(names) - {*TYPED_HEADERS, "content-type"}
    if extra:
        raise NotExpressible(f"{label} reimage cannot send header(s) {', '.join(sorted(extra))}")
    ctype = request.header("content-type")
    if ctype is not None and not ctype.lower().startswith("application/json"):
        raise NotExpressible(f"{label} always sends Content-Type application/json")
    crid, ret, date = (request.header(h) for h in TYPED_HEADERS)
    if crid is not None and not _HEADER_VALUE.match(crid):
        raise NotExpressible(f"{label} cannot send that client-request-id value")
    if ret not in (None, "true", "false"):
        raise NotExpressible(f"{label} sends return-client-request-id only as true or false")
    if date is not None and parse_http_date(date) is None:
        raise NotExpressible(f"{label} sends ocp-date only as an RFC 1123 date")
    return crid, ret, date


def query_timeout(request: Request, label: str, api_version: str, timeout_param: str) -> int | None:
    """The timeout argument; NotExpressible for a query the SDK would not build."""
    names = [k for k, _ in request.query]
    if len(names) != len(set(names)) or not set(names) <= {"api-version", timeout_param}:
        raise NotExpressible(f"{label} sends only api-version and {timeout_param}, once each")
    if request.query_value("api-version") != api_version:
        raise NotExpressible(f"{label} always sends api-version={api_version}")
    timeout = request.query_value(timeout_param)
    if timeout is None:
        return None
    if not _INT.match(timeout):
        raise NotExpressible(f"{label} sends {timeout_param} only as an integer")
    return int(timeout)


def reimage_only(request: Request, label: str) -> None:
    """NotExpressible unless the request is a POST on the reimage path (all an SDK's reimage call sends)."""
    if request.method.upper() != "POST" or request.path is not None:
        raise NotExpressible(f"{label} reimage sends only POST /pools/{{pool}}/nodes/{{node}}/reimage")


def wire_mismatch(request: Request, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes | None,
                  base_path: str) -> str | None:
    """What the request an SDK built differs in from the generated one (None when they agree)."""
    parts = urlsplit(url)
    if method.upper() != request.method.upper():
        return f"method {method}"
    if parts.path != base_path + request.target_path:
        return f"path {parts.path}"
    if sorted(parse_qsl(parts.query, keep_blank_values=True)) != sorted(request.query):
        return f"query {parts.query}"
    sent_headers = {k.lower(): v for k, v in headers}
    for name in TYPED_HEADERS:
        want = request.header(name)
        if want is not None and sent_headers.get(name) != want:
            return f"header {name}: {sent_headers.get(name)!r}"
    if bool(body) != bool(request.body):
        return "body presence"
    if body and body != request.body:  # byte for byte: size and spacing are judged too (the 1 MiB limit)
        return f"body {body[:80]!r}"
    return None
