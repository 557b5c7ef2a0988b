"""Checks on every error answer (ERR-*) and on server errors (NO-SERVER-ERROR)."""

from __future__ import annotations

import re
from typing import Any

from conformance.checks._base import (
    TRANSIENT,
    batch_error,
    bodiless_answer,
    check,
    fail,
    is_transient,
    jsonish,
    not_applicable,
    require_guid_request_id,
)
from conformance.models import Exchange
from conformance.strategies import FAULTY_REQUESTS

MESSAGE_TAIL = re.compile(r"\r?\nRequestId:(?P<rid>[^\r\n]*)\r?\nTime:(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
                          r"(?:\.\d+)?(?:Z|[+-]00:?00))$")


def _error(ex: Exchange) -> None:
    if ex.response.status < 400:
        raise not_applicable(f"status {ex.response.status} is not an error")


def _error_body(ex: Exchange) -> None:
    """An error answer that can carry a body: the rules about its body apply."""
    _error(ex)
    bodiless = bodiless_answer(ex)
    if bodiless:
        raise not_applicable(f"{bodiless}: the error body rules do not apply")


@check("ERR-CONTENT-TYPE", offline=True, focus=FAULTY_REQUESTS, generic=True)
def error_content_type(ex: Exchange) -> None:
    """An error answers with media type application/json (parameters allowed)."""
    _error_body(ex)
    value = ex.response.header("Content-Type")
    media = (value or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise fail("ERR-CONTENT-TYPE", ex, f"Content-Type is {value!r}",
                   expected="application/json (e.g. 'application/json;odata=minimalmetadata')",
                   why="every error carries a BatchError JSON body (observed on the live service)")


def _lone_surrogate(doc: Any) -> str | None:
    """The first string (key or value) holding an unpaired surrogate (JSON allows the escape; no text holds it).
    Iterative: a parsed body may nest as deep as the parser allowed."""
    pending = [doc]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if any("\ud800" <= c <= "\udfff" for c in item):
                return item
        elif isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
    return None


def schema_problem(doc: Any) -> str | None:
    """What keeps a parsed body from being a BatchError, or None when it is one."""
    if (bad := _lone_surrogate(doc)) is not None:
        return (f"the string {bad!r} holds an unpaired surrogate escape: not Unicode text "
                "(RFC 8259 section 8.2; I-JSON, RFC 7493, forbids it)")
    if not isinstance(doc, dict):
        return f"the body is JSON {type(doc).__name__}, not an object"
    code = doc.get("code")
    if not isinstance(code, str) or not code:
        return f"code is {jsonish(code)}, not a non-empty string"
    message = doc.get("message")
    if not isinstance(message, dict):
        return f"message is {jsonish(message)}, not an object"
    for key in ("lang", "value"):
        if not isinstance(message.get(key), str):
            return f"message.{key} is {jsonish(message.get(key))}, not a string"
    values = doc.get("values")
    if values is None:  # optional; a null is read as absent
        return None
    if not isinstance(values, list):
        return f"values is {jsonish(values)}, not an array"
    for i, item in enumerate(values):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            return f"values[{i}] is {jsonish(item)}: not an object with a string key"
        if item.get("value") is not None and not isinstance(item["value"], str):
            return f"values[{i}].value is {jsonish(item['value'])}, not a string"
    return None


@check("ERR-BODY-SCHEMA", offline=True, focus=FAULTY_REQUESTS, generic=True)
def error_body_schema(ex: Exchange) -> None:
    """An error body is a BatchError: code, message {lang, value}, optional values [{key, value?}]."""
    _error_body(ex)
    try:
        doc = ex.response.json()
    except UnicodeDecodeError as err:
        problem: str | None = f"the body is not UTF-8 (byte {err.object[err.start:err.start + 1]!r} at {err.start})"
    except ValueError as err:
        problem = f"the body is not JSON ({err})"
    else:
        problem = schema_problem(doc)
    if problem:
        raise fail("ERR-BODY-SCHEMA", ex, problem,
                   expected='a BatchError {"code": "...", "message": {"lang": "...", "value": "..."}, '
                            '"values": [{"key": "...", "value": "..."}]}',
                   why="swagger: any status other than 202 returns BatchError")


@check("ERR-REQUEST-ID", offline=True, focus=FAULTY_REQUESTS, generic=True)
def error_request_id(ex: Exchange) -> None:
    """An error carries a GUID request-id header."""
    _error(ex)
    require_guid_request_id("ERR-REQUEST-ID", ex, "observed on every live error")


@check("ERR-MESSAGE-REQUEST-ID", offline=True, focus=FAULTY_REQUESTS, generic=True)
def error_message_names_request(ex: Exchange) -> None:
    """message.value ends with RequestId:<request-id> and Time:<ISO 8601 UTC>."""
    _error_body(ex)
    error = batch_error(ex.response)
    message = error.get("message") if error else None
    text = message.get("value") if isinstance(message, dict) else None
    if not isinstance(text, str):
        raise not_applicable("no BatchError message (ERR-BODY-SCHEMA decides that)")
    header = (ex.response.header("request-id") or "").strip()
    match = MESSAGE_TAIL.search(text)
    expected = f"message.value ending '\\nRequestId:{header or '<request-id>'}\\nTime:<UTC, ...Z>'"
    if match is None:
        raise fail("ERR-MESSAGE-REQUEST-ID", ex, f"message.value is {text[-120:]!r}", expected=expected,
                   why="observed on every live error: the message names its request and time")
    if header and match["rid"].strip().lower() != header.lower():
        raise fail("ERR-MESSAGE-REQUEST-ID", ex, f"message names RequestId {match['rid']!r} but the "
                   f"request-id header is {header!r}", expected=expected,
                   why="on the live service both name the same request")


@check("ERR-CODE-EXPECTED", offline=True, focus=FAULTY_REQUESTS)
def error_code_expected(ex: Exchange) -> None:
    """The error code is one the oracle lists for this input and status."""
    _error_body(ex)
    if is_transient(ex.response):
        raise not_applicable("a transient server answer")
    same = [o for o in ex.expectation.outcomes if o.status == ex.response.status]
    if not same or any(not o.codes for o in same):
        raise not_applicable("the oracle lists no codes for this status")
    error = batch_error(ex.response)
    if error is None:
        raise not_applicable("no BatchError code (ERR-BODY-SCHEMA decides that)")
    codes = sorted({c for o in same for c in o.codes})
    if error["code"] not in codes:
        raise fail("ERR-CODE-EXPECTED", ex, f"code {error['code']!r}", expected=f"one of {', '.join(codes)}",
                   why=ex.expectation.describe())


@check("NO-SERVER-ERROR", offline=True)
def no_server_error(ex: Exchange) -> None:
    """No 5xx, except 503 ServerBusy / 500 OperationTimedOut carrying a BatchError."""
    if is_transient(ex.response):
        raise not_applicable("a transient answer (ServerBusy, OperationTimedOut, 429) says nothing about the request")
    if ex.response.status < 500:
        return
    bodiless = bodiless_answer(ex)
    if bodiless and ex.response.status in TRANSIENT:
        raise not_applicable(f"{bodiless}, so it cannot show whether it is {TRANSIENT[ex.response.status]}")
    raise fail("NO-SERVER-ERROR", ex, f"server error {ex.response.status}",
               expected=ex.expectation.describe() if ex.expectation.outcomes else "no 5xx",
               why="a generated request must never break the server (only ServerBusy / OperationTimedOut "
                   "after retries are tolerated)")
