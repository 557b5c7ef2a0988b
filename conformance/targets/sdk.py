"""The in-process SDK target: generated reimage requests sent through azure-batch 14.1.0 (the package's own
dependency), judged on the wire.

Each reimage Request is mapped onto ``BatchServiceClient.compute_node.reimage`` arguments (the generated
Content-Type through the call's ``custom_headers``). A transport adapter sees the request the SDK really
built, after signing, and turns it back into a Request (`wire_request`): that request, not the generated
one, is what the run judges and records (`last_sent`). When the SDK changed the input in anything the
oracle or a check reads (re-serialised the body, dropped, added or rewrote a header), nothing is sent: the
case is not applicable to this target (ChangedOnTheWire) and counted, like an input the SDK cannot express
at all (NotExpressible), in `not_applicable`. The response that came over the wire is returned as an
SdkResponse, which also says what the SDK did with it (returned, or raised which exception with which error
code) for the SDK-level requirements. GET requests (discovery, Get Node) go out as plain HTTP through the
inherited HttpTarget. Other releases run in their own environment and process (sdk_process.py).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from conformance.config import Settings
from conformance.models import HarnessError, Request, Response, UsageError
from conformance.rules import AUTH_BAD_SIGNATURE, AUTH_OMIT, OPTIONS, REIMAGE_PATH, parse_http_date
from conformance.spec import SdkRelease, sdk
from conformance.targets.auth import make_signer, shared_key_from_env, token_source
from conformance.targets.base import ChangedOnTheWire, NotExpressible
from conformance.targets.http import HttpTarget
from conformance.targets.sdk_call import (
    WRONG_KEY,
    SdkCall,
    SdkRefused,
    SdkResponse,
    json_body,
    option_of,
    plain_get,
    query_timeout,
    reimage_only,
    sdk_request,
    typed_headers,
)

RELEASE = "14.1.0"
SDK_LABEL = f"azure-batch {RELEASE}"
SDK_API_VERSION = sdk(RELEASE).api_version
# The headers the oracle and the checks read: the SDK must send them exactly as generated.
_JUDGED_HEADERS = ("client-request-id", "return-client-request-id", "ocp-date", "Content-Type", "Authorization")
# What signing adds to a request that names no Authorization (HttpTarget's signer adds the same): no change.
_SIGNING_HEADERS = frozenset({"authorization", "ocp-date"})
CHANGED, INEXPRESSIBLE = "changed by the SDK on the wire", "not expressible through the SDK"

__all__ = ["SDK_API_VERSION", "SDK_LABEL", "WRONG_KEY", "SdkCall", "SdkResponse", "SdkTarget", "sdk_arguments"]


def sdk_arguments(request: Request) -> dict[str, Any]:
    """The compute_node.reimage keyword arguments for a reimage Request; NotExpressible when there are none."""
    reimage_only(request, SDK_LABEL)
    crid, ret, date = typed_headers(request, SDK_LABEL)
    timeout = query_timeout(request, SDK_LABEL, SDK_API_VERSION, "timeout")
    option = option_of(json_body(request.body, SDK_LABEL), SDK_LABEL, OPTIONS)
    if request.body and option is None:
        raise NotExpressible(f"{SDK_LABEL} sends no body without a nodeReimageOption")
    options_type = _sdk("azure.batch.models", "ComputeNodeReimageOptions")
    # every argument explicit: the model's defaults (timeout=30, return_client_request_id=False) would be sent
    options = options_type(timeout=timeout, client_request_id=crid,
                           return_client_request_id=None if ret is None else ret == "true",
                           ocp_date=parse_http_date(date) if date is not None else None)
    # The SDK's own Content-Type carries "; charset=utf-8", which the oracle reads as another media type:
    # the generated one goes through custom_headers (the SDK's public way to set a header).
    ctype = request.header("Content-Type")
    return {"pool_id": request.pool_id, "node_id": request.node_id, "node_reimage_option": option,
            "compute_node_reimage_options": options,
            "custom_headers": {"Content-Type": ctype} if ctype is not None else None}


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
                   headers=tuple((k, v if isinstance(v, str) else v.decode("latin-1"))
                                 for k, v in prepared.headers.items()), body=body, path=path)


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
    """Sees the signed request the SDK built: refuses a mismatch unsent, keeps the raw response."""

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

    release: SdkRelease = sdk(RELEASE)

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

    def express(self, request: Request) -> None:
        """NotExpressible, sending nothing, when compute_node.reimage cannot send this request."""
        if not plain_get(request):
            try:
                sdk_arguments(sdk_request(request, SDK_LABEL)[0])
            except NotExpressible:
                self.not_applicable[INEXPRESSIBLE] += 1
                raise

    def _send_once(self, request: Request) -> Response:
        if plain_get(request):
            return super()._send_once(request)
        self.last_sent = None  # set by the adapter to the request the SDK built, once it goes on the wire
        try:
            return self._reimage(request)
        except NotExpressible as why:
            self.not_applicable[CHANGED if isinstance(why, ChangedOnTheWire) else INEXPRESSIBLE] += 1
            raise

    def _reimage(self, request: Request) -> Response:
        request, directive = sdk_request(request, SDK_LABEL)
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
            value = client.compute_node.reimage(**kwargs, raw=True)
            call = SdkCall(returned=True, value=type(value).__name__, release=RELEASE)
        except NotExpressible:
            raise
        except BatchErrorException as err:
            code = getattr(err.error, "code", None)
            call = SdkCall(False, type(err).__name__, code if isinstance(code, str) else None,
                           err.error is not None, exception_types=_bases(err), release=RELEASE)
        except ClientRequestError as err:
            raise HarnessError(f"{SDK_LABEL} could not reach {self.base_url}: {_cause(err)}") from None
        except Exception as err:  # the SDK's own failure modes are many: record which one
            call = SdkCall(False, type(err).__name__, detail=str(err)[:200], exception_types=_bases(err),
                           sent=self.captured is not None, release=RELEASE)
            if self.captured is None:
                raise SdkRefused(f"{SDK_LABEL} refused the input before sending ({type(err).__name__})",
                                 call) from None
        raw = self.captured
        if raw is None:
            raise HarnessError(f"{SDK_LABEL} returned without a response from {self.base_url}")
        return SdkResponse(raw.status_code, tuple(raw.headers.items()), raw.content,
                           time.monotonic() - started, sdk=call)


def _bases(err: Exception) -> tuple[str, ...]:
    return tuple(k.__name__ for k in type(err).__mro__)


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
