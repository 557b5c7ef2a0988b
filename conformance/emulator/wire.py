"""The wire format of the emulator: the Reply type, BatchError bodies, header value parsers."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ERROR_CONTENT_TYPE = "application/json;odata=minimalmetadata"
JSON_CONTENT_TYPE = "application/json;odata=minimalmetadata"
METADATA_SUFFIX = "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"

# Message texts: the live service's where recorded (see FACTS.md), else the documented user message.
MESSAGES: dict[str, str] = {
    "MissingRequiredHeader": "An HTTP header that's mandatory for this request is not specified.",
    "MissingRequiredQueryParameter": "A query parameter that's mandatory for this request is not specified.",
    "UnsupportedRequestVersion": "The specified request version is not supported.",
    "InvalidQueryParameterValue": "Value for one of the query parameters specified in the request URI is invalid.",
    "InvalidHeaderValue": "The value for one of the HTTP headers is not in the correct format.",
    "InvalidRequestBody": "The specified Request Body is not syntactically valid.",
    "InvalidPropertyValue": "The value provided for one of the properties in the request body is invalid.",
    "RequestBodyTooLarge": "The size of the request body exceeds the maximum size permitted.",
    "AuthenticationFailed": "Server failed to authenticate the request. Make sure the value of Authorization "
                            "header is formed correctly including the signature.",
    "PoolNotFound": "The specified pool does not exist.",
    "NodeNotFound": "The specified node does not exist.",
    "ResourceNotFound": "The specified resource does not exist.",
    "UnsupportedHttpVerb": "The resource doesn't support the specified HTTP verb.",
    "OperationNotValidOnNode": "The specified operation is not valid on the node.",
    "OperationInvalidForCurrentState": "The specified operation is not valid for the current state of the "
                                       "resource.",
    "NodeBeingReimaged": "The specified node is being reimaged.",
    "NodeBeingRebooted": "The specified node is being rebooted.",
    "NodeBeingCreated": "The specified node is being created.",
    "NodeBeingStarted": "The specified node is being started.",
    "NodeStateUnusable": "The state of the specified node is unusable.",
    "InternalError": "The server encountered an internal error. Please retry the request.",
}
STATUS_TEXT = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
               404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large",
               500: "Internal Server Error"}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# RFC 1123 date-time: one- or two-digit day; zone GMT (IMF-fixdate), UT/UTC or +0000/-0000.
_RFC1123 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                      r"(\d{4}) (\d{2}:\d{2}:\d{2}) (?:GMT|UTC|UT|[+-]0000)$")
_INT = re.compile(r"^[+-]?\d{1,12}$")
INT32 = (-(2**31), 2**31 - 1)


@dataclass
class Reply:
    """A response under construction; faults may alter it before it is serialised."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: dict[str, Any] | None = None  # the BatchError document, serialised at the end
    request_id: str = ""

    @property
    def code(self) -> str | None:
        """The BatchError code, if this is an error reply."""
        return None if self.error is None else self.error.get("code")

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def drop_header(self, name: str) -> None:
        """Remove every header of this name."""
        low = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != low]

    def set_header(self, name: str, value: str) -> None:
        """Replace a header's value (or add it)."""
        self.drop_header(name)
        self.headers.append((name, value))


def new_request_id() -> str:
    """A fresh request-id GUID."""
    return str(uuid.uuid4())


def service_time(now: datetime | None = None) -> str:
    """UTC time with seven fraction digits, as in the service's error messages."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def error_reply(status: int, code: str, base_url: str, *, values: list[tuple[str, str]] | None = None,
                message: str | None = None) -> Reply:
    """A BatchError reply exactly as the live service shapes it."""
    rid = new_request_id()
    text = message or MESSAGES.get(code, code)
    doc: dict[str, Any] = {
        "odata.metadata": base_url + METADATA_SUFFIX,
        "code": code,
        "message": {"lang": "en-US", "value": f"{text}\nRequestId:{rid}\nTime:{service_time()}"},
    }
    if values:
        doc["values"] = [{"key": k, "value": v} for k, v in values]
    headers = [("Content-Type", ERROR_CONTENT_TYPE), ("request-id", rid), ("DataServiceVersion", "3.0")]
    return Reply(status, headers, error=doc, request_id=rid)


def json_reply(doc: dict[str, Any]) -> Reply:
    """A 200 reply carrying a JSON document."""
    rid = new_request_id()
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("request-id", rid), ("DataServiceVersion", "3.0")]
    return Reply(200, headers, body=json.dumps(doc).encode(), request_id=rid)


def accepted_reply(data_service_id: str) -> Reply:
    """The 202 of a node action: empty body, request-id, DataServiceId, no ETag or Last-Modified."""
    rid = new_request_id()
    headers = [("request-id", rid), ("DataServiceId", data_service_id), ("DataServiceVersion", "3.0")]
    return Reply(202, headers, request_id=rid)


def serialise(reply: Reply) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, raw headers and body; errors always carry Content-Length (never chunked)."""
    body = reply.body
    if reply.error is not None:
        body = json.dumps(reply.error, separators=(",", ":")).encode()
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    if body or reply.error is not None or reply.status != 202:
        headers.append((b"content-length", str(len(body)).encode()))
    return reply.status, headers, body


def is_guid(value: str) -> bool:
    """A GUID in its plain 8-4-4-4-12 form (no braces)."""
    return bool(_GUID.match(value))


def is_rfc1123(value: str) -> bool:
    """An RFC 1123 (IMF-fixdate) date that names a real day."""
    m = _RFC1123.match(value)
    if not m:
        return False
    try:
        parsed = datetime.strptime(" ".join(m.group(2, 3, 4, 5)), "%d %b %Y %H:%M:%S")
    except ValueError:
        return False
    return parsed.strftime("%a") == m.group(1)  # .NET's RFC 1123 parser also checks the weekday


def parse_int32(value: str) -> int | None:
    """The integer, if the text is a decimal int32; else None."""
    if not _INT.match(value):
        return None
    number = int(value)
    return number if INT32[0] <= number <= INT32[1] else None
