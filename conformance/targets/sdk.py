"""The SDK target: generated reimage requests sent through azure-batch 14.1.0, judged on the wire.

Each reimage Request is mapped onto ``BatchServiceClient.compute_node.reimage`` arguments (the generated
Content-Type through the call's ``custom_headers``). A transport adapter sees the request the SDK really
built, after signing, and turns it back into a Request (`wire_request`): that request, not the generated
one, is what the run judges and records (`last_sent`). When the SDK changed the input in anything the
oracle or a check reads (re-serialised the body, dropped, added or rewrote a header, another casing),
nothing is sent: the case is not applicable to this target (ChangedOnTheWire) and counted, like an input
the SDK cannot express at all (NotExpressible), in `not_applicable`. The response that came over the wire
is returned as an SdkResponse, which also says what the SDK did with it (returned, or raised which
exception with which error code) for the SDK-level requirements. GET requests (discovery, Get Node) go
out as plain HTTP through the inherited HttpTarget.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from conformance.config import Settings
from conformance.models import HarnessError, Request, Response, UsageError
from conformance.rules import (
    AUTH_BAD_SIGNATURE,
    AUTH_OMIT,
    OPTION_KEY,
    OPTIONS,
    REIMAGE_PATH,
    auth_directive,
    parse_http_date,
    strip_auth_directive,
)
from conformance.targets.auth import make_signer, shared_key_from_env, token_source
from conformance.targets.base import ChangedOnTheWire, NotExpressible
from conformance.targets.http import HttpTarget

SDK_LABEL = "azure-batch 14.1.0"
SDK_API_VERSION = "2023-11-01.18.0"
# A well-formed key no account has: how an SDK user produces a signature that does not verify.
WRONG_KEY = "d3Jvbmcta2V5LWZvci1iYXRjaC1jb25mb3JtYW5jZS0wMA=="
_TYPED_HEADERS = ("client-request-id", "return-client-request-id", "ocp-date")
# The headers the oracle and the checks read: the SDK must send them exactly as generated.
_JUDGED_HEADERS = (*_TYPED_HEADERS, "Content-Type", "Authorization")
# What signing adds to a request that names no Authorization (HttpTarget's signer adds the same): no change.
_SIGNING_HEADERS = frozenset({"authorization", "ocp-date"})
CHANGED, INEXPRESSIBLE = "changed by the SDK on the wire", "not expressible through the SDK"
_HEADER_VALUE = re.compile(r"^\S[^\r\n]*$|^$")  # what requests itself accepts as a header value
_INT = re.compile(r"^-?[1-9][0-9]*$|^0$")


@dataclass(frozen=True)
class SdkCall:
    """What the SDK did with the response: returned normally, or raised (exception type, error code)."""

    returned: bool
    exception: str | None = None
    error_code: str | None = None
    has_error_model: bool = False
    detail: str = ""


@dataclass(frozen=True)
class SdkResponse(Response):
    """The wire response, plus what the SDK made of it."""

    sdk: SdkCall | None = None


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def _body_option(body: bytes | None) -> str | None:
    """The nodeReimageOption an SDK call needs to produce this body; NotExpressible otherwise."""
    if not body:
        return None
    try:
        doc = json.loads(body.decode("utf-8"), object_pairs_hook=_json_pairs)
    except (UnicodeDecodeError, ValueError):
        raise NotExpressible(f"{SDK_LABEL} cannot send a body that is not JSON") from None
    if not isinstance(doc, dict) or set(doc) != {OPTION_KEY} or doc[OPTION_KEY] not in OPTIONS:
        raise NotExpressible(f"{SDK_LABEL} sends only no body or {{\"{OPTION_KEY}\": one of "
                             f"{', '.join(OPTIONS)}}}")
    return str(doc[OPTION_KEY])


def _query_arguments(request: Request) -> int | None:
    """The timeout argument; NotExpressible for a query the SDK would not build."""
    names = [k for k, _ in request.query]
    if len(names) != len(set(names)) or not set(names) <= {"api-version", "timeout"}:
        raise NotExpressible(f"{SDK_LABEL} sends only api-version and timeout, once each")
    if request.query_value("api-version") != SDK_API_VERSION:
        raise NotExpressible(f"{SDK_LABEL} always sends api-version={SDK_API_VERSION}")
    timeout = request.query_value("timeout")
    if timeout is None:
        return None
    if not _INT.match(timeout):
        raise NotExpressible(f"{SDK_LABEL} sends timeout only as an integer")
    return int(timeout)


def sdk_arguments(request: Request) -> dict[str, Any]:
    """The compute_node.reimage keyword arguments for a reimage Request; NotExpressible when there are none."""
    if request.method.upper() != "POST" or request.path is not None:
        raise NotExpressible(f"{SDK_LABEL} reimage sends only POST /pools/{{pool}}/nodes/{{node}}/reimage")
    names = [k.lower() for k, _ in request.headers]
    if len(names) != len(set(names)):
        raise NotExpressible(f"{SDK_LABEL} sends each header once")
    extra = set(names) - {*_TYPED_HEADERS, "content-type"}
    if extra:
        raise NotExpressible(f"{SDK_LABEL} reimage cannot send header(s) {', '.join(sorted(extra))}")
    ctype = request.header("content-type")
    if ctype is not None and not ctype.lower().startswith("application/json"):
        raise NotExpressible(f"{SDK_LABEL} always sends Content-Type application/json")
    crid, ret, date = (request.header(h) for h in _TYPED_HEADERS)
    if crid is not None and not _HEADER_VALUE.match(crid):
        raise NotExpressible(f"{SDK_LABEL} (requests) cannot send that client-request-id value")
    if ret not in (None, "true", "false"):
        raise NotExpressible(f"{SDK_LABEL} sends return-client-request-id only as true or false")
    when = parse_http_date(date) if date is not None else None
    if date is not None and when is None:
        raise NotExpressible(f"{SDK_LABEL} sends ocp-date only as an RFC 1123 date")
    options_type = _sdk("azure.batch.models", "ComputeNodeReimageOptions")
    # every argument explicit: the model's defaults (timeout=30, return_client_request_id=False) would be sent
    options = options_type(timeout=_query_arguments(request), client_request_id=crid,
                           return_client_request_id=None if ret is None else ret == "true", ocp_date=when)
    # The SDK's own Content-Type carries "; charset=utf-8", which the oracle reads as another media type:
    # the generated one goes through custom_headers (the SDK's public way to set a header).
    custom = {"Content-Type": ctype} if ctype is not None else None
    return {"pool_id": request.pool_id, "node_id": request.node_id,
            "node_reimage_option": _body_option(request.body), "compute_node_reimage_options": options,
            "custom_headers": custom}


def wire_request(prepared: requests.PreparedRequest, base_path: str) -> Request:
    """The request as the SDK put it on the wire: method, path, query, every header, the body's bytes."""
    url = urlsplit(prepared.url or "")
    path = url.path.removeprefix(base_path) or "/"
    match = REIMAGE_PATH.match(path)
    pool, node = (unquote(match["pool"]), unquote(match["node"])) if match else ("", "")
    raw: Any = prepared.body
    body = raw.encode("utf-8") if isinstance(raw, str) else None if raw is None else bytes(raw)
    return Request(pool, node, method=(prepared.method or "").upper(),
                   query=tuple(parse_qsl(url.query, keep_blank_values=True)),
                   headers=tuple((k, _text(v)) for k, v in prepared.headers.items()), body=body, path=path)


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def wire_mismatch(request: Request, wire: Request) -> str | None:
    """How the SDK's wire request differs from the generated one in anything the oracle or a check reads
    (None when it does not): method, path, query, the body byte for byte, and the judged headers."""
    if wire.method != request.method.upper():
        return f"method {wire.method}"
    if wire.target_path != request.target_path:
        return f"path {wire.target_path}"
    if sorted(wire.query) != sorted(request.query):
        return f"query {urlencode(wire.query)}"
    sent, meant = wire.body or b"", request.body or b""
    if sent != meant:
        return f"body re-serialised: {len(meant)} bytes became {len(sent)} ({sent[:60]!r})"
    signs = request.header("Authorization") is None
    for name in _JUDGED_HEADERS:
        want, got = request.header(name), wire.header(name)
        if want == got or (want is None and signs and name.lower() in _SIGNING_HEADERS):
            continue
        if want is None:
            return f"header {name} added: {got!r}"
        return f"header {name} dropped" if got is None else f"header {name} rewritten: {want!r} became {got!r}"
    return None


