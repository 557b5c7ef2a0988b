"""Checks on the 202 answer and the client-request-id echo (RSP-*)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from conformance.checks._base import check, fail, is_reimage, not_applicable, require_guid_request_id
from conformance.checks.semantics import bad_header
from conformance.examples import Examples, headers_only
from conformance.models import Exchange
from conformance.rules import parse_http_date, reimage_target
from conformance.strategies import VALID_REQUESTS, focused


def _accepted(ex: Exchange) -> None:
    if ex.response.status != 202:
        raise not_applicable(f"status {ex.response.status}, not 202")
    if not is_reimage(ex.request):
        raise not_applicable("not a reimage request")


@check("RSP-202-STATUS", offline=True, focus=VALID_REQUESTS)
def status_is_202(ex: Exchange) -> None:
    """An accepted reimage answers exactly 202."""
    status = ex.response.status
    if not 200 <= status < 300 or not is_reimage(ex.request):
        raise not_applicable("not an accepted reimage")
    if status != 202:
        raise fail("RSP-202-STATUS", ex, f"accepted with {status}", expected="202 Accepted",
                   why="the operation declares only 202 for success (swagger ComputeNode_Reimage)")


@check("RSP-202-REQUEST-ID", offline=True, focus=VALID_REQUESTS)
def request_id_on_202(ex: Exchange) -> None:
    """A 202 carries a GUID request-id header."""
    _accepted(ex)
    require_guid_request_id("RSP-202-REQUEST-ID", ex, "swagger: request-id (uuid) on 202")


@check("RSP-202-DATASERVICEID", offline=True, focus=VALID_REQUESTS)
def dataserviceid_on_202(ex: Exchange) -> None:
    """A 202 carries a DataServiceId header."""
    _accepted(ex)
    value = ex.response.header("DataServiceId")
    if value is None or not value.strip():
        raise fail("RSP-202-DATASERVICEID", ex, f"DataServiceId header is {value!r}",
                   expected="a non-empty DataServiceId header", why="swagger 202 headers; the live service sends it")


@check("RSP-202-DATASERVICEID-URL", offline=True, focus=VALID_REQUESTS)
def dataserviceid_is_action_url(ex: Exchange) -> None:
    """DataServiceId is the action URL without a query."""
    _accepted(ex)
    value = (ex.response.header("DataServiceId") or "").strip()
    target = reimage_target(ex.request)
    if not value or target is None:
        raise not_applicable("no DataServiceId to compare")
    url = urlsplit(value)
    segments = [unquote(s) for s in url.path.rstrip("/").split("/")]
    pool, node = target
    # The service may name the pool as stored or as sent: pool IDs compare case-insensitively.
    good = (len(segments) >= 5 and segments[-5] == "pools" and segments[-4].lower() == pool.lower()
            and segments[-3] == "nodes" and segments[-2] == node and segments[-1] == "reimage" and not url.query)
    if not good:
        raise fail("RSP-202-DATASERVICEID-URL", ex, f"DataServiceId is {value!r}",
                   expected=f"the action URL without query, ending /pools/{pool}/nodes/{node}/reimage",
                   why="observed on the live service (reimage 202, 2025-06-01)")


def _crid_request(ex: Exchange) -> tuple[str | None, str | None]:
    return ex.request.header("client-request-id"), ex.request.header("return-client-request-id")


@check("RSP-CRID-ECHO", offline=True, focus=focused(headers="echo"), generic=True,
       examples=Examples((headers_only(("client-request-id", "9c4d50ee-2d56-4cd3-8152-34347dc9f2b0"),
                                       ("return-client-request-id", "true")),)))
def client_request_id_echoed(ex: Exchange) -> None:
    """return-client-request-id: true makes the response carry the sent client-request-id."""
    crid, ret = _crid_request(ex)
    if crid is None or ret != "true":
        raise not_applicable("client-request-id not sent with return-client-request-id: true")
    if any(f.requirement == bad_header.id for f in ex.expectation.faults) or ex.response.status >= 500:
        raise not_applicable("the request's own headers are refused, or a server error")
    echoed = ex.response.header("client-request-id")
    if echoed != crid:
        raise fail("RSP-CRID-ECHO", ex, f"client-request-id in the response is {echoed!r}",
                   expected=f"client-request-id: {crid}",
                   why="swagger: returned when return-client-request-id is true (202 and errors)")


@check("RSP-CRID-NOT-ECHOED", offline=True, generic=True)
def client_request_id_not_echoed(ex: Exchange) -> None:
    """Without return-client-request-id: true, no client-request-id comes back."""
    _, ret = _crid_request(ex)
    if ret not in (None, "false") or ex.response.status >= 500:
        raise not_applicable("echo was asked for (or the flag is not a clean boolean)")
    echoed = ex.response.header("client-request-id")
    if echoed is not None:
        raise fail("RSP-CRID-NOT-ECHOED", ex, f"client-request-id {echoed!r} came back unasked",
                   expected="no client-request-id header",
                   why="observed on the live service: never echoed when not asked for")


@check("RSP-202-LAST-MODIFIED", offline=True, focus=VALID_REQUESTS)
def last_modified_is_a_date(ex: Exchange) -> None:
    """Last-Modified, when present on a 202, is an RFC 1123 date."""
    _accepted(ex)
    value = ex.response.header("Last-Modified")
    if value is None:
        return  # absence conforms (the live service omits it on node actions): decided, not skipped
    if parse_http_date(value) is None:
        raise fail("RSP-202-LAST-MODIFIED", ex, f"Last-Modified is {value!r}",
                   expected="an RFC 1123 date such as 'Tue, 03 Feb 2026 18:19:59 GMT'",
                   why="swagger: Last-Modified is date-time-rfc1123")


@check("RSP-202-ETAG", offline=True, focus=VALID_REQUESTS)
def etag_not_empty(ex: Exchange) -> None:
    """ETag, when present on a 202, is a non-empty string."""
    _accepted(ex)
    value = ex.response.header("ETag")
    if value is None:
        return  # absence conforms (the live service omits it on node actions): decided, not skipped
    if not value.strip():
        raise fail("RSP-202-ETAG", ex, "ETag is empty", expected="a non-empty ETag, or none",
                   why="swagger: ETag is a string; an empty entity tag means nothing")


@check("RSP-202-EMPTY-BODY", offline=True, focus=VALID_REQUESTS)
def empty_202_body(ex: Exchange) -> None:
    """The 202 body is empty."""
    _accepted(ex)
    if ex.response.body.strip() or ex.response.note:
        size = f"{len(ex.response.body)}-byte" + (f" ({ex.response.note})" if ex.response.note else "")
        raise fail("RSP-202-EMPTY-BODY", ex, f"the 202 has a {size} body",
                   expected="an empty body", why="swagger declares no 202 schema; the live service sends none")
