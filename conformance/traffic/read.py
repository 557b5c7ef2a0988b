"""Read recorded traffic as users have it: HAR 1.2, JSON exchanges, and Azure SDK test-proxy recordings.

Three shapes, told apart by their top level:

- HAR 1.2 (``{"log": {"entries": [...]}}``), as browsers, proxies and `run --record` write it;
- JSON exchanges, one or an array: ``{"request": {"method", "uri", "headers", "body" | "body_json"},
  "response": {"status", "headers", "body" | "body_json"}}`` (the shape of the vendored live samples);
- Azure SDK test-proxy recordings (``{"Entries": [...]}``, the files the Azure SDKs keep in
  Azure/azure-sdk-assets): each entry has RequestUri, RequestMethod, RequestHeaders, RequestBody,
  StatusCode, ResponseHeaders, ResponseBody. A header value is a string or a list of strings. A body is
  read as the test-proxy itself reads it back (RecordEntry.DeserializeBody): null is no body; for a text
  media type (JSON, XML, text/*, form data, or charset=utf-8) a JSON value is the body's JSON, a string is
  its text and an array of strings is its lines; otherwise a string is base64 and an empty array an empty
  body.

Every exchange also lists the sanitizer placeholders found in it (placeholders.find), so that a value a
recorder replaced is treated as unknown, never as the value the client sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from conformance.models import Request, Response, UsageError
from conformance.redaction import register_secret
from conformance.rules import REIMAGE_PATH
from conformance.traffic.placeholders import Placeholder, find, holds_placeholder


@dataclass(frozen=True)
class Recorded:
    """One recorded exchange, where it was read from, and the sanitizer placeholders in it."""

    location: str
    file: str
    request: Request
    response: Response
    base_url: str
    url: str
    placeholders: tuple[Placeholder, ...] = ()

    @property
    def api_version(self) -> str | None:
        """The api-version the request's URL names, if any."""
        return self.request.query_value("api-version")

    @property
    def is_reimage_path(self) -> bool:
        """Whether the request addresses the reimage path (with any method)."""
        return REIMAGE_PATH.match(self.request.target_path) is not None


class _EntryError(Exception):
    """An entry that cannot be read; turned into a UsageError naming file and entry."""


def _headers(raw: Any, what: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for h in raw:
            if isinstance(h, dict) and "name" in h:
                items.append((h["name"], h.get("value", "")))
            elif isinstance(h, list | tuple) and len(h) == 2:
                items.append((h[0], h[1]))
            else:
                raise _EntryError(f"{what} headers: {h!r} is not a {{name, value}} pair")
    else:
        raise _EntryError(f"{what} headers must be an object or a list, not {type(raw).__name__}")
    for name, value in items:
        if not isinstance(name, str) or name.startswith(":"):
            continue  # HTTP/2 pseudo-headers are not headers of the exchange
        values = value if isinstance(value, list) else [value]  # several values of one header: one line
        pairs.append((name, ", ".join("" if v is None else str(v) for v in values)))
    return tuple(pairs)


def _body(part: dict[str, Any], what: str) -> bytes | None:
    if "body_json" in part:
        return json.dumps(part["body_json"]).encode("utf-8")
    body = part.get("body")
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, dict | list):
        return json.dumps(body).encode("utf-8")
    raise _EntryError(f"{what} body must be a string, null or JSON, not {type(body).__name__}")


def _har_content(content: Any, what: str) -> bytes | None:
    if not isinstance(content, dict) or content.get("text") is None:
        return None
    text = content["text"]
    if not isinstance(text, str):
        raise _EntryError(f"{what} text must be a string")
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            raise _EntryError(f"{what} text is not valid base64") from None
    return text.encode("utf-8")


def _is_text(headers: tuple[tuple[str, str], ...]) -> bool:
    """The test-proxy's own test (ContentTypeUtilities.TryGetTextEncoding): is this body stored as text?"""
    values = [v for k, v in headers if k.lower() == "content-type"]
    if len(values) != 1:
        return False
    ctype = values[0].lower()
    return ("; charset=utf-8" in ctype or ctype.startswith(("text/", "application/json",
                                                             "application/x-www-form-urlencoded"))
            or ctype.endswith(("json", "xml", "-urlencoded")))


def _proxy_body(raw: Any, headers: tuple[tuple[str, str], ...], what: str) -> bytes | None:
    """A test-proxy RequestBody / ResponseBody as the proxy reads it back."""
    if raw is None:
        return None
    if _is_text(headers):
        if isinstance(raw, list):
            if not all(isinstance(line, str) for line in raw):
                raise _EntryError(f"{what}: an array body holds the text's lines, as strings")
            return "".join(raw).encode("utf-8")
        if isinstance(raw, str):
            return raw.encode("utf-8")
        return json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if isinstance(raw, list):
        return b""  # how the proxy writes an empty body
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _EntryError(f"{what}: a body of a non-text media type is base64, and this is not") from None
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode("utf-8")  # JSON without a type