class _WireAdapter(HTTPAdapter):
    """Sees the signed request the SDK built: keeps it as the request sent, refuses a changed one unsent,
    keeps the raw response."""

    def __init__(self, owner: SdkTarget) -> None:
        super().__init__()
        self.owner = owner

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.max_retries = Retry(0, read=False)  # msrest installs its own retrying policy: not here
        owner = self.owner
        if owner.pending is not None:
            wire = wire_request(request, owner.base_path)
            why = wire_mismatch(owner.pending, wire)
            if why is not None:
                raise ChangedOnTheWire(f"{SDK_LABEL} would send a different request ({why})")
            owner.last_sent = wire
        owner.pace()
        owner.sent += 1
        response = super().send(request, *args, **kwargs)
        owner.captured = response
        return response


class SdkTarget(HttpTarget):
    """Reimage through azure-batch 14.1.0's BatchServiceClient; GETs as plain HTTP."""

    name = "sdk"

    def __init__(self, base_url: str, settings: Settings) -> None:
        if settings.api_version != SDK_API_VERSION:
            raise UsageError(f"the sdk+ target drives {SDK_LABEL}, which speaks only api-version {SDK_API_VERSION}; "
                             f"run with --api-version {SDK_API_VERSION}")
        super().__init__(base_url, timeout=settings.request_timeout, rate=settings.rate,
                         signer=make_signer(settings))
        self.settings = settings
        self.base_path = urlsplit(self.base_url).path.rstrip("/")
        self.pending: Request | None = None
        self.captured: requests.Response | None = None
        # cases not applicable to this target, by why: the SDK changed the input, or cannot express it
        self.not_applicable: Counter[str] = Counter()
        self._call_lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def pace(self) -> None:
        """Wait for the rate limit (called by the adapter just before the wire)."""
        self._pace()

    def _credentials(self, kind: str) -> Any:
        shared_key_credentials = _sdk("azure.batch.batch_auth", "SharedKeyCredentials")
        if kind == "none" or (kind == "signed" and self.settings.auth == "none"):
            return _sdk("msrest.authentication", "Authentication")()
        if kind == "wrong-key":
            return shared_key_credentials(self.settings.account_name or "conformance", WRONG_KEY)
        if self.settings.auth == "sharedkey":
            return shared_key_credentials(self.settings.account_name, shared_key_from_env())
        source = token_source(self.settings)
        assert source is not None
        return _TokenCredentials(source)

    def _client(self, kind: str) -> Any:
        if kind not in self._clients:
            client = _sdk("azure.batch", "BatchServiceClient")(self._credentials(kind), self.base_url)
            config = client.config
            config.generate_client_request_id = False  # send exactly the generated client-request-id
            config.retry_policy.retries = 0  # HttpTarget.send retries 429/503 within its budget
            config.redirect_policy.allow = False
            config.connection.timeout = self.timeout
            adapter = _WireAdapter(self)

            def mount(session: requests.Session, *_: Any, **kwargs: Any) -> dict[str, Any]:
                if session.get_adapter("https://") is not adapter:
                    session.mount("http://", adapter)
                    session.mount("https://", adapter)
                return kwargs

            config.session_configuration_callback = mount
            self._clients[kind] = client
        return self._clients[kind]

    def _send_once(self, request: Request) -> Response:
        if request.method.upper() == "GET" and request.path is not None and "/reimage" not in request.path:
            return super()._send_once(request)
        self.last_sent = None  # set by the adapter to the request the SDK built, once it goes on the wire
        try:
            return self._reimage(request)
        except NotExpressible as why:
            self.not_applicable[CHANGED if isinstance(why, ChangedOnTheWire) else INEXPRESSIBLE] += 1
            raise

    def _reimage(self, request: Request) -> Response:
        directive = auth_directive(request)
        if directive is not None:
            request = strip_auth_directive(request)
        if request.header("Authorization") is not None:
            raise NotExpressible(f"{SDK_LABEL} computes Authorization itself; it cannot send a given one")
        kwargs = sdk_arguments(request)
        kind = {AUTH_OMIT: "none", AUTH_BAD_SIGNATURE: "wrong-key"}.get(directive or "", "signed")
        with self._call_lock:
            self.pending, self.captured = request, None
            try:
                return self._call(self._client(kind), kwargs)
            finally:
                self.pending, self.captured = None, None

    def _call(self, client: Any, kwargs: dict[str, Any]) -> SdkResponse:
        from azure.batch.models import BatchErrorException
        from msrest.exceptions import ClientRequestError

        started = time.monotonic()
        try:
            client.compute_node.reimage(**kwargs, raw=True)
            call = SdkCall(returned=True)
        except NotExpressible:
            raise
        except BatchErrorException as err:
            code = getattr(err.error, "code", None)
            call = SdkCall(False, type(err).__name__, code if isinstance(code, str) else None,
                           err.error is not None)
        except ClientRequestError as err:
            raise HarnessError(f"{SDK_LABEL} could not reach {self.base_url}: {_cause(err)}") from None
        except Exception as err:  # the SDK's own failure modes are many: record which one
            if self.captured is None:
                raise NotExpressible(f"{SDK_LABEL} refused the input before sending "
                                     f"({type(err).__name__})") from None
            call = SdkCall(False, type(err).__name__, detail=str(err)[:200])
        raw = self.captured
        if raw is None:
            raise HarnessError(f"{SDK_LABEL} returned without a response from {self.base_url}")
        return SdkResponse(raw.status_code, tuple(raw.headers.items()), raw.content,
                           time.monotonic() - started, sdk=call)


def _sdk(module: str, name: str) -> Any:
    """An azure-batch / msrest attribute, imported on first use (the SDK is untyped and slow to import)."""
    return getattr(importlib.import_module(module), name)


def _cause(err: Exception) -> str:
    inner = getattr(err, "inner_exception", None) or err
    return "timed out" if isinstance(inner, requests.Timeout) else type(inner).__name__


class _TokenCredentials:
    """msrest credentials that put a bearer token (fetched per request) on the SDK's session."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def signed_session(self, session: requests.Session | None = None) -> requests.Session:
        """The SDK's session with bearer authentication attached."""
        session = session or requests.Session()
        session.auth = _BearerAuth(self._source)
        return session


class _BearerAuth(requests.auth.AuthBase):
    def __init__(self, source: Any) -> None:
        self._source = source

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._source()}"
        return request