def _register_credentials(headers: tuple[tuple[str, str], ...]) -> None:
    """Secrets found in the input are scrubbed wherever they appear again (bodies, messages)."""
    for name, value in headers:
        if name.lower() == "authorization" and not holds_placeholder(value):  # a placeholder hides no secret
            credential = value.split(" ", 1)[-1].strip()
            register_secret(credential)
            register_secret(credential.rsplit(":", 1)[-1])  # the Shared Key signature alone


def _exchange(file: str, index: int, method: Any, url: Any, req_headers: tuple[tuple[str, str], ...],
              req_body: bytes | None, status: Any, resp_headers: tuple[tuple[str, str], ...],
              resp_body: bytes | None) -> Recorded:
    if not isinstance(method, str) or not method:
        raise _EntryError("request.method is missing")
    if not isinstance(url, str) or not url:
        raise _EntryError("request URL is missing")
    if isinstance(status, bool) or not isinstance(status, int | str) or not str(status).isdigit():
        raise _EntryError(f"response.status {status!r} is not an HTTP status")
    _register_credentials(req_headers)
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    match = REIMAGE_PATH.match(parts.path)
    pool, node = (unquote(match["pool"]), unquote(match["node"])) if match else ("", "")
    request = Request(pool, node, method=method.upper(),
                      query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
                      headers=req_headers, body=req_body, path=parts.path or "/")
    response = Response(int(status), resp_headers, resp_body or b"")
    return Recorded(f"{file} entry {index}", file, request, response, base, url, find(request, response, base))


def _entry_parts(entry: Any, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict) \
            or not isinstance(entry.get("response"), dict):
        raise _EntryError(f"{what} needs request and response objects")
    return entry["request"], entry["response"]


def _from_har_entry(file: str, index: int, entry: Any) -> Recorded:
    req, resp = _entry_parts(entry, "a HAR entry")
    return _exchange(file, index, req.get("method"), req.get("url"), _headers(req.get("headers"), "request"),
                     _har_content(req.get("postData"), "request.postData"), resp.get("status"),
                     _headers(resp.get("headers"), "response"), _har_content(resp.get("content"), "response.content"))


def _from_sample(file: str, index: int, entry: Any) -> Recorded:
    req, resp = _entry_parts(entry, "an exchange")
    return _exchange(file, index, req.get("method"), req.get("uri", req.get("url")),
                     _headers(req.get("headers"), "request"), _body(req, "request"), resp.get("status"),
                     _headers(resp.get("headers"), "response"), _body(resp, "response"))


def _from_test_proxy(file: str, index: int, entry: Any) -> Recorded:
    if not isinstance(entry, dict):
        raise _EntryError("a test-proxy entry is an object with RequestUri, RequestMethod, StatusCode, ...")
    req_headers = _headers(entry.get("RequestHeaders"), "RequestHeaders")
    resp_headers = _headers(entry.get("ResponseHeaders"), "ResponseHeaders")
    return _exchange(file, index, entry.get("RequestMethod"), entry.get("RequestUri"), req_headers,
                     _proxy_body(entry.get("RequestBody"), req_headers, "RequestBody"), entry.get("StatusCode"),
                     resp_headers, _proxy_body(entry.get("ResponseBody"), resp_headers, "ResponseBody"))


def _load(name: str) -> Any:
    try:
        return json.loads(Path(name).read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"cannot read traffic file {name}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"traffic file {name} is not UTF-8 text") from None
    except ValueError as err:
        raise UsageError(f"traffic file {name} is not JSON: {err}") from None


def read_traffic(path: str | Path) -> list[Recorded]:
    """Every exchange in one file; UsageError naming the file (and entry) when it cannot be read."""
    name = str(path)
    doc = _load(name)
    if isinstance(doc, dict) and isinstance(doc.get("log"), dict):
        entries, reader = doc["log"].get("entries"), _from_har_entry
        if not isinstance(entries, list):
            raise UsageError(f"traffic file {name}: HAR log has no entries array")
    elif isinstance(doc, dict) and "Entries" in doc:
        entries, reader = doc["Entries"], _from_test_proxy
        if not isinstance(entries, list):
            raise UsageError(f"traffic file {name}: a test-proxy recording's Entries must be an array")
    elif isinstance(doc, list):
        entries, reader = doc, _from_sample
    elif isinstance(doc, dict) and "request" in doc:
        entries, reader = [doc], _from_sample
    else:
        raise UsageError(f"traffic file {name}: neither a HAR log, a test-proxy recording ({{\"Entries\": "
                         '[...]}) nor exchanges ({"request": ..., "response": ...} or an array of them)')
    out = []
    for index, entry in enumerate(entries):
        try:
            out.append(reader(name, index, entry))
        except (_EntryError, TypeError, ValueError, AttributeError) as err:
            raise UsageError(f"traffic file {name}: entry {index}: {err}") from None
    return out
